"""Deliveries and their attempts in weekly partitions (config.partitions): their foreign keys lose
their database constraints, the postback id is unique with the time in, and the tables, rows and
all, become partitioned tables while the product runs."""

import uuid

from django.db import migrations, models

from config.partitions import PartitionByTime


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversions", "0014_inbound_log_partitions"),
        ("offers", "0005_affiliate_alert_emails"),
        ("postbacks", "0003_delivery_backfill"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="affiliate",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.CASCADE,
                related_name="+",
                to="offers.affiliate",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="conversion",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=models.CASCADE,
                related_name="deliveries",
                to="conversions.conversion",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="event",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.CASCADE,
                related_name="deliveries",
                to="conversions.conversionevent",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="postback",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=models.SET_NULL,
                related_name="deliveries",
                to="postbacks.postback",
            ),
        ),
        migrations.AlterField(
            model_name="deliveryattempt",
            name="delivery",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=models.CASCADE,
                related_name="attempt_log",
                to="postbacks.delivery",
            ),
        ),
        PartitionByTime(
            "delivery",
            "created_at",
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="delivery_id",
                    field=models.UUIDField(default=uuid.uuid4, editable=False, verbose_name="postback id"),
                ),
                migrations.AddConstraint(
                    model_name="delivery",
                    constraint=models.UniqueConstraint(
                        fields=("delivery_id", "created_at"), name="delivery_id_unique"
                    ),
                ),
            ],
            renamed={"postbacks_delivery_delivery_id_key": "delivery_id_unique"},
        ),
        PartitionByTime("deliveryattempt", "started_at"),
    ]
