"""What may leave the database, and when: config.partitions does the removing; this module says
whether the settings let it.

Clicks must outlive every conversion that may still come for them: a retention shorter than the
click lifetime of an active offer would refuse that offer's late conversions as "click not found".
Such a setting is refused where it can be: at deploy (`migrate` runs the database checks, and so
does `manage.py check --database default`), and by every maintenance run, which then keeps the
clicks and says why. An offer's click lifetime cannot be set above the retention either
(offers.models.validate_click_lifetime)."""

from django.conf import settings
from django.core import checks
from django.db import connection
from django.db.models import Max

from config import partitions
from offers.models import Offer, OfferStatus, click_lifetime_outlives_clicks


def click_retention_problem() -> str | None:
    """Why CLICK_RETENTION_DAYS may not be used as it is, or None."""
    active = Offer.objects.filter(status=OfferStatus.ACTIVE)
    longest = active.aggregate(days=Max("click_lifetime_days"))["days"]
    if longest is None or not click_lifetime_outlives_clicks(longest):
        return None
    offer = active.filter(click_lifetime_days=longest).order_by("pk").first()
    return (
        f"CLICK_RETENTION_DAYS is {settings.CLICK_RETENTION_DAYS}, shorter than the click lifetime of "
        f"active offer {offer.offer_id} ({longest} days): its clicks must be kept as long as conversions "
        "may come for them. Raise CLICK_RETENTION_DAYS or shorten that offer's click lifetime."
    )


def retention_maintain() -> partitions.Report:
    """Partitions made ahead and old rows removed (config.partitions.maintain), clicks kept while
    their retention is refused."""
    problem = click_retention_problem()
    return partitions.maintain(hold={"CLICK_RETENTION_DAYS": problem} if problem else None)


@checks.register(checks.Tags.database)
def check_click_retention(app_configs=None, databases=None, **kwargs):
    # `migrate` runs database checks before it migrates: a new database has no offers yet.
    if not databases or Offer._meta.db_table not in connection.introspection.table_names():
        return []
    problem = click_retention_problem()
    return [checks.Error(problem, id="ops.E001")] if problem else []
