"""Advertiser postbacks are protected by default: new advertisers get a secure code (through the
one service that creates them), managers see the postback URL to give with it, and the admin
warns about offers that take postbacks from anyone."""

import re
from urllib.parse import urlencode

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from conversions.models import Conversion
from offers.models import Advertiser, Offer
from offers.services import advertiser_create
from tests.factories import AdvertiserFactory, OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

GENERATED = re.compile(r"^[0-9a-f]{32}\Z")
BASE = "https://track.example"


@pytest.fixture(autouse=True)
def tracking_base_url(settings):
    settings.TRACKING_BASE_URL = BASE


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


def save(admin_client, url, form):
    """Post an admin form; answers the messages shown on the page it leads to, if it was saved."""
    response = admin_client.post(url, form, follow=True)
    assert response.redirect_chain, response.context["adminform"].errors
    return response


def warnings(response) -> list[str]:
    return [
        message.message for message in get_messages(response.wsgi_request) if message.level_tag == "warning"
    ]


def test_a_new_advertiser_gets_a_generated_secure_code_unless_told_otherwise():
    first, second = advertiser_create(name="First"), advertiser_create(name="Second")
    assert GENERATED.match(first.secure_code) and GENERATED.match(second.secure_code)
    assert first.secure_code != second.secure_code
    assert advertiser_create(name="Own code", secure_code="their-code").secure_code == "their-code"
    assert advertiser_create(name="On purpose", secure_code="").secure_code == ""


def test_the_postback_url_carries_the_secure_code_ready_to_give():
    advertiser = advertiser_create(name="Acme", secure_code="a&b c")
    assert advertiser.postback_url == (
        f"{BASE}/postback?clickid={{clickid}}&secure=a%26b%20c"
        "&action_id={action_id}&goal={goal}&sum={sum}&status={status}"
    )
    advertiser.secure_code = ""
    assert "secure" not in advertiser.postback_url


def test_the_api_creates_advertisers_with_a_generated_code_and_shows_their_postback_url(manager_api):
    body = manager_api.post("/api/v1/manage/advertisers/", {"name": "Acme"}, format="json").json()
    code = Advertiser.objects.get(name="Acme").secure_code
    assert GENERATED.match(code) and body["secure_code"] == code
    assert body["postback_url"].startswith(f"{BASE}/postback?clickid={{clickid}}&secure={code}&")
    assert (
        manager_api.get(f"/api/v1/manage/advertisers/{body['id']}/").json()["postback_url"]
        == body["postback_url"]
    )


def test_through_the_api_a_manager_may_still_go_without_a_code_on_purpose(manager_api):
    created = manager_api.post(
        "/api/v1/manage/advertisers/", {"name": "Open", "secure_code": ""}, format="json"
    )
    assert created.json()["secure_code"] == "" and "secure=" not in created.json()["postback_url"]
    advertiser = advertiser_create(name="Cleared later")
    cleared = manager_api.patch(
        f"/api/v1/manage/advertisers/{advertiser.pk}/", {"secure_code": ""}, format="json"
    )
    assert cleared.status_code == 200
    advertiser.refresh_from_db()
    assert advertiser.secure_code == ""


def test_the_postback_url_given_to_the_advertiser_records_conversions_and_forgeries_are_refused(
    client, manager_api, affiliate
):
    advertiser = manager_api.post("/api/v1/manage/advertisers/", {"name": "Acme"}, format="json").json()
    offer = OfferFactory(advertiser_id=advertiser["id"])
    click_id = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()[
        "click_id"
    ]
    values = {"clickid": click_id, "action_id": "A-1", "goal": "1", "sum": "5", "status": "2"}
    path = advertiser["postback_url"].removeprefix(BASE).format(**values)

    assert client.get(path).json()["message"] == "ok"
    forged = client.get("/postback?" + urlencode({**values, "action_id": "A-2"}))
    assert forged.status_code == 403 and forged.json() == {"status": 2, "message": "Access denied"}
    assert Conversion.objects.count() == 1


def test_the_admin_proposes_a_generated_code_and_creates_the_advertiser_through_the_service(admin_client):
    form = admin_client.get(reverse("admin:offers_advertiser_add")).context["adminform"].form
    proposed = form.initial["secure_code"]
    assert GENERATED.match(proposed)

    response = save(
        admin_client,
        reverse("admin:offers_advertiser_add"),
        {"name": "Acme", "secure_code": proposed, "ip_allowlist": "[]"},
    )
    assert not warnings(response)
    advertiser = Advertiser.objects.get(name="Acme")
    assert advertiser.secure_code == proposed
    page = admin_client.get(reverse("admin:offers_advertiser_change", args=[advertiser.pk])).content.decode()
    assert f"<code>{BASE}/postback?clickid={{clickid}}&amp;secure={proposed}&amp;action_id=" in page


