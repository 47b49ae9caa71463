"""The index of the conversions by the click id they kept (conversions.models.KeptClickId): how an
advertiser postback naming a click no longer kept finds its conversions."""

from django.db import migrations, models

from conversions.models import KeptClickId

INDEX = models.Index(KeptClickId(), name="conversion_kept_click_id")


def create_kept_click_id_index(apps, schema_editor):
    model = apps.get_model("conversions", "Conversion")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(model, INDEX)
        return
    # Built concurrently: conversions keep being recorded meanwhile. A build that failed before
    # leaves an invalid index of that name behind, dropped first so that this can run again; one
    # built whole (the migration stopped before it was recorded) is kept.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [INDEX.name])
        found = cursor.fetchone()
    if found and found[0]:
        return
    if found:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY {schema_editor.quote_name(INDEX.name)}")
    schema_editor.add_index(model, INDEX, concurrently=True)
    # Statistics of the indexed expression now, for the planner, rather than at the table's next
    # autoanalyze, which on a large table may be days away (it reads a sample, not the whole
    # table). Not of an empty table: planned as empty while its first rows come, each lookup of a
    # new installation would read the whole table until autoanalyze runs (bench.ingest: 0.19
    # against 0.48).
    table = schema_editor.quote_name(model._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
        holds_rows = cursor.fetchone()[0]
    if holds_rows:
        schema_editor.execute(f"ANALYZE {table}")


def drop_kept_click_id_index(apps, schema_editor):
    model = apps.get_model("conversions", "Conversion")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, INDEX)
        return
    schema_editor.remove_index(model, INDEX, concurrently=True)


class Migration(migrations.Migration):
    # CREATE and DROP INDEX CONCURRENTLY cannot run inside a transaction: this migration holds
    # nothing else, so a failure leaves no half-applied change behind but the index.
    atomic = False

    dependencies = [("conversions", "0014_inbound_log_partitions")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="conversion", index=INDEX)],
            database_operations=[migrations.RunPython(create_kept_click_id_index, drop_kept_click_id_index)],
        ),
    ]
