"""The offers an affiliate may filter their figures by (conversions.selectors.offers_for_statistics)
are the same on the Statistics and Conversions pages, the postback log and the statistics API: those
they may run, and those they have clicks or conversions on."""

import pytest

from offers.models import Offer
from tests.factories import ConversionFactory, OfferAccessFactory, OfferFactory
from tests.stats.rollup import at, click_row, write_clicks

pytestmark = pytest.mark.django_db

PAGES = ["/statistics/", "/statistics/conversions/", "/statistics/postbacks/"]


def _offered(portal, url) -> list[int]:
    field = portal.get(url).context["form"].fields["offer"]
    choices = field.widget.choices if url == "/statistics/" else field.choices
    return [int(value) for value, _ in choices if value != ""]


def test_every_page_and_the_api_offer_the_same_offers(portal, affiliate_api, affiliate, other_affiliate):
    paused = {"status": Offer.Status.PAUSED}
    public = OfferFactory()
    approved = OfferAccessFactory(affiliate=affiliate, status="approved").offer
    OfferAccessFactory(affiliate=affiliate, status="pending")
    OfferAccessFactory(affiliate=other_affiliate, status="approved")
    clicked_once = OfferFactory(**paused)
    write_clicks(click_row(offer=clicked_once, affiliate=affiliate, at=at("2025-05-01")))
    converted_once = OfferFactory(**paused)
    ConversionFactory(affiliate=affiliate, offer=converted_once)
    OfferFactory(**paused)
    expected = sorted(offer.offer_id for offer in [public, approved, clicked_once, converted_once])

    for url in PAGES:
        assert _offered(portal, url) == expected, url
    for offer in Offer.objects.all():
        answer = affiliate_api.get("/api/v1/stats/", {"offer": offer.offer_id})
        assert answer.status_code == (200 if offer.offer_id in expected else 400), offer
