from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversions.models import IntegrationMethod
from offers.access import offers_runnable_by
from offers.choices import ConversionStatus
from offers.models import Goal, Offer
from postbacks import macros
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
            "explanation",
        ]
        read_only_fields = fields

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
