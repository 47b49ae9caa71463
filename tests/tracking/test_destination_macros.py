"""The offer's URLs on a click: Affise's destination macros filled in, unknown names left as they
are (and named to the manager on save), and deeplinks only where the offer allows them."""

import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.factories import AffiliateFactory, OfferFactory
from tracking.destination import MACROS, VISITOR_CONTEXT, unknown
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
# A visitor in Mountain View on an iPhone, as the test client sends it.
US_IPHONE = {"REMOTE_ADDR": "8.8.8.8", "HTTP_USER_AGENT": IPHONE, "HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
VISITOR_TEMPLATE = "https://adv.example/?" + "&".join(f"{name}={{{name}}}" for name in VISITOR_CONTEXT)


def landing(client, offer, affiliate, query="", **headers):
    """The query of the URL the visitor is sent to, and the response."""
    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}{query}", **headers)
    assert response.status_code == 302, response.content
    return response, response["Location"]


def values_of(location):
    return {
        name: values[0] for name, values in parse_qs(urlsplit(location).query, keep_blank_values=True).items()
    }


def test_every_macro_of_the_table_and_its_aliases_is_filled_on_a_click(client):
    names = [*MACROS, "click_id", "device_ua"]
    template = "https://adv.example/?" + "&".join(f"{name}={{{name}}}" for name in names)
    assert unknown(template) == []
    _, location = landing(client, OfferFactory(destination_url=template), AffiliateFactory(), **US_IPHONE)
    assert "{" not in location and "%7B" not in location
    values = values_of(location)
    assert set(values) == set(names)
    # From this visitor, every macro of the visitor context has a value.
    assert all(values[name] for name in VISITOR_CONTEXT), values


def test_an_offer_url_written_for_affise_gets_the_click_id_under_both_spellings(client):
    offer = OfferFactory(destination_url="https://adv.example/?click_id={click_id}&cid={clickid}")
    affiliate = AffiliateFactory()
    response, location = landing(client, offer, affiliate)
    click = Click.objects.get()
    assert values_of(location) == {"click_id": click.click_id, "cid": click.click_id}


def test_the_offer_advertiser_and_affiliate_are_named_in_the_destination(client):
    offer = OfferFactory(
        title="Summer sale & more",
        destination_url="https://adv.example/?o={offer_name}&a={advertiser_id}&n={affiliate_name}&p={pid}&i={offer_id}",
    )
    affiliate = AffiliateFactory(
        user__username="rocket-login", user__first_name="Rocket", user__last_name="Media"
    )
    _, location = landing(client, offer, affiliate)
    assert values_of(location) == {
        "o": "Summer sale & more",
        "a": str(offer.advertiser_id),
        "n": "Rocket Media",
        "p": str(affiliate.pid),
        "i": str(offer.offer_id),
    }


def test_time_macros_give_the_click_moment_in_utc(client):
    offer = OfferFactory(
        destination_url="https://adv.example/?t={time}&d={date}&do={date_only}&tp={time_petty}"
    )
    before = int(time.time())
    _, location = landing(client, offer, AffiliateFactory())
    after = int(time.time())
    values = values_of(location)
    moment = int(values["t"])
    assert before <= moment <= after
    stamp = datetime.fromtimestamp(moment, UTC)
    assert values["d"] == f"{stamp:%Y-%m-%d %H:%M:%S}"
    assert (values["do"], values["tp"]) == (f"{stamp:%Y-%m-%d}", f"{stamp:%H:%M:%S}")
    assert Click.objects.get().created_at.timestamp() == pytest.approx(moment, abs=1)


def test_rand_is_a_new_uuid_on_every_click(client):
    offer = OfferFactory(destination_url="https://adv.example/?r={rand}")
    affiliate = AffiliateFactory()
    first = values_of(landing(client, offer, affiliate)[1])["r"]
    second = values_of(landing(client, offer, affiliate)[1])["r"]
    assert uuid.UUID(first).version == 4 and first != second


