"""The statistics rollup: per UTC day, affiliate and offer, the clicks and the conversions by goal,
currency and status, kept exact as clicks and conversion events are written (stats.services).

What the numbers mean:
- A click counts on the UTC day it was made. A *unique click* is the first click of an IP address
  on an offer by an affiliate in a UTC day; a click without an IP address is always unique, and so
  is, until a rebuild, a click written after the visitors of its day have left (DailyVisitor).
- A conversion counts on the UTC day it was created, in the column of its current status: a later
  status change moves it from one status to another on that same day, as affiliate networks show it.
  Test conversions are never counted.
- Payout and revenue are summed per status, so any total can be shown; the portal calls the
  approved payout "payout" and shows the pending and hold payouts beside it.
- Clicks refused by an offer's targeting are counted by reason (offers.targeting).

Two tables hold the same counters. DailyAudienceStat also splits them by the visitor's country, OS
family and device type (tracking.visitor: the click's, and a conversion's click's), which
multiplies its rows (about 9 times in bench/stats.py); DailyStat holds their sums over those, so
that the reports that do not need the visitor context read as few rows as before it existed.
"""

from django.db import models

from config import partitions
from offers.choices import ConversionStatus
from offers.models import Affiliate, Goal, Offer

# The rollup's column for each status: approved, pending, declined, hold.
STATUS_COLUMNS = {status: status.name.lower() for status in ConversionStatus}


def _count():
    return models.IntegerField(default=0, db_default=0)


def _amount():
    return models.DecimalField(max_digits=18, decimal_places=4, default=0, db_default=0)


class DailyCounters(models.Model):
    """One day of one affiliate on one offer: what both rollup tables count. The row without a
    goal holds the clicks; each (goal, currency) of the conversions has a row of its own.

    Counters are signed: a status change subtracts from the old status in the same statement
    that adds to the new one.
    """

    day = models.DateField(help_text="UTC day")
    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="+", db_index=False)
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+", db_index=False)
    goal = models.ForeignKey(Goal, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3, blank=True)
    clicks = _count()
    unique_clicks = _count()
    approved = _count()
    pending = _count()
    declined = _count()
    hold = _count()
    payout_approved = _amount()
    payout_pending = _amount()
    payout_declined = _amount()
    payout_hold = _amount()
    revenue_approved = _amount()
    revenue_pending = _amount()
    revenue_declined = _amount()
    revenue_hold = _amount()
    # Clicks refused by the offer's targeting, by reason (offers.targeting.TargetingRefusal).
    refused_country = _count()
    refused_os = _count()
    refused_device = _count()

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.day} pid {self.affiliate_id} offer {self.offer_id} goal {self.goal_id or '-'}"


class DailyStat(DailyCounters):
    """The counters of a day, affiliate and offer (and goal and currency) whatever the visitors:
    what the reports read unless they are grouped or filtered by the visitor context."""

    class Meta:
        constraints = [
            # The conflict targets of the live upserts (stats.services); the first also serves
            # the network's reports by period.
            models.UniqueConstraint(
                fields=["day", "affiliate", "offer"],
                condition=models.Q(goal__isnull=True),
                name="daily_stat_clicks_unique",
            ),
            models.UniqueConstraint(
                fields=["day", "affiliate", "offer", "goal", "currency"],
                condition=models.Q(goal__isnull=False),
                name="daily_stat_conversions_unique",
            ),
        ]
        indexes = [
            # An affiliate's reports by period.
            models.Index(fields=["affiliate", "day"], name="daily_stat_affiliate_day"),
            # An affiliate's report on one offer.
            models.Index(fields=["affiliate", "offer"], name="daily_stat_affiliate_offer"),
        ]


class DailyAudienceStat(DailyCounters):
    """The same counters by visitor context, for the reports grouped or filtered by country, OS
    or device type: each row is also of one visitor country, OS family and device type ("" where
    unknown). Summed over those three, its rows are DailyStat's."""

    country = models.CharField(max_length=2, blank=True, default="", db_default="")
    os_family = models.CharField(max_length=32, blank=True, default="", db_default="")
    device_type = models.CharField(max_length=8, blank=True, default="", db_default="")

    class Meta:
        constraints = [
            # The conflict targets of the live upserts (stats.services); the first also serves
            # the network's reports by period.
            models.UniqueConstraint(
                fields=["day", "affiliate", "offer", "country", "os_family", "device_type"],
                condition=models.Q(goal__isnull=True),
                name="daily_audience_stat_clicks_unique",
            ),
            models.UniqueConstraint(
                fields=[
                    "day",
                    "affiliate",
                    "offer",
                    "goal",
                    "currency",
                    "country",
                    "os_family",
                    "device_type",
                ],
                condition=models.Q(goal__isnull=False),
                name="daily_audience_stat_conversions_unique",
            ),
        ]
        indexes = [
            # An affiliate's reports by period.
            models.Index(fields=["affiliate", "day"], name="audience_stat_affiliate_day"),
        ]

    def __str__(self):
        visitor = "/".join(value or "-" for value in [self.country, self.os_family, self.device_type])
        return f"{super().__str__()} {visitor}"


# How many days the unique visitors are kept. A day's visitors matter only while clicks of that
# day may still be written, seconds to hours after they were made (the click buffer), and the
# rebuild counts unique clicks from the clicks themselves: two weeks leave a wide margin, and with
# whole weeks dropped the table holds 14 to 21 days. A click of an older day is counted without a
# visitor row (stats.services). The product's rule rather than a setting: no choice of an operator
# changes what the visitors are needed for.
VISITOR_RETENTION_DAYS = 14


class DailyVisitor(models.Model):
    """An IP address seen on an offer of an affiliate on a UTC day: the click that inserts the row
    is that day's unique click, and the primary key decides between concurrent twins. Kept
    VISITOR_RETENTION_DAYS, in weekly partitions by day (config.partitions).

    No foreign key constraints: every row is written beside a click that already checks them, on
    the hot path of click writes.
    """

    pk = models.CompositePrimaryKey("day", "affiliate", "offer", "ip")
    day = models.DateField()
    affiliate = models.ForeignKey(
        Affiliate, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    offer = models.ForeignKey(
        Offer, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    ip = models.GenericIPAddressField()

    def __str__(self):
        return f"{self.day} pid {self.affiliate_id} offer {self.offer_id} {self.ip}"


partitions.register(DailyVisitor, "day", retention_days=VISITOR_RETENTION_DAYS)
