import django.db.models.deletion
from django.db import migrations, models

INDEX = "server_postback_offer"


def create_offer_index(apps, schema_editor):
    # Built concurrently on PostgreSQL: the log keeps taking advertiser postbacks meanwhile.
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f'CREATE INDEX {concurrently}IF NOT EXISTS "{INDEX}" '
        'ON "conversions_serverpostback" ("offer_id", "received_at")'
    )


def drop_offer_index(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{INDEX}"')


class Migration(migrations.Migration):
    # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("conversions", "0008_conversion_visitor_context"),
        ("offers", "0004_targeting_and_country_payouts"),
    ]

    operations = [
        migrations.AddField(
            model_name="serverpostback",
            name="offer",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="offers.offer",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="serverpostback",
                    index=models.Index(fields=["offer", "received_at"], name=INDEX),
                ),
            ],
            database_operations=[migrations.RunPython(create_offer_index, drop_offer_index)],
        ),
    ]
