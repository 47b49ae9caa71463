"""The inbound postback log in weekly partitions (config.partitions): its foreign keys lose their
database constraints, one postback per event becomes a rule with the time in, and the table,
rows and all, becomes a partitioned table while the product runs."""

from django.db import migrations, models

from config.partitions import PartitionByTime


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversions", "0013_conversion_click_values"),
        ("offers", "0005_affiliate_alert_emails"),
    ]

    operations = [
        migrations.AlterField(
            model_name="serverpostback",
            name="conversion",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=models.SET_NULL,
                related_name="server_postbacks",
                to="conversions.conversion",
            ),
        ),
        migrations.AlterField(
            model_name="serverpostback",
            name="offer",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=models.SET_NULL,
                related_name="+",
                to="offers.offer",
            ),
        ),
        migrations.AlterField(
            model_name="serverpostback",
            name="event",
            field=models.OneToOneField(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=models.SET_NULL,
                related_name="server_postback",
                to="conversions.conversionevent",
            ),
        ),
        PartitionByTime(
            "serverpostback",
            "received_at",
            state_operations=[
                migrations.AlterField(
                    model_name="serverpostback",
                    name="event",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=models.SET_NULL,
                        related_name="server_postbacks",
                        to="conversions.conversionevent",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="serverpostback",
                    constraint=models.UniqueConstraint(
                        fields=("event", "received_at"), name="server_postback_event_unique"
                    ),
                ),
            ],
            renamed={"conversions_serverpostback_event_id_key": "server_postback_event_unique"},
        ),
    ]