def test_visitor_and_link_values_reach_the_destination(client):
    offer = OfferFactory(
        destination_url=(
            "https://adv.example/?ua={device_ua}&u={ua}&ref={referrer}&imp={impression_id}&aimp={aimp_id}"
            "&s9={sub9}&s30={sub30}&os={os_id}&fb={fbclid}"
        )
    )
    response = client.get(
        f"/click?pid={AffiliateFactory().pid}&offer_id={offer.offer_id}&imp_id=IMP-1&sub9=nine&sub30=thirty"
        "&os_id=ios&fbclid=FB",
        HTTP_USER_AGENT="Agent/1.0",
        HTTP_REFERER="https://news.example/story?id=3",
    )
    assert values_of(response["Location"]) == {
        "ua": "Agent/1.0",
        "u": "Agent/1.0",
        "ref": "https://news.example/story?id=3",
        "imp": "IMP-1",
        "aimp": "",
        "s9": "nine",
        "s30": "thirty",
        "os": "ios",
        "fb": "FB",
    }


def test_a_click_from_a_us_iphone_fills_the_visitor_context_macros(client):
    offer = OfferFactory(destination_url=VISITOR_TEMPLATE + "&ip={ip}")
    _, location = landing(client, offer, AffiliateFactory(), **US_IPHONE)
    assert values_of(location) == {
        "geo": "US",
        "region": "California",
        "city": "Mountain View",
        "os": "iOS",
        "os_version": "17.2",
        "device_type": "mobile",
        "device_model": "iPhone",
        "browser": "Mobile Safari",
        "language": "en-US",
        "ip": "8.8.8.8",
    }
    click = Click.objects.get()
    assert (click.country, click.os_family, click.device_type, click.language) == (
        "US",
        "iOS",
        "mobile",
        "en-US",
    )


def test_a_click_from_germany_over_ipv6_on_an_android_tablet_fills_them_too(client):
    offer = OfferFactory(
        destination_url="https://adv.example/?g={geo}&c={city}&os={os}&d={device_type}&l={language}"
    )
    _, location = landing(
        client,
        offer,
        AffiliateFactory(),
        REMOTE_ADDR="2a00:1450:4001:80b::200e",
        HTTP_USER_AGENT=ANDROID_TABLET,
        HTTP_ACCEPT_LANGUAGE="de-CH, de;q=0.9",
    )
    assert values_of(location) == {
        "g": "DE",
        "c": "Frankfurt am Main",
        "os": "Android",
        "d": "tablet",
        "l": "de-CH",
    }


def test_a_click_from_a_private_address_without_headers_leaves_what_is_not_known_empty(client):
    _, location = landing(client, OfferFactory(destination_url=VISITOR_TEMPLATE), AffiliateFactory())
    assert values_of(location) == dict.fromkeys(VISITOR_CONTEXT, "")


def test_behind_a_proxy_the_location_is_the_address_the_proxy_forwards(client, settings):
    settings.CLIENT_IP_HEADER = "X-Real-IP"
    offer = OfferFactory(destination_url="https://adv.example/?g={geo}&ip={ip}")
    _, location = landing(
        client, offer, AffiliateFactory(), REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="8.8.8.8"
    )
    assert values_of(location) == {"g": "US", "ip": "8.8.8.8"}
    # Without the setting, anyone could claim a country by sending the header.
    settings.CLIENT_IP_HEADER = ""
    _, location = landing(
        client, offer, AffiliateFactory(), REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="8.8.8.8"
    )
    assert values_of(location) == {"g": "", "ip": "127.0.0.1"}


def test_the_trafficback_url_of_a_refused_visit_gets_its_visitor_context(client):
    offer = OfferFactory(status="paused", trafficback_url="https://fallback.example/?g={geo}&d={device_type}")
    response = client.get(f"/click?pid={AffiliateFactory().pid}&offer_id={offer.offer_id}", **US_IPHONE)
    assert response.status_code == 302
    assert values_of(response["Location"]) == {"g": "US", "d": "mobile"}


def test_the_visitor_context_macros_do_not_clash_with_link_parameters_of_similar_names(client):
    offer = OfferFactory(destination_url="https://adv.example/?os={os}&os_id={os_id}")
    _, location = landing(client, offer, AffiliateFactory(), "&os_id=android&os=spoofed", **US_IPHONE)
    assert values_of(location) == {"os": "iOS", "os_id": "android"}


def test_an_unknown_name_stays_in_the_destination_as_it_is(client):
    offer = OfferFactory(destination_url="https://adv.example/?x={not_a_macro}&c={clickid}")
    _, location = landing(client, offer, AffiliateFactory())
    # The braces are percent-encoded in the Location header, as a URL there must be.
    assert values_of(location)["x"] == "{not_a_macro}"


