from django.db import migrations, models

# offers.choices.ConversionStatus.PENDING is 2.
INDEX = models.Index(
    fields=["created_at"], condition=models.Q(status=2, is_test=False), name="conversion_pending_created"
)


def _concurrently(schema_editor) -> dict:
    # Built concurrently on PostgreSQL: conversions keep being written meanwhile.
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def create_pending_index(apps, schema_editor):
    schema_editor.add_index(
        apps.get_model("conversions", "Conversion"), INDEX, **_concurrently(schema_editor)
    )


def drop_pending_index(apps, schema_editor):
    schema_editor.remove_index(
        apps.get_model("conversions", "Conversion"), INDEX, **_concurrently(schema_editor)
    )


class Migration(migrations.Migration):
    # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("conversions", "0009_inbound_log_offer")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="conversion", index=INDEX)],
            database_operations=[migrations.RunPython(create_pending_index, drop_pending_index)],
        ),
    ]
