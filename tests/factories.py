from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from offers.models import Advertiser, Affiliate, Goal, Offer, OfferAccess

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)


class ManagerFactory(UserFactory):
    is_staff = True
    is_superuser = True


class AdvertiserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Advertiser

    name = factory.Sequence(lambda n: f"Advertiser {n}")


class OfferFactory(factory.django.DjangoModelFactory):
    """An active public offer with one goal, `1` (pass goals=[] to skip it)."""

    class Meta:
        model = Offer
        skip_postgeneration_save = True

    advertiser = factory.SubFactory(AdvertiserFactory)
    title = factory.Sequence(lambda n: f"Offer {n}")
    destination_url = "https://advertiser.example/landing?click_id={clickid}"

    @factory.post_generation
    def goals(offer, create, extracted, **kwargs):
        if not create:
            return
        for fields in [{"value": "1", "title": "Conversion"}] if extracted is None else extracted:
            GoalFactory(offer=offer, **fields)


class GoalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Goal

    offer = factory.SubFactory(OfferFactory, goals=[])
    value = factory.Sequence(lambda n: f"goal{n}")
    title = factory.Sequence(lambda n: f"Goal {n}")
    payout = Decimal("2.5000")
    revenue = Decimal("4.0000")


class AffiliateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Affiliate

    user = factory.SubFactory(UserFactory)


class OfferAccessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OfferAccess

    affiliate = factory.SubFactory(AffiliateFactory)
    offer = factory.SubFactory(OfferFactory, visibility=Offer.Visibility.PRIVATE)
