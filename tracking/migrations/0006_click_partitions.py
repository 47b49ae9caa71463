"""Clicks and refused clicks in weekly partitions (config.partitions): their foreign keys lose
their database constraints, their unique rules take the time in, and the tables, rows and all,
become partitioned tables while the product runs."""

from django.db import migrations, models

from config.partitions import PartitionByTime


def _foreign_key(to, on_delete):
    return models.ForeignKey(
        db_constraint=False, db_index=False, on_delete=on_delete, related_name="+", to=to
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("offers", "0005_affiliate_alert_emails"),
        ("tracking", "0005_refused_click"),
        # The conversions' foreign key to clicks loses its database constraint there.
        ("conversions", "0013_conversion_click_values"),
    ]

    operations = [
        migrations.AlterField(
            model_name="click", name="affiliate", field=_foreign_key("offers.affiliate", models.PROTECT)
        ),
        migrations.AlterField(
            model_name="click", name="offer", field=_foreign_key("offers.offer", models.PROTECT)
        ),
        migrations.AlterField(
            model_name="refusedclick",
            name="affiliate",
            field=_foreign_key("offers.affiliate", models.CASCADE),
        ),
        migrations.AlterField(
            model_name="refusedclick", name="offer", field=_foreign_key("offers.offer", models.CASCADE)
        ),
        PartitionByTime(
            "click",
            "created_at",
            state_operations=[
                migrations.RemoveConstraint(model_name="click", name="click_id_unique"),
                migrations.AddConstraint(
                    model_name="click",
                    constraint=models.UniqueConstraint(
                        fields=("click_id", "created_at"), name="click_id_unique"
                    ),
                ),
            ],
        ),
        PartitionByTime(
            "refusedclick",
            "created_at",
            state_operations=[
                migrations.RemoveConstraint(model_name="refusedclick", name="refused_click_id_unique"),
                migrations.AddConstraint(
                    model_name="refusedclick",
                    constraint=models.UniqueConstraint(
                        fields=("click_id", "created_at"), name="refused_click_id_unique"
                    ),
                ),
            ],
        ),
    ]
