from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.validators import UniqueTogetherValidator, UniqueValidator

from offers.access import may_run_visible_offer
from offers.choices import ConversionStatus
from offers.models import (
    GOAL_FIELDS,
    MAX_PUBLIC_ID,
    Advertiser,
    Affiliate,
    Goal,
    Offer,
    OfferAccess,
    validate_domains,
    validate_ip_allowlist,
)
from offers.payouts import terms_problems
from offers.services import (
    advertiser_create,
    advertiser_update,
    affiliate_set_signing_secret,
    affiliate_update,
    goals_problem,
    offer_access_decide,
    offer_save_with_goals,
)
from tracking.destination import offer_url_warnings
from tracking.links import LINK_PARAMETERS, tracking_link

PAYOUT_TERMS = ["payout_type", "payout", "payout_percent", "revenue_type", "revenue", "revenue_percent"]

# --- Partner views ----------------------------------------------------------------------


class PartnerGoalSerializer(serializers.ModelSerializer):
    """A goal as an affiliate sees it: `payout` is the fixed amount, `payout_percent` the percent
    of the sale, as `payout_type` says; `payout_terms` says it in words."""

    payout_terms = serializers.CharField(
        read_only=True, help_text='The payout in words: "2.50 USD", "12.5% of the sale".'
    )

    class Meta:
        model = Goal
        fields = ["value", "title", "payout_type", "payout", "payout_percent", "payout_terms", "currency"]


class PartnerOfferSerializer(serializers.ModelSerializer):
    """An offer as an affiliate sees it. `tracking_link` is null until the affiliate may run it."""

    id = serializers.IntegerField(source="offer_id", read_only=True)
    currency = serializers.CharField(read_only=True, allow_null=True)
    goals = PartnerGoalSerializer(many=True, read_only=True)
    access = serializers.SerializerMethodField()
    tracking_link = serializers.SerializerMethodField()

    class Meta:
        model = Offer
        fields = [
            "id",
            "title",
            "description",
            "status",
            "visibility",
            "currency",
            "hold_period_days",
            "click_lifetime_days",
            "preview_url",
            "goals",
            "access",
            "tracking_link",
        ]

    def get_access(self, offer) -> str:
        """`open` for public offers, else the access request's state:
        `none`, `pending`, `approved` or `rejected`."""
        if not offer.is_private:
            return "open"
        return offer.access_status or "none"

    def get_tracking_link(self, offer) -> str | None:
        if not may_run_visible_offer(offer):
            return None
        return tracking_link(offer_id=offer.offer_id, pid=self.context["affiliate"].pid)


class TrackingLinkQuerySerializer(serializers.Serializer):
    def get_fields(self):
        return {
            name: serializers.CharField(required=False, allow_blank=True, max_length=512)
            for name in LINK_PARAMETERS
        }


class MeSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    has_signing_secret = serializers.SerializerMethodField()
    signing_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=128,
        help_text="Empty string removes it.",
    )

    class Meta:
        model = Affiliate
        fields = [
            "pid",
            "username",
            "email",
            "status",
            "consider_global_postback",
            "has_signing_secret",
            "signing_secret",
        ]
        read_only_fields = ["pid", "status"]

    def get_has_signing_secret(self, affiliate) -> bool:
        return bool(affiliate.signing_secret)

    def update(self, affiliate, validated_data):
        affiliate_update(
            affiliate=affiliate, consider_global_postback=validated_data.get("consider_global_postback")
        )
        if "signing_secret" in validated_data:
            affiliate_set_signing_secret(affiliate=affiliate, secret=validated_data["signing_secret"])
        return affiliate


# --- Manager views ----------------------------------------------------------------------


class AdvertiserSerializer(serializers.ModelSerializer):
    """An advertiser. Created without `secure_code`, it gets a generated one; "" means none."""

    ip_allowlist = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, validators=[validate_ip_allowlist]
    )
    postback_url = serializers.CharField(
        read_only=True, help_text="The advertiser postback URL to give the advertiser, with its secure code."
    )

    class Meta:
        model = Advertiser
        fields = [
            "id",
            "name",
            "secure_code",
            "ip_allowlist",
            "refusals_answer_200",
            "postback_url",
            "created_at",
        ]

    def create(self, validated_data):
        return advertiser_create(**validated_data)

    def update(self, advertiser, validated_data):
        return advertiser_update(advertiser=advertiser, **validated_data)


class ManagerGoalSerializer(serializers.ModelSerializer):
    default_status = serializers.ChoiceField(
        choices=ConversionStatus.choices, default=ConversionStatus.PENDING
    )

    class Meta:
        model = Goal
        fields = GOAL_FIELDS

    def validate(self, attrs):
        # A PATCH of the offer makes every field optional, its goals' too; but a goal is matched by
        # its value, so each goal written names one.
        if "value" not in attrs:
            raise serializers.ValidationError({"value": "This field is required."})
        # The model's rule (Goal.clean), here so that the answer names the goal's field. What a
        # goal leaves out stays as the offer's goal of that value has it (offer_save_with_goals).
        offer = self.root.instance
        goal = (offer.goal_for(attrs["value"]) if isinstance(offer, Offer) else None) or Goal()
        terms = {name: attrs.get(name, getattr(goal, name)) for name in PAYOUT_TERMS}
        if problems := terms_problems(**terms):
            raise serializers.ValidationError(problems)
        return attrs


