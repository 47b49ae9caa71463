from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from offers.choices import ConversionStatus
from offers.models import Advertiser, Affiliate, Offer
from offers.services import advertiser_create, affiliate_create, offer_save_with_goals

MANAGER = ("manager", "manager-demo-pass")
AFFILIATES = [(1, "partner1", "partner1-demo-pass"), (2, "partner2", "partner2-demo-pass")]
NO_PERCENTS = {"payout_percent": Decimal(0), "revenue_percent": Decimal(0)}
OFFERS = [
    {
        "offer_id": 1,
        "title": "Fitness App Install (iOS, Android)",
        "description": "Pay per install of the fitness app. Mobile traffic only; US and DE pay more.",
        "destination_url": "https://example.com/fitness?click_id={clickid}&pid={pid}&sub1={sub1}&geo={geo}",
        "visibility": Offer.Visibility.PUBLIC,
        "hold_period_days": 0,
        "target_device_types": ["mobile", "tablet"],
        "goals": [
            {
                "value": "install",
                "title": "Install",
                "payout": Decimal("1.50"),
                "revenue": Decimal("2.00"),
                "country_payouts": [
                    {"country": country, "payout": payout, "revenue": revenue, **NO_PERCENTS}
                    for country, payout, revenue in [
                        ("US", Decimal("3"), Decimal("4")),
                        ("DE", Decimal("2.5"), Decimal("3.2")),
                    ]
                ],
            },
            {
                "value": "subscribe",
                "title": "Subscription",
                "payout": Decimal("12"),
                "revenue": Decimal("18"),
            },
        ],
    },
    {
        "offer_id": 2,
        "title": "Online Store First Purchase",
        "description": "A first order of at least 20 EUR.",
        "destination_url": "https://example.com/store?aff_click={clickid}&aff={pid}",
        "visibility": Offer.Visibility.PUBLIC,
        "hold_period_days": 14,
        "goals": [
            {
                "value": "1",
                "title": "Purchase",
                "payout": Decimal("8"),
                "revenue": Decimal("10"),
                "currency": "EUR",
            },
        ],
    },
    {
        "offer_id": 3,
        "title": "Crypto Exchange Sign-up (private)",
        "description": "Registration with verified e-mail. Access on request.",
        "destination_url": "https://example.com/exchange?cid={clickid}&s1={sub1}&s2={sub2}",
        "visibility": Offer.Visibility.PRIVATE,
        "hold_period_days": 7,
        "goals": [
            {"value": "reg", "title": "Registration", "payout": Decimal("25"), "revenue": Decimal("40")},
        ],
    },
    {
        "offer_id": 4,
        "title": "Fashion Store Revenue Share",
        "description": "A share of every order. Deeplinks to any product page of the store.",
        "destination_url": "https://example.com/shop?click_id={click_id}&pub={pid}&ts={time}",
        "visibility": Offer.Visibility.PUBLIC,
        "hold_period_days": 30,
        "allow_deeplinks": True,
        "deeplink_domains": ["example.com"],
        "goals": [
            {
                "value": "sale",
                "title": "Sale",
                "payout_type": "percent",
                "payout": Decimal("0"),
                "payout_percent": Decimal("8"),
                "revenue_type": "percent",
                "revenue": Decimal("0"),
                "revenue_percent": Decimal("12"),
            },
        ],
    },
]


class Command(BaseCommand):
    help = "Create (or reset) a small demo network and print its logins. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (the demo passwords are public)."
        )

    @transaction.atomic
    def handle(self, *args, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "demo_data creates logins with well-known passwords; pass --force to run it with DEBUG off."
            )
        self._manager()
        advertiser = Advertiser.objects.filter(name="Demo Advertiser").first() or advertiser_create(
            name="Demo Advertiser"
        )
        for spec in OFFERS:
            self._offer(advertiser, dict(spec))
        for pid, username, password in AFFILIATES:
            self._affiliate(pid, username, password)
        self._print_logins()

    def _manager(self):
        username, password = MANAGER
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()

    def _offer(self, advertiser, spec):
        goals = [
            {"currency": "USD", "default_status": ConversionStatus.PENDING, **goal}
            for goal in spec.pop("goals")
        ]
        offer = Offer.objects.filter(offer_id=spec["offer_id"]).first() or Offer(advertiser=advertiser)
        for name, value in spec.items():
            setattr(offer, name, value)
        offer.status = Offer.Status.ACTIVE
        offer_save_with_goals(offer=offer, goals=goals)

    def _affiliate(self, pid, username, password):
        affiliate = Affiliate.objects.filter(user__username=username).first()
        if affiliate is None:
            affiliate_create(username=username, email=f"{username}@example.com", password=password, pid=pid)
            return
        affiliate.user.set_password(password)
        affiliate.user.save()

    def _print_logins(self):
        self.stdout.write("Demo logins:")
        self.stdout.write(f"  manager (admin panel /admin/): {MANAGER[0]} / {MANAGER[1]}")
        for pid, username, password in AFFILIATES:
            self.stdout.write(f"  affiliate pid {pid} (portal /): {username} / {password}")
