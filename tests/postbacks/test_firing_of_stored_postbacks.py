"""The firing rule over stored postbacks: a batch of conversion events of several affiliates
and offers, each getting its own affiliate's postbacks, in two queries."""

import pytest

from conversions.models import ConversionEvent
from postbacks.firing import postbacks_for
from postbacks.models import Postback
from tests.factories import (
    AffiliateFactory,
    ConversionEventFactory,
    ConversionFactory,
    OfferFactory,
    PostbackFactory,
)

pytestmark = pytest.mark.django_db


def stored_event(conversion):
    event = ConversionEventFactory(conversion=conversion)
    return ConversionEvent.objects.select_related("conversion").get(pk=event.pk)


def test_each_event_of_a_batch_gets_its_own_affiliates_postbacks_in_two_queries(django_assert_num_queries):
    offer, other_offer = OfferFactory(), OfferFactory()
    first, second, silent = AffiliateFactory(), AffiliateFactory(), AffiliateFactory()
    first_local = PostbackFactory(affiliate=first, offer=offer)
    first_global = PostbackFactory(affiliate=first)
    second_global = PostbackFactory(affiliate=second)
    PostbackFactory(affiliate=second, offer=offer)  # another offer's local postback: not this one's
    PostbackFactory(affiliate=second, offer=offer, enabled=False)
    events = [
        stored_event(ConversionFactory(offer=offer, affiliate=first)),
        stored_event(ConversionFactory(offer=other_offer, affiliate=first)),
        stored_event(ConversionFactory(offer=other_offer, affiliate=second)),
        stored_event(ConversionFactory(offer=offer, affiliate=silent)),
    ]

    with django_assert_num_queries(2):
        fired = postbacks_for(events)
        # The affiliates come with the postbacks: their settings and secrets are read next.
        affiliates = [postback.affiliate.pid for postbacks in fired for postback in postbacks]

    assert fired == [[first_local], [first_global], [second_global], []]
    assert affiliates == [first.pid, first.pid, second.pid]


def test_a_batch_without_any_postback_costs_one_query(django_assert_num_queries):
    events = [stored_event(ConversionFactory())]
    with django_assert_num_queries(1):
        assert postbacks_for(events) == [[]]


@pytest.mark.parametrize("consider_global", [True, False])
def test_consider_global_is_read_from_the_conversions_affiliate(consider_global):
    offer = OfferFactory()
    affiliate = AffiliateFactory(consider_global_postback=consider_global)
    PostbackFactory(affiliate=affiliate, offer=offer, status="approved")
    global_ = PostbackFactory(affiliate=affiliate)
    event = stored_event(ConversionFactory(offer=offer, affiliate=affiliate))
    assert postbacks_for([event]) == [[global_] if consider_global else []]


def test_a_stored_event_is_matched_by_its_conversions_goal_and_its_own_kind_and_status():
    offer = OfferFactory(
        goals=[
            {"value": "install", "title": "Install", "payout": "1"},
            {"value": "sale", "title": "Sale", "payout": "5"},
        ]
    )
    install, sale = offer.goals.order_by("pk")
    affiliate = AffiliateFactory()
    on_sale = PostbackFactory(affiliate=affiliate, offer=offer, goal=sale)
    on_creation = PostbackFactory(affiliate=affiliate, offer=offer, status="created")
    on_approval = PostbackFactory(affiliate=affiliate, offer=offer, status="approved")
    conversion = ConversionFactory(offer=offer, affiliate=affiliate, goal=sale, status=1)
    created = ConversionEventFactory(conversion=conversion, kind="created", new_status=2)
    approved = ConversionEventFactory(
        conversion=conversion, kind="status_changed", old_status=2, new_status=1
    )
    install_conversion = ConversionFactory(offer=offer, affiliate=affiliate, goal=install)
    install_created = ConversionEventFactory(conversion=install_conversion, kind="created", new_status=2)
    events = ConversionEvent.objects.select_related("conversion").filter(
        pk__in=[created.pk, approved.pk, install_created.pk]
    )
    fired = dict(zip(events, postbacks_for(list(events)), strict=True))
    assert set(fired[ConversionEvent.objects.get(pk=created.pk)]) == {on_sale, on_creation}
    assert set(fired[ConversionEvent.objects.get(pk=approved.pk)]) == {on_sale, on_approval}
    assert set(fired[ConversionEvent.objects.get(pk=install_created.pk)]) == {on_creation}


def test_an_events_postbacks_fire_in_the_order_they_were_made_however_the_table_keeps_them():
    offer, affiliate = OfferFactory(), AffiliateFactory()
    made = [PostbackFactory(affiliate=affiliate, offer=offer) for _ in range(3)]
    # A row moved to another affiliate and back is stored anew after the others: PostgreSQL
    # keeps row versions, and reads them in the order it stores them unless told otherwise.
    for owner in (AffiliateFactory(), affiliate):
        Postback.objects.filter(pk=made[0].pk).update(affiliate=owner)
    event = stored_event(ConversionFactory(offer=offer, affiliate=affiliate))
    assert [postback.pk for postback in postbacks_for([event])[0]] == [postback.pk for postback in made]
