from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversions.models import IntegrationMethod
from offers.access import offers_runnable_by
from offers.choices import ConversionStatus
from offers.models import Goal, Offer
from postbacks import macros
from postbacks.chain import query_shown
from postbacks.explanations import explain
from postbacks.models import Delivery, Postback
from postbacks.services import postback_save


class RunnableOfferField(serializers.SlugRelatedField):
    """An offer by its public id, among those the affiliate may run (and the postback's own, so
    that a postback keeps an offer paused since it was saved)."""

    default_error_messages = {
        "does_not_exist": (
            "There is no offer {value} that you can run (a private offer needs approved access)."
        ),
        "invalid": "Enter an offer id (a number).",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="offer_id", **kwargs)

    def get_queryset(self):
        offers = offers_runnable_by(self.context["affiliate"])
        postback = self.parent.instance
        if isinstance(postback, Postback) and postback.offer_id is not None:
            offers = offers | Offer.objects.filter(pk=postback.offer_id)
        return offers


class GoalValueField(serializers.CharField):
    """A goal by its value; PostbackSerializer.validate finds it in the postback's offer."""

    def to_representation(self, goal):
        return goal.value


class PostbackSerializer(serializers.ModelSerializer):
    """An affiliate's postback: local with an `offer`, global with `offer` null. The URL must be
    http or https, without credentials, on a host with public addresses only."""

    # Saved through postback_save, so the portal, the admin and the API apply the same rules.

    offer = RunnableOfferField(
        allow_null=True, required=False, help_text="Offer id; null for a global postback."
    )
    goal = GoalValueField(
        allow_null=True,
        required=False,
        max_length=64,
        help_text="Goal value of the offer (any case); null for any goal. Local postbacks only.",
    )
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = Postback
        fields = [
            "id",
            "offer",
            "url",
            "status",
            "goal",
            "integration_method",
            "method",
            "enabled",
            "disabled_reason",
            "warnings",
            "created_at",
        ]
        read_only_fields = ["disabled_reason", "created_at"]

    def get_warnings(self, postback) -> list[str]:
        """Names in braces in the URL that are not macros: they are sent as they are."""
        # After a save, what postback_save reported; on reads, the same check of the URL.
        saved = getattr(self, "_saved_warnings", None)
        return saved if saved is not None else macros.unknown(postback.url)

    def validate(self, attrs):
        if "goal" in attrs:
            offer = attrs["offer"] if "offer" in attrs else getattr(self.instance, "offer", None)
            attrs["goal"] = self._goal(attrs["goal"], offer)
        return attrs

    def _goal(self, value, offer) -> Goal | None:
        if not value:
            return None
        if offer is None:
            raise serializers.ValidationError(
                {"goal": "A global postback cannot have a goal: it fires for every offer."}
            )
        goal = offer.goals.filter(value__iexact=value).first()
        if goal is None:
            raise serializers.ValidationError({"goal": f"Offer {offer.offer_id} has no goal {value}."})
        return goal

    def create(self, validated_data):
        postback = Postback(affiliate=self.context["affiliate"], **validated_data)
        self._saved_warnings = postback_save(postback)
        return postback

    def update(self, postback, validated_data):
        for name, value in validated_data.items():
            setattr(postback, name, value)
        self._saved_warnings = postback_save(postback)
        return postback


class ExplanationSerializer(serializers.Serializer):
    title = serializers.CharField(help_text="What happened, in a few words.")
    advice = serializers.CharField(help_text="What to check.")


