"""The network: advertisers, their offers and goals, affiliates, and who may run which offer."""

import ipaddress
import re
import secrets
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import models
from django.db.models.functions import Lower

from offers.choices import ConversionStatus
from offers.payouts import MAX_PERCENT, PayoutType, payout_terms, terms_problems
from offers.targeting import (
    validate_country_code,
    validate_country_codes,
    validate_device_types,
    validate_os_families,
)

http_url_validator = URLValidator(schemes=["http", "https"])
currency_validator = RegexValidator(r"^[A-Z]{3}\Z", "Use a three-letter ISO 4217 code in capitals, e.g. USD.")
goal_value_validator = RegexValidator(
    r"^[A-Za-z0-9_.-]+\Z",
    "Use letters, digits, '_', '-' or '.', as advertisers send it in the goal parameter.",
)


def validate_ip_allowlist(value):
    if not isinstance(value, list):
        raise ValidationError("Give a list of IP addresses or CIDR ranges.")
    for entry in value:
        try:
            ipaddress.ip_network(str(entry).strip(), strict=False)
        except ValueError:
            raise ValidationError(f"{entry!r} is not an IP address or CIDR range.") from None


HOST_NAME = re.compile(r"^(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")


def validate_domains(value):
    if not isinstance(value, list):
        raise ValidationError("Give a list of domain names.")
    for entry in value:
        if not isinstance(entry, str) or not HOST_NAME.match(entry):
            raise ValidationError(f"{entry!r} is not a domain name such as shop.example.com (lower case).")


def _status_in_choices(field):
    return models.Q(**{f"{field}__in": ConversionStatus.values})


# Public ids stay within nine digits so that they fit every integer column and URL pattern.
MAX_PUBLIC_ID = 999_999_999
public_id_validators = [MinValueValidator(1), MaxValueValidator(MAX_PUBLIC_ID)]


def next_public_number(model, field):
    last = model.objects.order_by(f"-{field}").values_list(field, flat=True).first()
    return (last or 0) + 1


def new_secure_code() -> str:
    """A new advertiser's secure code: 128 random bits as 32 hex characters, which go into a
    postback URL without escaping."""
    return secrets.token_hex(16)


# The advertiser postback URL given to advertisers, with the macros of their own platform in
# braces (the usual spelling: advertisers replace them with their values).
POSTBACK_URL_PARAMETERS = "action_id={action_id}&goal={goal}&sum={sum}&status={status}"


