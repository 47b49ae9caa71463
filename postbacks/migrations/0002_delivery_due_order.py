from django.db import migrations, models
from django.db.models import F


def leased_deliveries_not_due(apps, schema_editor):
    """Deliveries held by a sender are due when their lease ends, as the claim now records."""
    Delivery = apps.get_model("postbacks", "Delivery")
    Delivery.objects.filter(
        state__in=["pending", "retrying"], locked_until__gt=F("next_attempt_at")
    ).update(next_attempt_at=F("locked_until"))


class Migration(migrations.Migration):
    dependencies = [
        ("conversions", "0004_alter_conversionevent_source"),
        ("offers", "0001_initial"),
        ("postbacks", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="delivery",
            name="delivery_due",
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("state__in", ["pending", "retrying"])),
                fields=["next_attempt_at", "id"],
                name="delivery_due",
            ),
        ),
        migrations.RunPython(leased_deliveries_not_due, migrations.RunPython.noop),
    ]
