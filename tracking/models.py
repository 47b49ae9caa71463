from collections.abc import Mapping
from datetime import timedelta

from django.db import models

from config import partitions
from config.db import Between
from config.ids import new_public_id, public_id_time
from offers.models import Affiliate, Offer
from offers.targeting import DeviceType
from tracking.visitor import LENGTHS

# The sub values with a column each, which statistics can group by.
SUB_FIELDS = [f"sub{n}" for n in range(1, 9)]
# The further sub values of Affise links, kept together in one JSON column (`more_subs`): few
# links fill any of them, and 22 more text columns would widen every row of the largest tables.
MORE_SUB_FIELDS = [f"sub{n}" for n in range(9, 31)]
ALL_SUB_FIELDS = [*SUB_FIELDS, *MORE_SUB_FIELDS]
EXT_FIELDS = ["ext1", "ext2", "ext3"]
# Every parameter a tracking link may carry besides pid and offer_id, stored as given.
CLICK_PARAMETERS = [*ALL_SUB_FIELDS, "ref_id", *EXT_FIELDS, "os_id", "fbclid", "imp_id"]
MAX_PARAMETER_LENGTH = 512


def sub_fields(values: Mapping[str, str]) -> dict:
    """The columns of SubValues for sub values by name (a link's parameters, or another record's
    `all_sub_values()`): sub1..sub8, missing ones empty, and `more_subs` with the sub9..sub30
    that are given and not empty."""
    return {
        **{name: values.get(name, "") for name in SUB_FIELDS},
        "more_subs": {name: values[name] for name in MORE_SUB_FIELDS if values.get(name)},
    }


def click_parameter_fields(params: Mapping[str, str]) -> dict:
    """The columns of a click row that hold the tracking link's parameters, missing ones empty."""
    others = {name: params.get(name, "") for name in CLICK_PARAMETERS if name not in ALL_SUB_FIELDS}
    return {**sub_fields(params), **others}


def new_click_id(*, at: float | None = None) -> str:
    """A click's public id: the `click_id` of links and postbacks. It holds the click's time
    (`at`, a Unix time; now by default), which tells the partition its row is in."""
    return new_public_id(at=at)


# How far a click's stored time may be from the time its id holds: the same second when the
# click is made (tracking.accept); a minute of room for anything else.
CLICK_TIME_SLACK = timedelta(minutes=1)


def click_times(click_ids: list[str]) -> Between:
    """The stored times the clicks of these ids have (ids of 24 hex characters): a lookup that
    names them reads only the partitions of those times."""
    times = [public_id_time(click_id) for click_id in click_ids]
    return Between(min(times) - CLICK_TIME_SLACK, max(times) + CLICK_TIME_SLACK)


class SubValues(models.Model):
    """The affiliate's own values sub1..sub30: given on the click, kept on its conversions, and
    sent back in the affiliate's postbacks. Read them through `sub_values` (sub1..sub8),
    `all_sub_values` (sub1..sub30) or `sub_value`, never from `more_subs` itself."""

    sub1 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    sub2 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    sub3 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    sub4 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    sub5 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    sub6 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    sub7 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    sub8 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    # sub9..sub30 by name, only those given (sub_fields). The database default serves rows
    # written without the column: by a release from before it, while a deploy rolls out.
    more_subs = models.JSONField(default=dict, db_default={}, blank=True)

    class Meta:
        abstract = True

    def sub_values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SUB_FIELDS}

    def all_sub_values(self) -> dict[str, str]:
        """sub1..sub30 in order, empty for those not given."""
        more = self.more_subs or {}
        return {**self.sub_values(), **{name: more.get(name, "") for name in MORE_SUB_FIELDS}}

    def sub_value(self, name: str) -> str:
        """One of sub1..sub30, empty when not given."""
        if name in MORE_SUB_FIELDS:
            return (self.more_subs or {}).get(name, "")
        return getattr(self, name)


class ClickQuerySet(models.QuerySet):
    """Of clicks and refused clicks, which share the shape of their ids and partitions."""

    def named(self, click_ids: list[str]):
        """The clicks of these ids (of 24 hex characters), read from their partitions only."""
        times = click_times(click_ids)
        return self.filter(click_id__in=click_ids, created_at__gte=times.low, created_at__lt=times.high)


