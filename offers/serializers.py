from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
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
    GoalCountryPayout,
    Offer,
    OfferAccess,
    validate_domains,
    validate_ip_allowlist,
)
from offers.payouts import COUNTRY_AMOUNTS, country_payouts_problems, payouts_by_country, terms_problems
from offers.services import (
    advertiser_create,
    advertiser_update,
    affiliate_set_signing_secret,
    affiliate_update,
    country_payouts_misfit,
    goals_problem,
    offer_access_decide,
    offer_save_with_goals,
)
from offers.targeting import (
    MAX_TARGETS,
    country_code,
    normalised_country_codes,
    normalised_device_types,
    normalised_os_families,
    os_family_warnings,
    validate_country_code,
    validate_country_codes,
    validate_device_types,
    validate_os_families,
)
from tracking.destination import offer_url_warnings
from tracking.links import LINK_PARAMETERS, tracking_link

PAYOUT_TERMS = ["payout_type", "payout", "payout_percent", "revenue_type", "revenue", "revenue_percent"]

# --- Partner views ----------------------------------------------------------------------


class PartnerCountryPayoutSerializer(serializers.Serializer):
    """A goal's payout in one country (offers.payouts.CountryPayout): the payout only."""

    country = serializers.CharField(help_text="ISO 3166-1 alpha-2 code, e.g. US.")
    country_name = serializers.CharField(help_text='The country\'s English name, e.g. "United States".')
    payout = serializers.DecimalField(max_digits=14, decimal_places=4)
    payout_percent = serializers.DecimalField(max_digits=7, decimal_places=4)
    payout_terms = serializers.CharField(help_text='The payout in words: "5.00 USD".')