class Advertiser(models.Model):
    name = models.CharField(max_length=200, unique=True)
    secure_code = models.CharField(
        max_length=128, blank=True, help_text="When set, every advertiser postback must carry it as `secure`."
    )
    ip_allowlist = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_ip_allowlist],
        help_text="IP addresses or CIDR ranges the advertiser's server calls from. Empty: any address.",
    )
    # Some advertisers' code takes any answer but a 200 for a transport failure and retries it
    # for ever, as platforms that always answer 200 taught it to expect.
    refusals_answer_200 = models.BooleanField(
        "answer refusals with HTTP 200",
        default=False,
        help_text="Answer refused postbacks with HTTP 200 (the JSON still says status 2 and why).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=~models.Q(name=""), name="advertiser_name_not_empty")]

    def __str__(self):
        return self.name

    @property
    def postback_url(self) -> str:
        """The advertiser postback URL to give this advertiser, its secure code included."""
        secure = f"&secure={quote(self.secure_code, safe='')}" if self.secure_code else ""
        return f"{settings.TRACKING_BASE_URL}/postback?clickid={{clickid}}{secure}&{POSTBACK_URL_PARAMETERS}"


def click_lifetime_outlives_clicks(days: int) -> bool:
    """Clicks are kept CLICK_RETENTION_DAYS (config.partitions): a conversion can come no later."""
    return days > settings.CLICK_RETENTION_DAYS


def validate_click_lifetime(days: int) -> None:
    if days is not None and click_lifetime_outlives_clicks(days):
        raise ValidationError(
            f"Clicks are kept {settings.CLICK_RETENTION_DAYS} days (CLICK_RETENTION_DAYS): "
            "a click lifetime cannot be longer."
        )


# The choices of the models below, outside them so that their constraints can name the values.
class OfferStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class OfferVisibility(models.TextChoices):
    PUBLIC = "public", "Public"
    PRIVATE = "private", "Private (access on request)"


class AffiliateStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    BLOCKED = "blocked", "Blocked"


class AccessStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Offer(models.Model):
    Status = OfferStatus
    Visibility = OfferVisibility

    # Public and editable so that a network migrating from another platform keeps its
    # offer ids, and with them every tracking link already out there.
    offer_id = models.PositiveIntegerField(
        "offer ID",
        unique=True,
        validators=public_id_validators,
        help_text="Public id used in tracking links.",
    )
    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="offers")
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    destination_url = models.CharField(
        max_length=2048,
        validators=[http_url_validator],
        help_text="Where clicks are redirected, with macros such as {clickid}, {pid} and {sub1}.",
    )
    preview_url = models.CharField(max_length=2048, blank=True, validators=[http_url_validator])
    trafficback_url = models.CharField(
        max_length=2048,
        blank=True,
        validators=[http_url_validator],
        help_text="Where refused clicks are sent instead of an error page.",
    )
    click_lifetime_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), validate_click_lifetime],
        help_text="How long after a click a conversion is accepted.",
    )
    hold_period_days = models.PositiveSmallIntegerField(
        default=0, help_text="Conversions on hold are approved automatically after this many days."
    )
    secure_code = models.CharField(
        max_length=128, blank=True, help_text="When set, postbacks for this offer must carry it as `secure`."
    )
    allow_deeplinks = models.BooleanField(
        default=False,
        help_text="Affiliates may send visitors to another page of the advertiser's site with "
        "redirect=<url>, on the domains below.",
    )
    deeplink_domains = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_domains],
        help_text="Host names a deeplink may lead to; each also allows its subdomains.",
    )
    # Targeting (offers.targeting): empty accepts every visitor.
    target_countries = models.JSONField(
        "countries",
        default=list,
        blank=True,
        validators=[validate_country_codes],
        help_text="Country codes (ISO 3166-1 alpha-2) whose visitors the offer accepts; empty: all.",
    )
    target_os_families = models.JSONField(
        "OS families",
        default=list,
        blank=True,
        validators=[validate_os_families],
        help_text="Operating systems (iOS, Android, Windows, Mac OS X...) the offer accepts; empty: all.",
    )
    target_device_types = models.JSONField(
        "device types",
        default=list,
        blank=True,
        validators=[validate_device_types],
        help_text="Device types (desktop, mobile, tablet, bot) the offer accepts; empty: all.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["offer_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(offer_id__range=(1, MAX_PUBLIC_ID)), name="offer_id_range"
            ),
            models.CheckConstraint(condition=~models.Q(title=""), name="offer_title_not_empty"),
            models.CheckConstraint(
                condition=models.Q(status__in=OfferStatus.values), name="offer_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(visibility__in=OfferVisibility.values), name="offer_visibility_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(click_lifetime_days__gte=1), name="offer_click_lifetime_min"
            ),
            models.CheckConstraint(
                condition=models.Q(destination_url__startswith="http://")
                | models.Q(destination_url__startswith="https://"),
                name="offer_destination_url_http",
            ),
        ]

    def __str__(self):
        return f"#{self.offer_id} {self.title}"

    def save(self, *args, **kwargs):
        if self.offer_id is None:
            self.offer_id = next_public_number(Offer, "offer_id")
        super().save(*args, **kwargs)

    @property
    def is_active(self):
        return self.status == self.Status.ACTIVE

    @property
    def is_private(self):
        return self.visibility == self.Visibility.PRIVATE

    @property
    def takes_postbacks_from_anyone(self) -> bool:
        """True when nothing tells the advertiser's postbacks from forged ones: neither the
        offer's nor its advertiser's secure code, nor an IP allowlist (see OPEN_TO_ANYONE)."""
        return not (self.secure_code or self.advertiser.secure_code or self.advertiser.ip_allowlist)

    def goal_for(self, value: str = "") -> "Goal | None":
        """The goal a conversion's `goal` value names, compared case-insensitively; a conversion
        without one counts as the offer's first goal. None when no goal has that value. Reads
        `self.goals.all()`, so prefetched goals cost no query."""
        goals = list(self.goals.all())
        if not value:
            return goals[0] if goals else None
        return next((goal for goal in goals if goal.value.lower() == value.lower()), None)

    @property
    def currency(self):
        """The offer's currency as shown in lists: its first goal's. Uses prefetched goals when present."""
        goal = self.goal_for()
        return goal.currency if goal else None


