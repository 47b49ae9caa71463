from datetime import UTC

import django.db.models.deletion
from django.db import migrations, models, transaction

# Conversions filled by one statement, each its own transaction: a large table is never locked
# for long, and processes still running the previous code go on writing meanwhile.
BATCH = 5_000
# conversions.click_values.FIELDS as of this migration (the values of a click's visitor context
# that the macros read included): a migration fills what the code of its time kept.
FIELDS = (
    "click_id",
    "ref_id",
    "ext1",
    "ext2",
    "ext3",
    "os_id",
    "fbclid",
    "ip",
    "user_agent",
    "referrer",
    "country",
    "region",
    "city",
    "os_family",
    "os_version",
    "device_type",
    "device_model",
    "browser",
    "language",
)


def fill_click_values(apps, schema_editor, batch=BATCH):
    """Fill `click_values` of the conversions that have a click and kept none, from their clicks,
    `batch` conversions at a time in the order of their ids. Can run again: filled ones are
    left as they are, and so is one whose click is no longer there."""
    connection = schema_editor.connection
    conversion = apps.get_model("conversions", "Conversion")
    click = apps.get_model("tracking", "Click")
    if connection.vendor != "postgresql":
        _fill_each(conversion, batch)
        return
    quote = connection.ops.quote_name
    pairs = ", ".join(
        f"'{field}', COALESCE({'host(click.ip)' if field == 'ip' else 'click.' + quote(field)}, '')"
        for field in FIELDS
    )
    created = """to_char(click.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
    conversions, clicks = quote(conversion._meta.db_table), quote(click._meta.db_table)
    select = (
        f"SELECT id FROM {conversions} WHERE id > %s AND click_id IS NOT NULL "
        f"AND click_values = '{{}}'::jsonb ORDER BY id LIMIT %s"
    )
    update = (
        f"UPDATE {conversions} AS conversion "
        f"SET click_values = jsonb_build_object({pairs}, 'created_at', {created}) "
        f"FROM {clicks} AS click WHERE conversion.id = ANY(%s) AND click.id = conversion.click_id"
    )
    last = 0
    while True:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(select, [last, batch])
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                cursor.execute(update, [ids])
        if len(ids) < batch:
            return
        last = ids[-1]


def _fill_each(conversion, batch):
    # SQLite, a development database: one conversion at a time is quick enough.
    pending = conversion.objects.filter(click__isnull=False).select_related("click").order_by("pk")
    for item in pending.iterator(chunk_size=batch):
        if item.click_values or item.click is None:
            continue
        values = {field: str(getattr(item.click, field) or "") for field in FIELDS}
        values["created_at"] = item.click.created_at.astimezone(UTC).isoformat(timespec="microseconds")
        conversion.objects.filter(pk=item.pk).update(click_values=values)


class Migration(migrations.Migration):
    # The fill commits batch by batch (fill_click_values); the two schema changes take their
    # locks for a moment each: the column has a constant default, so no row is rewritten.
    atomic = False

    dependencies = [
        ("conversions", "0012_server_postback_click_id_index"),
        ("tracking", "0005_refused_click"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversion",
            name="click_values",
            field=models.JSONField(blank=True, db_default={}, default=dict, editable=False),
        ),
        # Clicks are dropped with their week's partition, conversions are kept: the click a
        # conversion names may be gone, and a partitioned table cannot be referenced anyway.
        migrations.AlterField(
            model_name="conversion",
            name="click",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tracking.click",
            ),
        ),
        migrations.RunPython(fill_click_values, migrations.RunPython.noop, elidable=True),
    ]