class Click(SubValues):
    # Unique through Meta.constraints rather than unique=True, which on PostgreSQL would add a
    # second, LIKE-pattern index on a table of millions of rows that no query uses.
    click_id = models.CharField(max_length=24)
    # The foreign keys get no index of their own: the composite indexes below start with them.
    # No database constraint either, as on every partitioned table (config.partitions).
    offer = models.ForeignKey(
        Offer, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    affiliate = models.ForeignKey(
        Affiliate, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    ref_id = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    ext1 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    ext2 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    ext3 = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    os_id = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    fbclid = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    imp_id = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    referrer = models.CharField(max_length=2048, blank=True)
    # The visitor context (tracking.visitor), computed when the click was recorded. The database
    # defaults serve rows written by a release from before the columns, while a deploy rolls out.
    country = models.CharField(max_length=LENGTHS["country"], blank=True, default="", db_default="")
    region = models.CharField(max_length=LENGTHS["region"], blank=True, default="", db_default="")
    city = models.CharField(max_length=LENGTHS["city"], blank=True, default="", db_default="")
    os_family = models.CharField("OS", max_length=LENGTHS["os_family"], blank=True, default="", db_default="")
    os_version = models.CharField(
        "OS version", max_length=LENGTHS["os_version"], blank=True, default="", db_default=""
    )
    device_type = models.CharField(
        max_length=LENGTHS["device_type"], choices=DeviceType.CHOICES, blank=True, default="", db_default=""
    )
    device_brand = models.CharField(max_length=LENGTHS["device_brand"], blank=True, default="", db_default="")
    device_model = models.CharField(max_length=LENGTHS["device_model"], blank=True, default="", db_default="")
    browser = models.CharField(max_length=LENGTHS["browser"], blank=True, default="", db_default="")
    language = models.CharField(max_length=LENGTHS["language"], blank=True, default="", db_default="")
    created_at = models.DateTimeField()
    # A click of the integration test wizard: left out of statistics and attribution, and its
    # conversions are test conversions.
    is_test = models.BooleanField(default=False)

    objects = ClickQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The admin's list and date filter, and rollups by period.
            models.Index(fields=["created_at"], name="click_created"),
            # An affiliate's statistics by period; probabilistic attribution (latest click by IP).
            models.Index(fields=["affiliate", "offer", "created_at"], name="click_affiliate_offer_created"),
            # An offer's statistics by period.
            models.Index(fields=["offer", "created_at"], name="click_offer_created"),
        ]
        constraints = [
            # With its time, as a partitioned table's every unique rule (config.partitions): the
            # same rule, since a click id is made once, with the time of its click.
            models.UniqueConstraint(fields=["click_id", "created_at"], name="click_id_unique"),
            models.CheckConstraint(
                condition=models.Q(click_id__regex=r"^[0-9a-f]{24}$"), name="click_id_24_hex"
            ),
        ]

    def __str__(self):
        return self.click_id


class RefusedClick(models.Model):
    """A visit refused by the offer's targeting (offers.targeting): kept so that refusals are
    counted exactly once (the click id decides, as for clicks) and a manager can see whom an
    offer turned away, and why. No sub values: the visitor went elsewhere."""

    click_id = models.CharField(max_length=24)
    offer = models.ForeignKey(
        Offer, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    affiliate = models.ForeignKey(
        Affiliate, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    reason = models.CharField(max_length=16)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    country = models.CharField(max_length=LENGTHS["country"], blank=True)
    os_family = models.CharField("OS", max_length=LENGTHS["os_family"], blank=True)
    device_type = models.CharField(max_length=LENGTHS["device_type"], choices=DeviceType.CHOICES, blank=True)
    created_at = models.DateTimeField()

    objects = ClickQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], name="refused_click_created"),
            models.Index(fields=["offer", "created_at"], name="refused_click_offer_created"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["click_id", "created_at"], name="refused_click_id_unique")
        ]

    def __str__(self):
        return f"{self.click_id} ({self.reason})"


# Kept CLICK_RETENTION_DAYS in weekly partitions; conversions keep what they need of their click.
partitions.register(Click, "created_at", retention_setting="CLICK_RETENTION_DAYS")
partitions.register(RefusedClick, "created_at", retention_setting="CLICK_RETENTION_DAYS")
