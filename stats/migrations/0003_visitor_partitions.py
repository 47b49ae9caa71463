"""The unique visitors in weekly partitions by day (config.partitions), so that they leave by whole
weeks: the table, rows and all, becomes a partitioned table while the product runs. Its primary key
holds the day already, and no foreign key constraint refers to it or from it."""

from django.db import migrations

from config.partitions import PartitionByTime


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("stats", "0002_visitor_dimensions"),
    ]

    operations = [
        PartitionByTime("dailyvisitor", "day"),
    ]