class DeliverySerializer(serializers.ModelSerializer):
    """One postback request for one conversion event, with its last result and what it reported."""

    id = serializers.UUIDField(source="delivery_id", read_only=True, help_text="The X-Postback-Id header.")
    conversion = serializers.CharField(source="conversion.conversion_id", read_only=True)
    offer = serializers.IntegerField(source="conversion.offer.offer_id", read_only=True)
    goal = serializers.CharField(source="conversion.goal.value", read_only=True)
    status = serializers.ChoiceField(
        source="event.new_status",
        choices=ConversionStatus.choices,
        read_only=True,
        help_text="The conversion's status after the event: 1, 2, 3 or 5.",
    )
    payout = serializers.DecimalField(
        source="conversion.payout", max_digits=14, decimal_places=4, read_only=True
    )
    currency = serializers.CharField(source="conversion.currency", read_only=True)
    integration_method = serializers.ChoiceField(
        source="conversion.integration_method", choices=IntegrationMethod.choices, read_only=True
    )
    is_test = serializers.BooleanField(source="conversion.is_test", read_only=True)
    explanation = serializers.SerializerMethodField(
        help_text="`http_code` and `error` in words, with what to check; null unless the last attempt failed."
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "postback",
            "conversion",
            "event",
            "state",
            "url",
            "attempts",
            "http_code",
            "error",
            "response_excerpt",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "offer",
            "goal",
            "status",
            "payout",
            "currency",
            "integration_method",
            "is_test",
            "is_backfill",
            "explanation",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "is_backfill": {"help_text": "Sent for a past conversion by a backfill, after live deliveries."}
        }

    @extend_schema_field(ExplanationSerializer(allow_null=True))
    def get_explanation(self, delivery) -> dict | None:
        explanation = explain(http_code=delivery.http_code, error=delivery.error, url=delivery.url)
        if not explanation.failed:
            return None
        return {"title": explanation.title, "advice": explanation.advice}


class ManagerDeliverySerializer(DeliverySerializer):
    affiliate = serializers.IntegerField(source="affiliate.pid", read_only=True, help_text="pid")

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "affiliate"]
        read_only_fields = fields


class BackfillSerializer(serializers.Serializer):
    """A backfill's preview (GET) or what was queued (POST)."""

    date_from = serializers.DateField()
    date_to = serializers.DateField()
    deliveries = serializers.IntegerField(
        help_text="How many postbacks the backfill sends (the preview's count)."
    )
    queued = serializers.BooleanField(help_text="True once queued (POST with deliveries > 0).")


class ReplaySerializer(serializers.Serializer):
    """A bulk replay's preview (GET) or what was sent again (POST)."""

    deliveries = serializers.IntegerField(
        help_text="Failed deliveries matching the filters (GET) or sent again (POST)."
    )
    sent = serializers.BooleanField(help_text="True on POST: the deliveries are due now.")


# --- The explain of a conversion (postbacks.chain) -------------------------------------------------


def chain_data(chain) -> dict:
    """A conversion's chain as the explain API answers it: the entries in time order. An
    affiliate's leaves out what postbacks.chain keeps from them (revenue, order sum, the
    advertiser's address)."""
    return {
        "lookup": {chain.lookup.name: chain.lookup.value},
        "is_test": chain.is_test,
        "entries": [_entry_data(entry, chain.for_manager) for entry in chain.entries],
    }


def _entry_data(entry, for_manager: bool) -> dict:
    if entry.kind == "click":
        return {"type": "click", "at": entry.at, "click": _click_data(entry.click)}
    if entry.kind == "gone_click":
        return {"type": "gone_click", "at": entry.at, "click_id": entry.click_id or None, "note": entry.note}
    if entry.kind == "hit":
        return {"type": "advertiser_postback", "at": entry.at, **_hit_data(entry.hit, for_manager)}
    step = entry.step
    return {
        "type": "conversion_event",
        "at": entry.at,
        "conversion": _conversion_data(step.conversion, for_manager),
        "event": {
            "kind": step.event.kind,
            "old_status": step.event.old_status,
            "new_status": step.event.new_status,
            "source": step.event.source,
        },
        "postbacks": [_verdict_data(verdict) for verdict in step.verdicts],
        "deliveries_of_deleted_postbacks": [_delivery_data(delivery) for delivery in step.orphan_deliveries],
    }


def _click_data(click) -> dict:
    return {
        "click_id": click.click_id,
        "pid": click.affiliate.pid,
        "offer": click.offer.offer_id,
        "created_at": click.created_at,
        "is_test": click.is_test,
        "subs": {name: value for name, value in click.all_sub_values().items() if value},
        "parameters": {
            name: getattr(click, name)
            for name in ("ref_id", "ext1", "ext2", "ext3", "os_id", "fbclid", "imp_id")
            if getattr(click, name)
        },
        "visitor": {
            "ip": click.ip,
            "user_agent": click.user_agent,
            "referrer": click.referrer,
            "country": click.country,
            "region": click.region,
            "city": click.city,
            "os": click.os_family,
            "os_version": click.os_version,
            "device_type": click.device_type,
            "browser": click.browser,
            "language": click.language,
        },
    }