class ManagerOfferSerializer(serializers.ModelSerializer):
    """An offer with its goals. Writing `goals` replaces the offer's goals (matched by value)."""

    id = serializers.IntegerField(
        source="offer_id",
        required=False,
        min_value=1,
        max_value=MAX_PUBLIC_ID,
        validators=[UniqueValidator(Offer.objects.all(), message="An offer with this id already exists.")],
        help_text="Public offer id; the next free one if omitted.",
    )
    goals = ManagerGoalSerializer(many=True)
    currency = serializers.CharField(read_only=True, allow_null=True)
    deeplink_domains = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, validators=[validate_domains]
    )
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = Offer
        fields = [
            "id",
            "advertiser",
            "title",
            "description",
            "status",
            "visibility",
            "currency",
            "destination_url",
            "preview_url",
            "trafficback_url",
            "allow_deeplinks",
            "deeplink_domains",
            "click_lifetime_days",
            "hold_period_days",
            "secure_code",
            "goals",
            "warnings",
            "created_at",
            "updated_at",
        ]

    def get_warnings(self, offer) -> list[str]:
        """Names in the offer's URLs that are no macro: accepted, and named here."""
        return offer_url_warnings(offer)

    def validate_goals(self, goals):
        # Checked here as well as by the service, so that the answer lists it beside any other
        # field's error.
        if problem := goals_problem([goal["value"] for goal in goals]):
            raise serializers.ValidationError(problem)
        return goals

    def create(self, validated_data):
        goals = validated_data.pop("goals")
        return offer_save_with_goals(offer=Offer(**validated_data), goals=goals)

    def update(self, offer, validated_data):
        goals = validated_data.pop("goals", None)
        for name, value in validated_data.items():
            setattr(offer, name, value)
        return offer_save_with_goals(offer=offer, goals=goals)


class ManagerAffiliateSerializer(serializers.ModelSerializer):
    """An affiliate and its login. Creating one answers its API key, once (`api_key`, set by
    ManagerAffiliateViewSet)."""

    id = serializers.IntegerField(
        source="pid",
        required=False,
        min_value=1,
        max_value=MAX_PUBLIC_ID,
        validators=[
            UniqueValidator(Affiliate.objects.all(), message="An affiliate with this pid already exists.")
        ],
        help_text="Public pid; the next free one if omitted.",
    )
    username = serializers.CharField(source="user.username", max_length=150)
    email = serializers.EmailField(source="user.email", required=False, allow_blank=True)
    password = serializers.CharField(
        write_only=True, required=False, min_length=8, max_length=128, style={"input_type": "password"}
    )
    api_key = serializers.SerializerMethodField()

    class Meta:
        model = Affiliate
        fields = [
            "id",
            "username",
            "email",
            "password",
            "status",
            "consider_global_postback",
            "created_at",
            "api_key",
        ]

    def get_api_key(self, affiliate) -> str | None:
        return getattr(affiliate, "issued_api_key", None)

    def validate_username(self, value):
        users = get_user_model().objects.filter(username=value)
        if self.instance is not None:
            users = users.exclude(pk=self.instance.user_id)
        if users.exists():
            raise serializers.ValidationError("This username is taken.")
        return value

    @staticmethod
    def arguments(validated_data: dict) -> dict:
        """Validated fields as keyword arguments of the services that write affiliates
        (ManagerAffiliateViewSet creates through api.services.affiliate_create_with_api_key)."""
        fields = dict(validated_data)
        return {**fields.pop("user", {}), **fields}

    def update(self, affiliate, validated_data):
        return affiliate_update(affiliate=affiliate, **self.arguments(validated_data))


class ManagerOfferAccessSerializer(serializers.ModelSerializer):
    affiliate = serializers.SlugRelatedField(slug_field="pid", queryset=Affiliate.objects.all())
    offer = serializers.SlugRelatedField(slug_field="offer_id", queryset=Offer.objects.all())

    class Meta:
        model = OfferAccess
        fields = ["id", "affiliate", "offer", "status", "requested_at", "decided_at"]
        read_only_fields = ["requested_at", "decided_at"]
        validators = [
            UniqueTogetherValidator(
                queryset=OfferAccess.objects.all(),
                fields=["affiliate", "offer"],
                message="This affiliate already has an access entry for this offer.",
            )
        ]

    def validate_offer(self, offer):
        if not offer.is_private:
            raise serializers.ValidationError("Public offers need no access.")
        return offer

    def save(self, **kwargs):
        access = self.instance or OfferAccess()
        for name, value in self.validated_data.items():
            setattr(access, name, value)
        self.instance = offer_access_decide(
            access=access, status=access.status, decided_by=self.context["request"].user
        )
        return self.instance
