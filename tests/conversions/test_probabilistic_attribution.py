"""Probabilistic attribution (README, "Conversions"): a postback without a click id but with
`offer_id` and `pid` is the affiliate's, linked to the affiliate's latest click on the offer from
the postback's `ip` (and `ua`) inside the click lifetime, and made unique by `action_id` only."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from conversions.models import Conversion
from tests.factories import AffiliateFactory, OfferAccessFactory, OfferFactory
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

IP = "198.51.100.9"


@pytest.fixture
def offer():
    return OfferFactory(click_lifetime_days=5)


def click(client, offer, affiliate, sub1, ip=IP, ua="Browser/1.0", **params) -> str:
    link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1={sub1}&format=json"
    if params:
        link += "&" + urlencode(params)
    return client.get(link, REMOTE_ADDR=ip, HTTP_USER_AGENT=ua).json()["click_id"]


def postback(client, offer, affiliate, **params):
    return client.get("/postback?" + urlencode({"offer_id": offer.offer_id, "pid": affiliate.pid, **params}))


def created(response) -> Conversion:
    assert response.status_code == 200 and response.json()["message"] == "ok", response.json()
    return Conversion.objects.get(conversion_id=response.json()["conversion_id"])


def age(click_id, **delta):
    Click.objects.filter(click_id=click_id).update(created_at=timezone.now() - timedelta(**delta))


def test_a_probabilistic_conversion_is_the_affiliates_on_the_offer(client, offer, affiliate):
    conversion = created(postback(client, offer, affiliate, sub3="three", platform="android"))
    assert (conversion.offer, conversion.affiliate, conversion.click) == (offer, affiliate, None)
    assert conversion.integration_method == "probabilistic"
    assert (conversion.sub3, conversion.extra) == ("three", {"platform": "android"})
    assert [conversion.sub1, conversion.sub2, conversion.sub8] == ["", "", ""]


def test_the_click_still_inside_the_lifetime_is_linked(client, offer, affiliate):
    linked = click(client, offer, affiliate, "edge")
    age(linked, days=5, minutes=-1)
    conversion = created(postback(client, offer, affiliate, ip=IP))
    assert conversion.click.click_id == linked and conversion.sub1 == "edge"


def test_a_click_older_than_the_lifetime_is_not_linked(client, offer, affiliate):
    age(click(client, offer, affiliate, "old"), days=5, minutes=1)
    conversion = created(postback(client, offer, affiliate, ip=IP, sub1="own"))
    assert conversion.click is None and conversion.sub1 == "own"


def test_the_latest_click_from_the_ip_is_linked_not_the_first(client, offer, affiliate):
    older = click(client, offer, affiliate, "older")
    newer = click(client, offer, affiliate, "newer")
    age(older, hours=2)
    age(newer, hours=1)
    assert created(postback(client, offer, affiliate, ip=IP)).click.click_id == newer


def test_only_the_affiliates_own_clicks_on_the_offer_from_that_ip_are_linked(client, offer, affiliate):
    own = click(client, offer, affiliate, "own")
    age(own, hours=1)
    click(client, offer, AffiliateFactory(), "other-affiliate")
    click(client, OfferFactory(), affiliate, "other-offer")
    click(client, offer, affiliate, "other-ip", ip="198.51.100.10")
    assert created(postback(client, offer, affiliate, ip=IP)).click.click_id == own


def test_a_test_click_is_never_linked(client, offer, affiliate):
    real = click(client, offer, affiliate, "real")
    age(real, hours=1)
    Click.objects.filter(click_id=click(client, offer, affiliate, "test")).update(is_test=True)
    conversion = created(postback(client, offer, affiliate, ip=IP))
    assert conversion.click.click_id == real and not conversion.is_test


def test_with_a_user_agent_only_a_click_with_the_same_user_agent_is_linked(client, offer, affiliate):
    phone = click(client, offer, affiliate, "phone", ua="Phone/2")
    age(phone, hours=1)
    click(client, offer, affiliate, "desktop", ua="Desktop/3")
    assert created(postback(client, offer, affiliate, ip=IP, ua="Phone/2")).click.click_id == phone
    assert created(postback(client, offer, affiliate, ip=IP, ua="Tablet/4")).click is None
    linked = created(postback(client, offer, affiliate, ip=IP)).click
    assert linked.sub1 == "desktop"


def test_a_long_user_agent_is_compared_in_its_first_512_characters(client, offer, affiliate):
    long_agent = "A" * 512
    linked = click(client, offer, affiliate, "long", ua=long_agent)
    conversion = created(postback(client, offer, affiliate, ip=IP, ua=long_agent))
    assert conversion.click.click_id == linked


def test_an_ip_written_differently_still_finds_the_click(client, offer, affiliate):
    linked = click(client, offer, affiliate, "v6", ip="2001:db8::7")
    conversion = created(postback(client, offer, affiliate, ip="2001:DB8:0::7"))
    assert conversion.click.click_id == linked and conversion.ip == "2001:db8::7"


def test_a_postback_whose_ip_is_no_address_links_no_click(client, offer, affiliate):
    click(client, offer, affiliate, "any")
    conversion = created(postback(client, offer, affiliate, ip="not-an-ip", sub1="own"))
    assert (conversion.click, conversion.sub1, conversion.ip) == (None, "own", None)


def test_without_an_ip_no_click_is_linked(client, offer, affiliate):
    click(client, offer, affiliate, "any")
    assert created(postback(client, offer, affiliate)).click is None


def test_without_an_action_id_each_probabilistic_postback_is_a_new_conversion(client, offer, affiliate):
    first = created(postback(client, offer, affiliate))
    second = created(postback(client, offer, affiliate))
    assert first.pk != second.pk and Conversion.objects.count() == 2


def test_with_an_action_id_a_probabilistic_postback_is_repeated_not_doubled(client, offer, affiliate):
    made = created(postback(client, offer, affiliate, action_id="P-9"))
    again = postback(client, offer, affiliate, action_id="P-9")
    assert again.json() == {"status": 1, "message": "duplicate", "conversion_id": made.conversion_id}


def test_a_private_offer_needs_the_affiliates_approved_access(client, affiliate):
    private = OfferFactory(visibility="private")
    response = postback(client, private, affiliate)
    assert (response.status_code, response.json()["message"]) == (
        403,
        "Affiliate has no access to this offer",
    )
    OfferAccessFactory(offer=private, affiliate=affiliate, status="approved")
    assert created(postback(client, private, affiliate)).offer == private


def test_a_paused_offer_is_reported_disabled_before_any_access_question(client, affiliate):
    paused = OfferFactory(visibility="private", status="paused")
    response = postback(client, paused, affiliate)
    assert (response.status_code, response.json()["message"]) == (403, "Offer disabled")


@pytest.mark.parametrize("pid", ["", "abc", "1234567890", "١"])
def test_a_pid_that_is_no_public_id_is_an_unknown_affiliate(client, offer, pid):
    response = client.get("/postback?" + urlencode({"offer_id": offer.offer_id, "pid": pid}))
    if pid == "":
        assert response.json()["message"] == "Missing mandatory parameters offer_id and pid"
    else:
        assert (response.status_code, response.json()["message"]) == (404, "Affiliate not found")


MISSING_PROBABILISTIC = (400, "Missing mandatory parameters offer_id and pid")


def test_an_offer_id_alone_is_a_probabilistic_postback_missing_its_pid(client, offer):
    response = client.get(f"/postback?offer_id={offer.offer_id}")
    assert (response.status_code, response.json()["message"]) == MISSING_PROBABILISTIC


def test_a_pid_alone_is_a_probabilistic_postback_missing_its_offer_id(client, affiliate):
    response = client.get(f"/postback?pid={affiliate.pid}")
    assert (response.status_code, response.json()["message"]) == MISSING_PROBABILISTIC
