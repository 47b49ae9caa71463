"""A network moving from Affise: an offer URL, a tracking link, an advertiser's postback and an
affiliate's postback URL, each written as Affise's help centre documents them, work unchanged.

The examples follow Affise's articles on tracking-link parameters, advertiser tracking URL macros,
Affise postback URL parameters, affiliate postback URL macros, payouts (CPS: "20% for Revenue and
60% for Payouts ... 150$ ... 30$ as Revenue ... 90$ as Payouts") and the pixel integration."""

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from conversions.models import Conversion, ServerPostback
from postbacks.models import Delivery
from tests.factories import AdvertiserFactory, AffiliateFactory, OfferFactory, PostbackFactory
from tests.processes import celery, wait_until
from tracking.models import Click

SECURE = "3f2b8c1d9e7a4b6c5d0e1f2a3b4c5d6e"
# An advertiser tracking URL with Affise's macros, as a manager pastes it into the offer.
AFFISE_OFFER_URL = (
    "https://adv.example/track?aff_click_id={click_id}&pub={pid}&sub={sub1}&s9={sub9}"
    "&ts={time}&d={date_only}&name={offer_name}&r={rand}"
)
# The affiliate postback URL an affiliate's tracker gave them for Affise.
AFFISE_AFFILIATE_POSTBACK = (
    "/postback?cid={sub1}&payout={sum}&currency={currency}&status={status}&txid={transactionid}"
    "&goal={goal}&offer={offerid}&price={order_sum}&date={date}&s30={sub30}"
)


def query_of(url):
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@pytest.fixture
def revshare_offer(db):
    """Offer 131954 with a CPS goal: 20% revenue, 60% payout of the advertiser's sum."""
    return OfferFactory(
        offer_id=131954,
        title="Rocket Shop",
        advertiser=AdvertiserFactory(secure_code=SECURE),
        destination_url=AFFISE_OFFER_URL,
        goals=[
            {
                "value": "sale",
                "title": "Sale",
                "payout_type": "percent",
                "payout": "0",
                "payout_percent": "60",
                "revenue_type": "percent",
                "revenue": "0",
                "revenue_percent": "20",
                "default_status": 2,
            }
        ],
    )


def affise_click(client, offer, affiliate, **subs):
    """The tracking link as Affise builds it, the affiliate's macros replaced by their tracker."""
    query = urlencode({"pid": affiliate.pid, "offer_id": offer.offer_id, **subs})
    response = client.get(f"/click?{query}")
    assert response.status_code == 302
    return response["Location"]


@pytest.mark.django_db
@pytest.mark.usefixtures("direct_writes")
def test_an_affise_offer_url_gets_every_value_the_advertiser_needs(client, revshare_offer):
    affiliate = AffiliateFactory(pid=5159)
    landing = query_of(affise_click(client, revshare_offer, affiliate, sub1="tracker-77", sub9="nine"))
    click = Click.objects.get()
    assert landing["aff_click_id"] == click.click_id and landing["pub"] == "5159"
    assert (landing["sub"], landing["s9"], landing["name"]) == ("tracker-77", "nine", "Rocket Shop")
    assert int(landing["ts"]) == int(click.created_at.timestamp())
    assert landing["d"] == f"{click.created_at:%Y-%m-%d}" and len(landing["r"]) == 36


@pytest.mark.django_db
@pytest.mark.usefixtures("direct_writes")
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_affise_advertiser_postback_records_a_revshare_conversion(client, revshare_offer, method):
    landing = query_of(affise_click(client, revshare_offer, AffiliateFactory()))
    params = {
        "clickid": landing["aff_click_id"].upper(),
        "action_id": "ORDER-1",
        "goal": "sale",
        "sum": "150",
        "status": "1",
        "secure": SECURE,
    }
    if method == "GET":
        response = client.get("/postback?" + urlencode(params))
    else:
        response = client.post("/postback/", params)
    assert response.status_code == 200 and response.json()["message"] == "ok"
    conversion = Conversion.objects.get()
    assert (str(conversion.revenue), str(conversion.payout)) == ("30.0000", "90.0000")
    assert (conversion.order_sum, conversion.order_currency, conversion.status) == (150, "USD", 1)


@pytest.mark.django_db
@pytest.mark.usefixtures("direct_writes")
def test_affise_refusal_texts_come_back_for_the_same_mistakes(client, revshare_offer):
    landing = query_of(affise_click(client, revshare_offer, AffiliateFactory()))
    cases = [
        ({"clickid": landing["aff_click_id"], "sum": "1"}, "Access denied"),
        ({}, "Missing mandatory parameter clickid"),
        ({"clickid": "broken"}, "Click_id: invalid format"),
        ({"offer_id": "131954"}, "Missing mandatory parameters offer_id and pid"),
    ]
    for params, message in cases:
        assert client.get("/postback?" + urlencode(params)).json() == {"status": 2, "message": message}
    assert ServerPostback.objects.filter(outcome="rejected").count() == len(cases)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_an_affiliate_postback_url_written_for_affise_gets_affises_values(
    httpserver, revshare_offer, direct_writes
):
    affiliate = AffiliateFactory()
    PostbackFactory(
        affiliate=affiliate, offer=None, url=httpserver.url_for("/") + AFFISE_AFFILIATE_POSTBACK[1:]
    )
    httpserver.expect_request("/postback").respond_with_data("ok")
    visitor = Client()
    landing = query_of(affise_click(visitor, revshare_offer, affiliate, sub1="tracker-77", sub30="last"))

    with celery("worker", "--pool=solo", "--loglevel=INFO", ready_line="ready."):
        answer = visitor.get(
            "/postback?"
            + urlencode(
                {
                    "click_id": landing["aff_click_id"],
                    "action_id": "A-9",
                    "goal": "sale",
                    "sum": "49.99",
                    "secure": SECURE,
                }
            )
        ).json()
        assert answer["message"] == "ok"
        assert wait_until(lambda: len(httpserver.log) == 1)

    conversion = Conversion.objects.get()
    sent = query_of(httpserver.log[0][0].url)
    assert sent == {
        "cid": "tracker-77",
        "payout": "29.99",  # 60% of 49.99, rounded half up to cents
        "currency": "USD",
        "status": "2",
        "txid": "A-9",
        "goal": "sale",
        "offer": "131954",
        "price": "49.99",
        "date": f"{conversion.created_at:%Y-%m-%d %H:%M:%S}",
        "s30": "last",
    }
    assert Delivery.objects.get().state == "succeeded"


@pytest.mark.django_db
@pytest.mark.usefixtures("direct_writes")
def test_the_affise_image_pixel_on_a_thank_you_page_records_the_conversion(client, revshare_offer):
    affise_click(client, revshare_offer, AffiliateFactory())
    response = client.get(
        "/success.jpg?" + urlencode({"offer_id": 131954, "goal": "sale", "sum": "10", "secure": SECURE})
    )
    assert response["Content-Type"] == "image/gif"
    assert str(Conversion.objects.get().payout) == "6.0000"