def _hit_data(hit, for_manager: bool) -> dict:
    data = {
        "source": hit.source,
        "method": hit.method,
        "query": query_shown(hit, for_manager=for_manager),
        "outcome": hit.outcome,
        "http_status": hit.http_status,
        "message": hit.message,
        "conversion_id": hit.conversion.conversion_id if hit.conversion_id else None,
    }
    if for_manager:
        data["ip"] = hit.ip
    return data


def _conversion_data(conversion, for_manager: bool) -> dict:
    data = {
        "conversion_id": conversion.conversion_id,
        "pid": conversion.affiliate.pid,
        "click_id": conversion.kept_click_id,
        "action_id": conversion.action_id,
        "offer": conversion.offer.offer_id,
        "goal": conversion.goal_value,
        "status": conversion.status,
        "decline_reason": conversion.decline_reason,
        "integration_method": conversion.integration_method,
        "payout": str(conversion.payout),
        "currency": conversion.currency,
        "is_test": conversion.is_test,
        "created_at": conversion.created_at,
    }
    if for_manager:
        data |= {"revenue": str(conversion.revenue), "order_sum": _text(conversion.order_sum)}
    return data


def _text(value) -> str | None:
    return None if value is None else str(value)


def _verdict_data(verdict) -> dict:
    postback = verdict.postback
    return {
        "postback": postback.pk,
        "url": postback.url,
        "offer": postback.offer.offer_id if postback.offer_id else None,
        "enabled": postback.enabled,
        "fired": verdict.fired,
        "reasons": [{"code": why.code, "text": why.text} for why in verdict.reasons],
        "note": verdict.note,
        "deliveries": [_delivery_data(delivery) for delivery in verdict.deliveries],
    }


def _delivery_data(delivery) -> dict:
    explanation = explain(http_code=delivery.http_code, error=delivery.error, url=delivery.url)
    return {
        "id": str(delivery.delivery_id),
        "state": delivery.state,
        "url": delivery.url,
        "created_at": delivery.created_at,
        "http_code": delivery.http_code,
        "what_happened": {"title": explanation.title, "advice": explanation.advice},
        "attempts": [
            {
                "started_at": attempt.started_at,
                "http_code": attempt.http_code,
                "duration_ms": attempt.duration_ms,
                "error": attempt.error,
                "what_happened": _explained(attempt),
            }
            for attempt in delivery.attempt_log.all()
        ],
    }


def _explained(attempt) -> dict:
    explanation = explain(http_code=attempt.http_code, error=attempt.error, url=attempt.url)
    return {"title": explanation.title, "advice": explanation.advice}


class TrackerBlankSerializer(serializers.Serializer):
    name = serializers.CharField(
        help_text="The query parameter that fills it in `fill/`, and its <name> in `url`."
    )
    label = serializers.CharField()
    help = serializers.CharField()


class TrackerTemplateSerializer(serializers.Serializer):
    """A tracker's postback URL template (postbacks.trackers): `url` with our macros and blanks
    in angle brackets: `<click_id>` (the sub you name), `<status>` (the tracker's word for the
    postback's status) and `blanks`, your own values."""

    key = serializers.CharField()
    name = serializers.CharField()
    url = serializers.CharField(help_text="The URL pattern, blanks in angle brackets.")
    blanks = TrackerBlankSerializer(many=True, help_text="What you fill in.")
    status = serializers.CharField(help_text="The status filter suggested for it.")
    status_words = serializers.DictField(
        child=serializers.CharField(),
        help_text="Status filter -> the tracker's word. When set: one postback per status, one of these.",
    )
    note = serializers.CharField()
    source = serializers.URLField(help_text="The tracker's documentation of its postback URL.")


class FilledTemplateSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="The postback URL to save, as `url` of a postback.")
    status = serializers.CharField(help_text="The status filter to save it with.")
