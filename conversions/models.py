"""Conversions reported by advertisers, their status history, and the log of inbound postbacks."""

from django.conf import settings
from django.db import models

from config import partitions
from config.ids import new_public_id
from conversions.click_values import kept_click_values
from offers.choices import ConversionStatus
from offers.models import Affiliate, Goal, Offer
from tracking.models import MAX_PARAMETER_LENGTH, Click, SubValues


def new_conversion_id() -> str:
    """A conversion's public id: the `conversion_id` of postbacks and the API."""
    return new_public_id()


class IntegrationMethod(models.TextChoices):
    DEFAULT = "default", "Default"
    PROBABILISTIC = "probabilistic", "Probabilistic attribution"


class DeclineReason(models.TextChoices):
    """Why a conversion was declined on arrival, in Affise's words for the same cases."""

    GOAL_NOT_FOUND = "Goal not found"
    CLICK_EXPIRED = "Click session expired"


class KeptClickId(models.Func):
    """The click id a conversion kept (`click_values`), as text: the expression of the index on
    it, and of the lookups it serves, in one SQL form with the key written in. Django's key
    transforms bind the key as a parameter on SQLite, where no index on an expression then serves
    the lookup."""

    template = "(%(expressions)s ->> 'click_id')"
    output_field = models.CharField(max_length=24)

    def __init__(self):
        super().__init__(models.F("click_values"))

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "JSON_EXTRACT(%(expressions)s, '$.click_id')"
        return self.as_sql(compiler, connection, template=template, **extra_context)


class ConversionQuerySet(models.QuerySet):
    def with_kept_click_id(self):
        """`kept_click_id` to filter on: the click id each conversion kept (`click_values`), read
        through the index on it, the same once the click is no longer kept."""
        return self.alias(kept_click_id=KeptClickId())

    def of_kept_clicks(self, click_ids: list[str]):
        """The conversions of these clicks, by the click id each kept."""
        return self.with_kept_click_id().filter(kept_click_id__in=click_ids)


class Conversion(SubValues):
    # Unique through Meta.constraints: see tracking.models.Click.click_id.
    conversion_id = models.CharField(max_length=24, default=new_conversion_id, editable=False)
    # No database constraint: clicks are dropped with their week's partition once older than
    # CLICK_RETENTION_DAYS (and a partitioned table cannot be referenced by one), while
    # conversions are kept. What the conversion needs of its click is in `click_values`.
    click = models.ForeignKey(
        Click, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    # What the conversion keeps of its click when it is made (conversions.click_values), read
    # instead of the click's row, which may be gone; empty without a click.
    click_values = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="conversions")
    # Indexed by conversion_affiliate_created (affiliate, created_at), which serves lookups by affiliate.
    affiliate = models.ForeignKey(
        Affiliate, on_delete=models.PROTECT, related_name="conversions", db_index=False
    )
    goal = models.ForeignKey(Goal, on_delete=models.PROTECT, related_name="conversions")
    status = models.PositiveSmallIntegerField(choices=ConversionStatus.choices)
    integration_method = models.CharField(
        max_length=16, choices=IntegrationMethod.choices, default=IntegrationMethod.DEFAULT
    )
    action_id = models.CharField(
        max_length=MAX_PARAMETER_LENGTH, blank=True, help_text="The advertiser's own id of the conversion."
    )
    payout = models.DecimalField("affiliate payout", max_digits=14, decimal_places=4)
    revenue = models.DecimalField("advertiser revenue", max_digits=14, decimal_places=4)
    currency = models.CharField(max_length=3)
    order_sum = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, help_text="`sum` as the advertiser sent it."
    )
    order_currency = models.CharField(max_length=3, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    referrer = models.CharField(max_length=2048, blank=True)
    comment = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    fbclid = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    device_type = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)  # the advertiser's, as sent
    user_id = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    promo_code = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True)
    # custom_field1..custom_field15, and for probabilistic postbacks timestamp, action_timestamp,
    # country and platform: kept as sent.
    extra = models.JSONField(default=dict, blank=True)
    hold_until = models.DateTimeField(
        null=True, blank=True, help_text="While on hold: when the conversion is approved automatically."
    )
    is_test = models.BooleanField(default=False)
    # The visitor context of the click (tracking.visitor) that payouts by country and statistics
    # read; `device_type` above is what the advertiser sent, kept apart.
    country = models.CharField(max_length=2, blank=True, default="", db_default="")
    os_family = models.CharField("OS", max_length=32, blank=True, default="", db_default="")
    click_device_type = models.CharField(max_length=8, blank=True, default="", db_default="")
    # Why the platform declined it on arrival (DeclineReason, "; " between two), as Affise records
    # a postback for an unknown goal or an expired click: empty for any other conversion.
    decline_reason = models.CharField(max_length=64, blank=True, db_default="", default="")
    # For a conversion declined for a goal the offer lacks: that goal's value as sent, in lower
    # case (goals match case-insensitively); it stands on the offer's first goal meanwhile.
    unknown_goal = models.CharField(max_length=MAX_PARAMETER_LENGTH, blank=True, db_default="", default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["conversion_id"], name="conversion_id_unique"),
            # One conversion per advertiser id of it, whatever the click. One for a goal the offer
            # lacks stands on the offer's first goal: its unknown goal keeps it apart from that
            # goal's own conversions, and from another unknown goal's.
            models.UniqueConstraint(
                fields=["offer", "goal", "action_id", "unknown_goal"],
                condition=~models.Q(action_id=""),
                name="conversion_unique_action_id",
            ),
            # Without an advertiser id: one conversion per click and goal. Probabilistic
            # conversions are exempt: many visitors can share the matched click's IP.
            models.UniqueConstraint(
                fields=["offer", "goal", "click", "unknown_goal"],
                condition=models.Q(action_id="", integration_method=IntegrationMethod.DEFAULT),
                name="conversion_unique_click",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ConversionStatus.values), name="conversion_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(integration_method__in=IntegrationMethod.values),
                name="conversion_integration_method_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(conversion_id__regex=r"^[0-9a-f]{24}$"), name="conversion_id_24_hex"
            ),
        ]
        indexes = [
            # An affiliate's conversion list and statistics by period.
            models.Index(fields=["affiliate", "created_at"], name="conversion_affiliate_created"),
            # The network's lists and statistics by period.
            models.Index(fields=["created_at"], name="conversion_created"),
            # Managers looking a conversion up by the advertiser's id (admin search).
            models.Index(
                fields=["action_id"], condition=~models.Q(action_id=""), name="conversion_action_id"
            ),
            # The manager console's work queue: conversions pending for longer than some days.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status=ConversionStatus.PENDING, is_test=False),
                name="conversion_pending_created",
            ),
            # The hold auto-approval job.
            models.Index(
                fields=["hold_until"],
                condition=models.Q(status=ConversionStatus.HOLD),
                name="conversion_on_hold",
            ),
            # The conversions of a click by the id they kept, also once it is no longer kept
            # (ConversionQuerySet.of_kept_clicks: advertiser postbacks, the explain, the admin).
            models.Index(KeptClickId(), name="conversion_kept_click_id"),
        ]

    def __str__(self):
        return self.conversion_id

    @property
    def goal_value(self) -> str:
        """The goal as the advertiser named it: its goal's value, or for a conversion declined for
        a goal the offer lacks (standing on the offer's first goal), the value sent."""
        return self.unknown_goal or self.goal.value

    @property
    def kept_click_id(self) -> str | None:
        """The public id of the conversion's click, whether or not the click is still kept."""
        return kept_click_values(self).get("click_id") or None