def test_the_trafficback_url_gets_the_macros_of_the_refused_visit(client):
    offer = OfferFactory(
        status="paused",
        trafficback_url="https://fallback.example/?o={offer_name}&p={pid}&s={sub1}&c={click_id}",
    )
    affiliate = AffiliateFactory()
    response = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&sub1=a%20b")
    assert response.status_code == 302
    assert values_of(response["Location"]) == {"o": offer.title, "p": str(affiliate.pid), "s": "a b", "c": ""}
    assert not Click.objects.exists()


# --- Deeplinks -------------------------------------------------------------------------------------


@pytest.fixture
def deeplink_offer():
    return OfferFactory(
        destination_url="https://shop.example/?cid={clickid}",
        allow_deeplinks=True,
        deeplink_domains=["shop.example", "example.org"],
    )


def redirect_of(client, offer, target):
    query = urlencode({"pid": AffiliateFactory().pid, "offer_id": offer.offer_id, "redirect": target})
    response = client.get(f"/click?{query}")
    assert response.status_code == 302
    return response["Location"]


@pytest.mark.parametrize(
    "target",
    [
        "https://shop.example/category/skirts?color=red",
        "http://shop.example/p/1",
        "https://m.shop.example/p/1",
        "https://example.org/",
        "https://SHOP.example/p/2",
    ],
)
def test_a_deeplink_on_an_allowed_domain_replaces_the_offer_url(client, deeplink_offer, target):
    assert redirect_of(client, deeplink_offer, target) == target
    assert Click.objects.count() == 1


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "https://shop.example.evil.example/",
        "https://evilshop.example/",
        "https://shop.example@evil.example/",
        "https://user@shop.example/p/1",
        "https://evil.example\\@shop.example/",
        "javascript:alert(1)//shop.example",
        "//shop.example/p",
        "ftp://shop.example/file",
        "https://shop.example:notaport/",
        "https://shöp.example/",
        "https://evil.example%2f.shop.example/",
        "https://evil.example%5c.shop.example/",
        "https://shop.example./",
        "https://shop.example/caf\u00e9",
        "https://shop.example/a\\b",
        "",
    ],
)
def test_any_other_deeplink_goes_to_the_offer_url(client, deeplink_offer, target):
    location = redirect_of(client, deeplink_offer, target)
    assert location.startswith("https://shop.example/?cid=")


def test_an_offer_that_does_not_allow_deeplinks_ignores_them(client):
    offer = OfferFactory(
        destination_url="https://shop.example/?cid={clickid}", deeplink_domains=["shop.example"]
    )
    assert redirect_of(client, offer, "https://shop.example/p/1").startswith("https://shop.example/?cid=")


def test_an_offer_url_with_the_deeplink_macro_gets_the_deeplink_and_keeps_the_click_id(client):
    offer = OfferFactory(
        destination_url="https://tracker.example/c?cid={clickid}&dl={deeplink}",
        allow_deeplinks=True,
        deeplink_domains=["shop.example"],
    )
    location = redirect_of(client, offer, "https://shop.example/p/1?x=1&y=2")
    assert values_of(location) == {
        "cid": Click.objects.get().click_id,
        "dl": "https://shop.example/p/1?x=1&y=2",
    }
    refused = redirect_of(client, offer, "https://evil.example/")
    assert values_of(refused)["dl"] == ""


def test_a_deeplink_longer_than_an_offer_url_may_be_is_refused(client, deeplink_offer):
    redirect = "https://shop.example/" + "p" * 2048
    query = urlencode(
        {"pid": AffiliateFactory().pid, "offer_id": deeplink_offer.offer_id, "redirect": redirect}
    )
    response = client.get(f"/click?{query}")
    assert response.status_code == 400
    assert b"Parameter redirect is longer than 2048 characters." in response.content


def test_a_deeplink_of_exactly_the_longest_length_is_followed(client, deeplink_offer):
    target = "https://shop.example/" + "p" * (2048 - len("https://shop.example/"))
    assert len(target) == 2048
    assert redirect_of(client, deeplink_offer, target) == target


def test_the_offer_page_tells_affiliates_where_deeplinks_may_lead(portal, deeplink_offer):
    page = portal.get(f"/offers/{deeplink_offer.offer_id}/").content.decode()
    assert "<dt>Deeplinks</dt>" in page and "<code>shop.example</code>, <code>example.org</code>" in page
    closed = OfferFactory(deeplink_domains=["shop.example"])
    assert "<dt>Deeplinks</dt>" not in portal.get(f"/offers/{closed.offer_id}/").content.decode()
