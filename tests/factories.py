from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from conversions.click_values import click_values
from conversions.models import Conversion, ConversionEvent, ServerPostback
from offers.choices import ConversionStatus
from offers.models import Advertiser, Affiliate, Goal, Offer, OfferAccess
from postbacks.models import Delivery, DeliveryAttempt, Postback
from tracking.models import Click, new_click_id

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


class ClickFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Click

    # Of the click's time, as tracking.accept makes it: lookups by click id read that time's rows.
    click_id = factory.LazyAttribute(lambda click: new_click_id(at=click.created_at.timestamp()))
    offer = factory.SubFactory(OfferFactory)
    affiliate = factory.SubFactory(AffiliateFactory)
    created_at = factory.LazyFunction(timezone.now)


class ConversionFactory(factory.django.DjangoModelFactory):
    """A pending conversion on the offer's first goal, paid as the goal says, without a click.

    `created_at=...` backdates it (the field is set on insert otherwise)."""

    class Meta:
        model = Conversion
        skip_postgeneration_save = True

    offer = factory.SubFactory(OfferFactory)
    affiliate = factory.SubFactory(AffiliateFactory)
    click = None
    # What the conversion keeps of its click, as conversions.intake fills it.
    click_values = factory.LazyAttribute(
        lambda conversion: click_values(conversion.click) if conversion.click is not None else {}
    )
    goal = factory.LazyAttribute(lambda conversion: conversion.offer.goals.order_by("pk").first())
    status = ConversionStatus.PENDING
    payout = factory.LazyAttribute(lambda conversion: conversion.goal.payout)
    revenue = factory.LazyAttribute(lambda conversion: conversion.goal.revenue)
    currency = factory.LazyAttribute(lambda conversion: conversion.goal.currency)

    @factory.post_generation
    def created_at(conversion, create, extracted, **kwargs):
        if create and extracted is not None:
            Conversion.objects.filter(pk=conversion.pk).update(created_at=extracted)
            conversion.created_at = extracted


class ServerPostbackFactory(factory.django.DjangoModelFactory):
    """An accepted advertiser postback; `received_at=...` backdates it like ConversionFactory."""

    class Meta:
        model = ServerPostback
        skip_postgeneration_save = True

    source = ServerPostback.Source.POSTBACK
    method = "GET"
    query = "goal=1"
    outcome = ServerPostback.Outcome.CREATED
    http_status = 200
    message = "ok"
    conversion = factory.SubFactory(ConversionFactory)

    @factory.post_generation
    def received_at(postback, create, extracted, **kwargs):
        if create and extracted is not None:
            ServerPostback.objects.filter(pk=postback.pk).update(received_at=extracted)
            postback.received_at = extracted


class PostbackFactory(factory.django.DjangoModelFactory):
    """A global GET postback firing on any status; pass `offer=` (and `goal=`) for a local one."""

    class Meta:
        model = Postback

    affiliate = factory.SubFactory(AffiliateFactory)
    url = "http://127.0.0.1:9/postback?click={sub1}&status={status}"


class ConversionEventFactory(factory.django.DjangoModelFactory):
    """A conversion's creation event, written directly: no postbacks are selected for it."""

    class Meta:
        model = ConversionEvent

    conversion = factory.SubFactory(ConversionFactory)
    kind = ConversionEvent.Kind.CREATED
    new_status = factory.LazyAttribute(lambda event: event.conversion.status)
    source = ConversionEvent.Source.POSTBACK


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A pending delivery of an affiliate's postback for a conversion of the same affiliate, due
    now; `created_at=...` backdates it like ConversionFactory."""

    class Meta:
        model = Delivery
        skip_postgeneration_save = True

    affiliate = factory.SubFactory(AffiliateFactory)
    postback = factory.SubFactory(PostbackFactory, affiliate=factory.SelfAttribute("..affiliate"))
    conversion = factory.SubFactory(ConversionFactory, affiliate=factory.SelfAttribute("..affiliate"))
    event = factory.SubFactory(ConversionEventFactory, conversion=factory.SelfAttribute("..conversion"))
    url = factory.LazyAttribute(
        lambda delivery: f"http://127.0.0.1:9/postback?conversion={delivery.conversion.conversion_id}"
    )
    host = "127.0.0.1"
    next_attempt_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def created_at(delivery, create, extracted, **kwargs):
        if create and extracted is not None:
            Delivery.objects.filter(pk=delivery.pk).update(created_at=extracted)
            delivery.created_at = extracted


def failed_delivery_with_attempt(
    *, affiliate, error: str, url: str = "http://127.0.0.1:8399/pb?c=1"
) -> Delivery:
    """A delivery that failed for good on its one attempt, which got no answer but `error`."""
    delivery = DeliveryFactory(
        affiliate=affiliate,
        url=url,
        state=Delivery.State.FAILED,
        attempts=1,
        http_code=0,
        error=error,
        next_attempt_at=None,
    )
    DeliveryAttempt.objects.create(
        delivery=delivery, started_at=timezone.now(), url=url, http_code=0, error=error, duration_ms=3
    )
    return delivery