# Offer.takes_postbacks_from_anyone, as a filter.
OPEN_TO_ANYONE = models.Q(secure_code="", advertiser__secure_code="", advertiser__ip_allowlist=[])


def _payout_terms_constraints(side: str) -> list[models.CheckConstraint]:
    """A goal side's terms (offers.payouts.terms_problems in words): a known type; a percent of 0
    to 100, 0 for a fixed side and above 0 for a side with a percent; a fixed amount of 0 for a
    percent alone, and above 0 when a percent is added to it. Each constraint checks one thing."""
    Q = models.Q
    kind, amount, percent = f"{side}_type", side, f"{side}_percent"
    return [
        models.CheckConstraint(
            condition=Q(**{f"{kind}__in": PayoutType.values}), name=f"goal_{side}_type_valid"
        ),
        models.CheckConstraint(
            condition=Q(**{f"{percent}__range": (0, MAX_PERCENT)}), name=f"goal_{side}_percent_range"
        ),
        models.CheckConstraint(
            condition=(~Q(**{kind: PayoutType.FIXED}) | Q(**{percent: 0}))
            & (
                ~Q(**{f"{kind}__in": [PayoutType.PERCENT, PayoutType.FIXED_PLUS_PERCENT]})
                | Q(**{f"{percent}__gt": 0})
            ),
            name=f"goal_{side}_percent_matches_type",
        ),
        models.CheckConstraint(
            condition=(~Q(**{kind: PayoutType.PERCENT}) | Q(**{amount: 0}))
            & (~Q(**{kind: PayoutType.FIXED_PLUS_PERCENT}) | Q(**{f"{amount}__gt": 0})),
            name=f"goal_{side}_fixed_matches_type",
        ),
    ]


class Goal(models.Model):
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="goals")
    value = models.CharField(
        max_length=64,
        validators=[goal_value_validator],
        help_text="What the advertiser sends as `goal`, e.g. 1, install, purchase. Case-insensitive.",
    )
    title = models.CharField(max_length=200)
    payout = models.DecimalField(
        "affiliate payout", max_digits=14, decimal_places=4, default=0, validators=[MinValueValidator(0)]
    )
    revenue = models.DecimalField(
        "advertiser revenue", max_digits=14, decimal_places=4, default=0, validators=[MinValueValidator(0)]
    )
    # How each side is paid: the fixed amount above, a percent of the advertiser's sum, or both
    # (offers.payouts, which computes a conversion's amounts from them).
    payout_type = models.CharField(max_length=20, choices=PayoutType.choices, default=PayoutType.FIXED)
    payout_percent = models.DecimalField(
        "payout percent",
        max_digits=7,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_PERCENT)],
        help_text="Percent of the advertiser's sum paid to the affiliate (0 to 100).",
    )
    revenue_type = models.CharField(max_length=20, choices=PayoutType.choices, default=PayoutType.FIXED)
    revenue_percent = models.DecimalField(
        "revenue percent",
        max_digits=7,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_PERCENT)],
        help_text="Percent of the advertiser's sum the network earns (0 to 100).",
    )
    currency = models.CharField(max_length=3, default="USD", validators=[currency_validator])
    default_status = models.PositiveSmallIntegerField(
        choices=ConversionStatus.choices,
        default=ConversionStatus.PENDING,
        help_text="Status of a new conversion when the advertiser sends none.",
    )

    class Meta:
        ordering = ["offer", "pk"]
        constraints = [
            models.UniqueConstraint(Lower("value"), "offer", name="goal_value_unique_per_offer_ci"),
            models.CheckConstraint(condition=~models.Q(value=""), name="goal_value_not_empty"),
            models.CheckConstraint(condition=~models.Q(title=""), name="goal_title_not_empty"),
            models.CheckConstraint(condition=models.Q(payout__gte=0), name="goal_payout_not_negative"),
            models.CheckConstraint(condition=models.Q(revenue__gte=0), name="goal_revenue_not_negative"),
            *_payout_terms_constraints("payout"),
            *_payout_terms_constraints("revenue"),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="goal_currency_iso"
            ),
            models.CheckConstraint(
                condition=_status_in_choices("default_status"), name="goal_default_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.title} ({self.value})"

    def clean(self):
        super().clean()
        problems = terms_problems(
            payout_type=self.payout_type,
            payout=self.payout,
            payout_percent=self.payout_percent,
            revenue_type=self.revenue_type,
            revenue=self.revenue,
            revenue_percent=self.revenue_percent,
        )
        if problems:
            raise ValidationError(problems)

    @property
    def payout_terms(self) -> str:
        """The affiliate's payout in words: "2.50 USD", "12.5% of the sale"."""
        return payout_terms(self)

    def validate_constraints(self, exclude=None):
        # The case-insensitive uniqueness is an expression constraint, which model
        # validation reports without naming a field; say it in the user's terms instead.
        if self.offer_id and self.value:
            clash = Goal.objects.filter(offer_id=self.offer_id, value__iexact=self.value).exclude(pk=self.pk)
            if clash.exists():
                raise ValidationError({"value": "This offer already has a goal with this value."})
        super().validate_constraints(exclude=exclude)


class GoalCountryPayout(models.Model):
    """A goal's amounts for the conversions of one country's visitors (the country of the click):
    they take the place of the goal's fixed amounts and percents, under the goal's payout and
    revenue types and currency (offers.payouts)."""

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="country_payouts")
    country = models.CharField(
        max_length=2, validators=[validate_country_code], help_text="ISO 3166-1 alpha-2, e.g. US."
    )
    payout = models.DecimalField(
        "affiliate payout", max_digits=14, decimal_places=4, default=0, validators=[MinValueValidator(0)]
    )
    payout_percent = models.DecimalField(
        "payout percent",
        max_digits=7,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_PERCENT)],
    )
    revenue = models.DecimalField(
        "advertiser revenue", max_digits=14, decimal_places=4, default=0, validators=[MinValueValidator(0)]
    )
    revenue_percent = models.DecimalField(
        "revenue percent",
        max_digits=7,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_PERCENT)],
    )

    class Meta:
        ordering = ["goal", "country"]
        constraints = [
            models.UniqueConstraint(fields=["goal", "country"], name="goal_country_payout_unique"),
            models.CheckConstraint(
                condition=models.Q(payout__gte=0, revenue__gte=0), name="goal_country_amounts_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    payout_percent__gte=0,
                    payout_percent__lte=MAX_PERCENT,
                    revenue_percent__gte=0,
                    revenue_percent__lte=MAX_PERCENT,
                ),
                name="goal_country_percents_in_range",
            ),
        ]

    def __str__(self):
        return f"{self.goal} in {self.country}"


