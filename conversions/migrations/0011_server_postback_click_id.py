from django.db import migrations, models

INDEX = models.Index(fields=["click_id"], condition=~models.Q(click_id=""), name="server_postback_click_id")


def _concurrently(schema_editor) -> dict:
    # Built concurrently on PostgreSQL: advertiser postbacks keep being logged meanwhile.
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def create_click_id_index(apps, schema_editor):
    schema_editor.add_index(
        apps.get_model("conversions", "ServerPostback"), INDEX, **_concurrently(schema_editor)
    )


def drop_click_id_index(apps, schema_editor):
    schema_editor.remove_index(
        apps.get_model("conversions", "ServerPostback"), INDEX, **_concurrently(schema_editor)
    )


class Migration(migrations.Migration):
    # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("conversions", "0010_pending_conversions_index")]

    operations = [
        # A constant default in the database adds the column without rewriting the table, and
        # lets processes still running the previous code go on logging hits while it deploys.
        migrations.AddField(
            model_name="serverpostback",
            name="click_id",
            field=models.CharField(blank=True, db_default="", default="", max_length=24),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="serverpostback", index=INDEX)],
            database_operations=[migrations.RunPython(create_click_id_index, drop_click_id_index)],
        ),
    ]
