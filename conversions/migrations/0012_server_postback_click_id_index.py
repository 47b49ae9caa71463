from django.db import migrations, models

INDEX = models.Index(fields=["click_id"], condition=~models.Q(click_id=""), name="server_postback_click_id")


def create_click_id_index(apps, schema_editor):
    model = apps.get_model("conversions", "ServerPostback")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(model, INDEX)
        return
    # Built concurrently: advertiser postbacks keep being logged meanwhile. A build that failed
    # before leaves an invalid index of that name behind, dropped first so that this can run again.
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(INDEX.name)}")
    schema_editor.add_index(model, INDEX, concurrently=True)


def drop_click_id_index(apps, schema_editor):
    model = apps.get_model("conversions", "ServerPostback")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, INDEX)
        return
    schema_editor.remove_index(model, INDEX, concurrently=True)


class Migration(migrations.Migration):
    # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction: this migration holds
    # nothing else, so a failure leaves no half-applied change behind but the index.
    atomic = False

    dependencies = [("conversions", "0011_server_postback_click_id")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="serverpostback", index=INDEX)],
            database_operations=[migrations.RunPython(create_click_id_index, drop_click_id_index)],
        ),
    ]