def test_an_advertiser_saved_open_in_the_admin_is_warned_about(admin_client):
    response = save(
        admin_client,
        reverse("admin:offers_advertiser_add"),
        {"name": "Open", "secure_code": "", "ip_allowlist": "[]"},
    )
    advertiser = Advertiser.objects.get(name="Open")
    assert advertiser.secure_code == ""
    assert warnings(response) == [
        "Open has neither a secure code nor an IP allowlist: its offers without a secure code "
        "of their own (0 now) take advertiser postbacks, and so conversions, from anyone."
    ]
    OfferFactory(advertiser=advertiser)
    OfferFactory(advertiser=advertiser, secure_code="own")
    change = reverse("admin:offers_advertiser_change", args=[advertiser.pk])
    response = save(admin_client, change, {"name": "Open", "secure_code": "", "ip_allowlist": "[]"})
    assert "(1 now)" in warnings(response)[0]
    response = save(
        admin_client, change, {"name": "Open", "secure_code": "", "ip_allowlist": '["192.0.2.1"]'}
    )
    assert not warnings(response)


def offer_form(offer: Offer, **change) -> dict:
    goal = offer.goals.get()
    return {
        "offer_id": offer.offer_id,
        "advertiser": offer.advertiser_id,
        "title": offer.title,
        "status": "active",
        "visibility": "public",
        "destination_url": offer.destination_url,
        "click_lifetime_days": "30",
        "hold_period_days": "0",
        "secure_code": "",
        "goals-TOTAL_FORMS": "1",
        "goals-INITIAL_FORMS": "1",
        "goals-MIN_NUM_FORMS": "1",
        "goals-MAX_NUM_FORMS": "1000",
        "goals-0-id": goal.pk,
        "goals-0-offer": offer.pk,
        "goals-0-value": goal.value,
        "goals-0-title": goal.title,
        "goals-0-payout_type": "fixed",
        "goals-0-payout": "1",
        "goals-0-payout_percent": "0",
        "goals-0-revenue_type": "fixed",
        "goals-0-revenue": "2",
        "goals-0-revenue_percent": "0",
        "goals-0-currency": "USD",
        "goals-0-default_status": "2",
        **change,
    }


@pytest.mark.parametrize(
    ("offer_code", "advertiser_code", "allowlist", "warned"),
    [
        ("", "", [], True),
        ("own", "", [], False),
        ("", "theirs", [], False),
        ("", "", ["192.0.2.0/24"], False),
    ],
)
def test_an_offer_saved_open_in_the_admin_is_warned_about(
    admin_client, offer_code, advertiser_code, allowlist, warned
):
    offer = OfferFactory(advertiser=AdvertiserFactory(secure_code=advertiser_code, ip_allowlist=allowlist))
    response = save(
        admin_client,
        reverse("admin:offers_offer_change", args=[offer.pk]),
        offer_form(offer, secure_code=offer_code),
    )
    expected = [
        f"Offer {offer} takes advertiser postbacks from anyone: give it or its advertiser a secure code, "
        "or the advertiser an IP allowlist, or anyone who learns a click id can report conversions."
    ]
    assert warnings(response) == (expected if warned else [])


def test_the_offer_list_marks_and_filters_the_offers_open_to_anyone(admin_client):
    open_offer = OfferFactory(title="Open offer")
    protected = [
        OfferFactory(secure_code="own"),
        OfferFactory(advertiser=AdvertiserFactory(secure_code="theirs")),
        OfferFactory(advertiser=AdvertiserFactory(ip_allowlist=["192.0.2.1", "198.51.100.0/24"])),
    ]
    url = reverse("admin:offers_offer_changelist")

    listed = admin_client.get(url, {"postbacks": "open"})
    assert list(listed.context["cl"].result_list) == [open_offer]
    row = next(line for line in listed.content.decode().split("<tr") if "Open offer" in line)
    assert 'alt="False"' in row
    assert sorted(
        admin_client.get(url, {"postbacks": "protected"}).context["cl"].result_list, key=str
    ) == sorted(protected, key=str)
    assert 'alt="True"' in admin_client.get(url, {"q": protected[0].title}).content.decode()
