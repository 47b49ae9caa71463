import django.db.models.deletion
from django.db import migrations, models

INDEX = "server_postback_offer"
FOREIGN_KEY = "conversions_serverpostback_offer_id_fk"


def _offer_field():
    return models.ForeignKey(
        blank=True,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.SET_NULL,
        related_name="+",
        to="offers.offer",
    )


def add_offer(apps, schema_editor):
    """The column, then its foreign key and index, without holding up the log's writers: on
    PostgreSQL the key is added NOT VALID and validated apart (a check that locks no writes, where
    adding a checked key would lock the table for a scan of every row) and the index is built
    concurrently."""
    table, execute = '"conversions_serverpostback"', schema_editor.execute
    references = 'REFERENCES "offers_offer" ("id") DEFERRABLE INITIALLY DEFERRED'
    if schema_editor.connection.vendor != "postgresql":
        execute(f'ALTER TABLE {table} ADD COLUMN "offer_id" bigint NULL {references}')
        execute(f'CREATE INDEX "{INDEX}" ON {table} ("offer_id", "received_at")')
        return
    execute(f'ALTER TABLE {table} ADD COLUMN "offer_id" bigint NULL')
    execute(
        f'ALTER TABLE {table} ADD CONSTRAINT "{FOREIGN_KEY}" FOREIGN KEY ("offer_id") {references} NOT VALID'
    )
    execute(f'ALTER TABLE {table} VALIDATE CONSTRAINT "{FOREIGN_KEY}"')
    execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{INDEX}" ON {table} ("offer_id", "received_at")')


def remove_offer(apps, schema_editor):
    schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}"')
    schema_editor.execute('ALTER TABLE "conversions_serverpostback" DROP COLUMN "offer_id"')


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("conversions", "0008_conversion_visitor_context"),
        ("offers", "0004_targeting_and_country_payouts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(model_name="serverpostback", name="offer", field=_offer_field()),
                migrations.AddIndex(
                    model_name="serverpostback",
                    index=models.Index(fields=["offer", "received_at"], name=INDEX),
                ),
            ],
            database_operations=[migrations.RunPython(add_offer, remove_offer)],
        ),
    ]