class PartnerGoalSerializer(serializers.ModelSerializer):
    """A goal as an affiliate sees it: `payout` is the fixed amount, `payout_percent` the percent
    of the sale, as `payout_type` says; `payout_terms` says it in words. `country_payouts` lists
    the countries whose visitors' conversions are paid otherwise; every other country is paid
    the goal's own payout."""

    payout_terms = serializers.CharField(
        read_only=True, help_text='The payout in words: "2.50 USD", "12.5% of the sale".'
    )
    country_payouts = serializers.SerializerMethodField()

    class Meta:
        model = Goal
        fields = [
            "value",
            "title",
            "payout_type",
            "payout",
            "payout_percent",
            "payout_terms",
            "currency",
            "country_payouts",
        ]

    @extend_schema_field(PartnerCountryPayoutSerializer(many=True))
    def get_country_payouts(self, goal) -> list:
        lines = [line for line in payouts_by_country(goal) if line.country]
        return PartnerCountryPayoutSerializer(lines, many=True).data


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
            "target_countries",
            "target_os_families",
            "target_device_types",
            "goals",
            "access",
            "tracking_link",
        ]
        read_only_fields = ["target_countries", "target_os_families", "target_device_types"]

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
            "alert_emails",
            "has_signing_secret",
            "signing_secret",
        ]
        read_only_fields = ["pid", "status"]

    def get_has_signing_secret(self, affiliate) -> bool:
        return bool(affiliate.signing_secret)

    def update(self, affiliate, validated_data):
        affiliate_update(
            affiliate=affiliate,
            consider_global_postback=validated_data.get("consider_global_postback"),
            alert_emails=validated_data.get("alert_emails"),
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


class CountryCodeField(serializers.CharField):
    """An ISO 3166-1 alpha-2 country code; lower case is taken as upper case ("de" is "DE")."""

    def __init__(self, **kwargs):
        super().__init__(validators=[validate_country_code], **kwargs)

    def to_internal_value(self, data):
        code = super().to_internal_value(data)
        code = country_code(code) or code
        if len(code) != 2:
            raise serializers.ValidationError(
                "Use a two-letter country code such as US or DE (ISO 3166-1 alpha-2)."
            )
        return code


class CountryPayoutSerializer(serializers.ModelSerializer):
    """A goal's amounts in one country, in place of the goal's for its visitors' conversions
    (offers.payouts). An amount left out is the goal's own."""

    country = CountryCodeField(
        help_text='ISO 3166-1 alpha-2 code, e.g. "US"; lower case is taken as upper case.'
    )

    class Meta:
        model = GoalCountryPayout
        fields = ["country", *COUNTRY_AMOUNTS]
        extra_kwargs = {name: {"required": False} for name in COUNTRY_AMOUNTS}

    def validate(self, attrs):
        # A PATCH makes every field optional; but a row is the country's.
        if "country" not in attrs:
            raise serializers.ValidationError({"country": "This field is required."})
        return attrs


class ManagerGoalSerializer(serializers.ModelSerializer):
    default_status = serializers.ChoiceField(
        choices=ConversionStatus.choices, default=ConversionStatus.PENDING
    )
    country_payouts = CountryPayoutSerializer(
        many=True,
        required=False,
        help_text="The goal's amounts in some countries, for their visitors' conversions; every other "
        "country is paid the goal's own. Writing it replaces the goal's list; leaving it out keeps it.",
    )

    class Meta:
        model = Goal
        fields = [*GOAL_FIELDS, "country_payouts"]

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
        if "country_payouts" in attrs:
            attrs["country_payouts"] = self._country_payouts(terms, attrs["country_payouts"])
        elif misfit := country_payouts_misfit(goal, terms=terms):
            raise serializers.ValidationError({"country_payouts": misfit})
        return attrs

    @staticmethod
    def _country_payouts(terms: dict, rows: list[dict]) -> list[dict]:
        """The rows with the goal's own amounts where they leave one out, as the service takes
        them (offers.services.goal_set_country_payouts); refused per row by the same rule."""
        rows = [{**{name: terms[name] for name in COUNTRY_AMOUNTS}, **row} for row in rows]
        problems = country_payouts_problems(terms, rows)
        if any(problems):
            # By the index of each refused row, as DRF reports the rows' own field errors.
            errors = {
                index: {field: [message] for field, message in found.items()}
                for index, found in enumerate(problems)
                if found
            }
            raise serializers.ValidationError({"country_payouts": errors})
        return rows


def _targets(help_text: str) -> serializers.ListField:
    """One of an offer's targeting lists, as the manager API writes it."""
    return serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=MAX_TARGETS,
        help_text=help_text,
    )


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
    target_countries = _targets(
        'Country codes (ISO 3166-1 alpha-2) whose visitors the offer accepts, e.g. ["US", "DE"]; '
        "lower case is taken as upper case. Empty: every country."
    )
    target_os_families = _targets(
        'OS families the offer accepts, e.g. ["iOS", "Android"], compared without regard '
        "to case. Empty: every operating system."
    )
    target_device_types = _targets(
        "Device types the offer accepts: desktop, mobile, tablet, bot. Empty: every device."
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
            "target_countries",
            "target_os_families",
            "target_device_types",
            "click_lifetime_days",
            "hold_period_days",
            "secure_code",
            "goals",
            "warnings",
            "created_at",
            "updated_at",
        ]

    def get_warnings(self, offer) -> list[str]:
        """Names in the offer's URLs that are no macro, and OS families no user agent reports:
        accepted, and named here."""
        return offer_url_warnings(offer) + os_family_warnings(offer)

    # Targeting: what was typed, normalised as the admin's form does it (offers.targeting),
    # then checked by the model field's validator.
    def validate_target_countries(self, codes):
        codes = normalised_country_codes(codes)
        validate_country_codes(codes)
        return codes

    def validate_target_os_families(self, names):
        names = normalised_os_families(names)
        validate_os_families(names)
        return names

    def validate_target_device_types(self, kinds):
        kinds = normalised_device_types(kinds)
        validate_device_types(kinds)
        return kinds

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
