import django.db.models.deletion
from django.db import migrations, models

# The index Django made for the affiliate foreign key. conversion_affiliate_created
# (affiliate, created_at) serves every lookup by affiliate, so this one only slowed inserts.
AFFILIATE_INDEX = "conversions_conversion_affiliate_id_0343ea69"


def drop_affiliate_index(apps, schema_editor):
    # Django's own AlterField would drop and re-add the foreign key, which validates the
    # whole table under lock; dropping the index alone, concurrently on PostgreSQL, keeps
    # postbacks flowing while it runs.
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{AFFILIATE_INDEX}"')


def create_affiliate_index(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f'CREATE INDEX {concurrently}IF NOT EXISTS "{AFFILIATE_INDEX}" '
        'ON "conversions_conversion" ("affiliate_id")'
    )


class Migration(migrations.Migration):
    # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("conversions", "0004_alter_conversionevent_source"),
        ("offers", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="conversion",
                    name="affiliate",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="conversions",
                        to="offers.affiliate",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_affiliate_index, create_affiliate_index)],
        ),
    ]
