"""Affiliate postbacks (the URLs affiliates want called), their deliveries and delivery attempts."""

import uuid

from django.core.exceptions import ValidationError
from django.db import models

from config import partitions
from conversions.models import Conversion, ConversionEvent, IntegrationMethod
from offers.models import Affiliate, Goal, Offer


# The choices of Postback, outside it so that its constraints can name the values.
class PostbackStatusFilter(models.TextChoices):
    ANY = "any", "Any"
    CREATED = "created", "By creating"
    APPROVED = "approved", "Approved"
    PENDING = "pending", "Pending"
    DECLINED = "declined", "Declined"
    HOLD = "hold", "Hold"


class PostbackMethod(models.TextChoices):
    GET = "GET", "GET"
    POST = "POST", "POST (form-encoded macro values)"


class Postback(models.Model):
    """A URL with macros that the platform calls for conversion events of one affiliate.

    With an offer it is a local postback ("Your Postbacks" on the offer); without, a global one
    ("Postback information" in the affiliate's settings). Which ones fire: postbacks.firing.
    """

    StatusFilter = PostbackStatusFilter
    Method = PostbackMethod

    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="postbacks")
    offer = models.ForeignKey(
        Offer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="postbacks",
        help_text="Empty for a global postback.",
    )
    url = models.CharField("URL", max_length=2048)
    status = models.CharField(max_length=10, choices=StatusFilter.choices, default=StatusFilter.ANY)
    goal = models.ForeignKey(
        Goal,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Local postbacks only; empty for any goal.",
    )
    integration_method = models.CharField(
        max_length=16, choices=IntegrationMethod.choices, default=IntegrationMethod.DEFAULT
    )
    method = models.CharField(max_length=4, choices=Method.choices, default=Method.GET)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    # Set by the first failed delivery after a success; the postback is disabled when every
    # delivery has failed for POSTBACK_DISABLE_AFTER (three days).
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["affiliate", "offer", "pk"]
        indexes = [models.Index(fields=["affiliate", "offer"], name="postback_affiliate_offer")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(goal__isnull=True) | models.Q(offer__isnull=False),
                name="postback_goal_only_when_local",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PostbackStatusFilter.values),
                name="postback_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(integration_method__in=IntegrationMethod.values),
                name="postback_integration_method_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(method__in=PostbackMethod.values), name="postback_method_valid"
            ),
        ]

    def __str__(self):
        return self.url

    @property
    def is_global(self) -> bool:
        return self.offer_id is None

    def clean(self):
        from postbacks.outbound import url_problem

        errors = {}
        if self.url and (problem := url_problem(self.url)):
            errors["url"] = problem
        if self.goal_id is not None:
            if self.offer_id is None:
                errors["goal"] = "A global postback cannot have a goal: it fires for every offer."
            elif self.goal.offer_id != self.offer_id:
                errors["goal"] = "This goal belongs to another offer."
        if errors:
            raise ValidationError(errors)


class Delivery(models.Model):
    """One postback request to send for one conversion event: the outbox row.

    Written in the transaction of the event that causes it (postbacks.services), so a delivery
    exists exactly when its event does; sent by postbacks.sender. `delivery_id` is the stable
    `X-Postback-Id` of every attempt.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    UNFINISHED = [State.PENDING, State.RETRYING]

    # Every index costs each claim and result of a delivery: the foreign keys below are indexed
    # only through Meta.indexes, where an index serves a query.
    # Unique with its time (delivery_id_unique). No database constraints on the foreign keys, as
    # on every partitioned table (config.partitions).
    delivery_id = models.UUIDField("postback id", default=uuid.uuid4, editable=False)
    affiliate = models.ForeignKey(
        Affiliate, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # Kept when the postback is deleted, so the log stays; a delivery without postback is not sent.
    postback = models.ForeignKey(
        Postback,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        db_index=False,
        db_constraint=False,
    )
    conversion = models.ForeignKey(
        Conversion, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False
    )
    event = models.ForeignKey(
        ConversionEvent,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        db_constraint=False,
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    method = models.CharField(max_length=4, default=Postback.Method.GET)
    url = models.TextField("URL")
    # The URL's host: a sender stops taking deliveries for a host that stopped answering.
    host = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    http_code = models.PositiveSmallIntegerField("HTTP code", null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    response_excerpt = models.TextField(blank=True)
    # When the delivery is due; none once finished. A sender that takes it moves this to the end
    # of its lease, so a delivery being sent is not due, and is due again if no result comes back.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The lease of the sender holding the delivery: only a result sent under it is recorded.
    locked_until = models.DateTimeField(null=True, blank=True)
    # Made by a backfill (a postback sent for past conversions, postbacks.backfill): sent only
    # when no live delivery is due, so that a backfill never delays the conversions of today.
    is_backfill = models.BooleanField("backfill", default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                # The claim's order: it reads the head of this index, due live deliveries only.
                fields=["next_attempt_at", "id"],
                condition=models.Q(state__in=["pending", "retrying"], is_backfill=False),
                name="delivery_due",
            ),
            models.Index(
                # The claim's backfill deliveries, read when the live ones left room.
                fields=["next_attempt_at", "id"],
                condition=models.Q(state__in=["pending", "retrying"], is_backfill=True),
                name="delivery_backfill_due",
            ),
            models.Index(fields=["affiliate", "created_at"], name="delivery_affiliate_created"),
            models.Index(fields=["created_at"], name="delivery_created"),
            models.Index(fields=["postback", "conversion"], name="delivery_postback_conversion"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "retrying", "succeeded", "failed"]),
                name="delivery_state_valid",
            ),
            # With its time, as a partitioned table's every unique rule (config.partitions).
            models.UniqueConstraint(fields=["delivery_id", "created_at"], name="delivery_id_unique"),
        ]

    def __str__(self):
        return str(self.delivery_id)


class DeliveryAttempt(models.Model):
    # No database constraint: deliveries are partitioned (config.partitions).
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log", db_constraint=False
    )
    started_at = models.DateTimeField()
    url = models.TextField("URL")
    http_code = models.PositiveSmallIntegerField("HTTP code", help_text="0 when there was no answer.")
    error = models.CharField(max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField()
    response_excerpt = models.TextField(blank=True, help_text="The first 1 KiB of the answer.")

    class Meta:
        ordering = ["delivery", "pk"]

    def __str__(self):
        # The raw error is no name: pages that show it explain it first (postbacks.explanations).
        answer = f"HTTP {self.http_code}" if self.http_code else "no answer"
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} {answer}"


# The postback log, kept LOG_RETENTION_DAYS in weekly partitions.
partitions.register(Delivery, "created_at", retention_setting="LOG_RETENTION_DAYS")
partitions.register(DeliveryAttempt, "started_at", retention_setting="LOG_RETENTION_DAYS")