# What a manager edits of a goal, in the admin's rows and the manager API alike: each side's type
# beside its fixed amount and percent (offers.payouts).
GOAL_FIELDS = [
    "value",
    "title",
    "payout_type",
    "payout",
    "payout_percent",
    "revenue_type",
    "revenue",
    "revenue_percent",
    "currency",
    "default_status",
]


class Affiliate(models.Model):
    Status = AffiliateStatus

    # Public and editable for the same reason as Offer.offer_id: migrated links keep working.
    pid = models.PositiveIntegerField(
        "pid",
        unique=True,
        validators=public_id_validators,
        help_text="Public affiliate id used in tracking links.",
    )
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="affiliate")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    consider_global_postback = models.BooleanField(
        default=False,
        help_text="Also fire global postbacks when an offer has local postbacks but none of them matched.",
    )
    signing_secret = models.CharField(
        max_length=128, blank=True, help_text="When set, every postback request carries an HMAC signature."
    )
    alert_emails = models.BooleanField(
        "alert emails",
        default=True,
        help_text="Email the affiliate when one of its postbacks starts failing, is disabled or recovers.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pid"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pid__range=(1, MAX_PUBLIC_ID)), name="affiliate_pid_range"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=AffiliateStatus.values), name="affiliate_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.pid} {self.user.get_username()}"

    def save(self, *args, **kwargs):
        if self.pid is None:
            self.pid = next_public_number(Affiliate, "pid")
        super().save(*args, **kwargs)

    @property
    def is_active(self):
        return self.status == self.Status.ACTIVE


class OfferAccess(models.Model):
    """An affiliate's access to a private offer: requested by the affiliate, decided by a manager."""

    Status = AccessStatus

    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="offer_accesses")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="accesses")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "offer access"
        verbose_name_plural = "offer access"
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(fields=["affiliate", "offer"], name="offer_access_unique_per_affiliate"),
            models.CheckConstraint(
                condition=models.Q(status__in=AccessStatus.values),
                name="offer_access_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.affiliate} -> {self.offer}: {self.status}"