class ServerPostback(models.Model):
    """One inbound advertiser postback or pixel hit, accepted or not."""

    class Source(models.TextChoices):
        POSTBACK = "postback", "S2S postback"
        PIXEL = "pixel", "Pixel"

    class Outcome(models.TextChoices):
        CREATED = "created", "Conversion created"
        STATUS_CHANGED = "status_changed", "Status changed"
        DUPLICATE = "duplicate", "Duplicate"
        REJECTED = "rejected", "Rejected"

    received_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    method = models.CharField(max_length=10)
    query = models.TextField(help_text="Query string and form body as received (cut at 8 KiB).")
    ip = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField()
    message = models.CharField(max_length=255)
    # No database constraints on the foreign keys, as on every partitioned table (config.partitions).
    conversion = models.ForeignKey(
        Conversion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="server_postbacks",
        db_constraint=False,
    )
    # The offer the hit was for, when it could be told (from its click, or the offer it named),
    # refused or not: which advertiser's integration a burst of refusals comes from.
    offer = models.ForeignKey(
        Offer,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The creation or status change this postback caused, if any: "changed by which postback".
    # One postback at most (server_postback_event_unique, whose index serves lookups by event).
    event = models.ForeignKey(
        "ConversionEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="server_postbacks",
        db_index=False,
        db_constraint=False,
    )
    # The click id the hit named, when it is one (conversions.intake.CLICK_ID), else blank: how the
    # explain of a click finds the hits refused for it, which reached no conversion.
    click_id = models.CharField(max_length=24, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["received_at"], name="server_postback_received"),
            # An advertiser's recent postbacks: its offers' rows of the last day or week.
            models.Index(fields=["offer", "received_at"], name="server_postback_offer"),
            # The hits that named a click (postbacks.chain). Hits that named none are left out of
            # the index, and cost no write to it.
            models.Index(
                fields=["click_id"], condition=~models.Q(click_id=""), name="server_postback_click_id"
            ),
        ]
        constraints = [
            # With its time, as a partitioned table's every unique rule (config.partitions).
            models.UniqueConstraint(fields=["event", "received_at"], name="server_postback_event_unique"),
        ]

    def __str__(self):
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.source} {self.outcome}"


class ConversionEvent(models.Model):
    """A conversion's creation or one of its status changes: its history, and what affiliate
    postbacks are sent for. Written only by conversions.events."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS_CHANGED = "status_changed", "Status changed"

    class Source(models.TextChoices):
        POSTBACK = "postback", "Advertiser postback"
        PIXEL = "pixel", "Pixel"
        MANAGER = "manager", "Manager"
        HOLD_EXPIRED = "hold_expired", "Hold period ended"
        TEST = "test", "Test postback"

    conversion = models.ForeignKey(Conversion, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    old_status = models.PositiveSmallIntegerField(choices=ConversionStatus.choices, null=True, blank=True)
    new_status = models.PositiveSmallIntegerField(choices=ConversionStatus.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversion", "pk"]

    def __str__(self):
        return f"{self.conversion}: {self.get_kind_display()} -> {self.get_new_status_display()}"


# The inbound log, kept LOG_RETENTION_DAYS in weekly partitions.
partitions.register(ServerPostback, "received_at", retention_setting="LOG_RETENTION_DAYS")
