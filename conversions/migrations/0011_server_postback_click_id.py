from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversions", "0010_pending_conversions_index")]

    operations = [
        # A constant default in the database adds the column without rewriting the table, and
        # lets processes still running the previous code go on logging hits while it deploys.
        migrations.AddField(
            model_name="serverpostback",
            name="click_id",
            field=models.CharField(blank=True, db_default="", default="", max_length=24),
        ),
    ]
