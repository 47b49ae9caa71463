"""Offer targeting on the click path: visitors outside an offer's countries, OS families or device
types are refused (or sent to its trafficback URL) and counted once as refused clicks, never as
clicks."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from conversions.lifecycle import TEST_IP
from offers import access
from offers.targeting import TargetingRefusal, targeting_refusal
from tests.factories import OfferFactory
from tracking import buffer, store
from tracking.accept import ClickAccepted, ClickRefused, click_accept
from tracking.models import Click, RefusedClick, new_click_id
from tracking.store import click_flush_buffer, click_listen, click_write_rows, clicks_get

pytestmark = pytest.mark.django_db

US_IP = "8.8.8.8"
DE_IP = "2a00:1450:4001:80b::200e"
DE_IPV4 = "141.1.1.1"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def link(offer, affiliate, extra=""):
    return f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}{extra}"


def visit(client, offer, affiliate, *, ip, ua=IPHONE, extra="", method="get"):
    return getattr(client, method)(link(offer, affiliate, extra), REMOTE_ADDR=ip, HTTP_USER_AGENT=ua)


def written():
    """Everything the write path holds, in the database (the buffer flushed when it is on)."""
    click_flush_buffer()


# --- The rule -------------------------------------------------------------------------------


def offer_with(countries=(), os_families=(), device_types=()):
    return SimpleNamespace(
        target_countries=list(countries),
        target_os_families=list(os_families),
        target_device_types=list(device_types),
    )


def visitor(country="US", os_family="iOS", device_type="mobile"):
    return SimpleNamespace(country=country, os_family=os_family, device_type=device_type)


@pytest.mark.parametrize(
    "offer, who, refusal",
    [
        (offer_with(), visitor(country="", os_family="", device_type=""), None),
        (offer_with(countries=["US", "DE"]), visitor(country="DE"), None),
        (offer_with(countries=["DE"]), visitor(country="US"), TargetingRefusal.COUNTRY),
        (offer_with(countries=["DE"]), visitor(country=""), TargetingRefusal.COUNTRY),
        (offer_with(os_families=["ios"]), visitor(os_family="iOS"), None),
        (offer_with(os_families=["Android"]), visitor(os_family="android"), None),
        (offer_with(os_families=["Android"]), visitor(os_family="iOS"), TargetingRefusal.OS),
        (offer_with(os_families=["Android"]), visitor(os_family=""), TargetingRefusal.OS),
        (offer_with(device_types=["mobile", "tablet"]), visitor(device_type="tablet"), None),
        (offer_with(device_types=["desktop"]), visitor(device_type="mobile"), TargetingRefusal.DEVICE),
        (offer_with(device_types=["desktop"]), visitor(device_type=""), TargetingRefusal.DEVICE),
        # The first rule that fails decides: country, then OS, then device type.
        (
            offer_with(countries=["DE"], os_families=["Android"], device_types=["desktop"]),
            visitor(country="US", os_family="iOS", device_type="mobile"),
            TargetingRefusal.COUNTRY,
        ),
        (
            offer_with(countries=["US"], os_families=["Android"], device_types=["desktop"]),
            visitor(country="US", os_family="iOS", device_type="mobile"),
            TargetingRefusal.OS,
        ),
    ],
)
def test_the_targeting_rule_refuses_the_first_dimension_a_visitor_is_outside_of(offer, who, refusal):
    assert targeting_refusal(offer, who) is refusal


def test_the_click_paths_offer_snapshot_carries_the_targeting():
    offer = OfferFactory(
        target_countries=["DE", "AT"], target_os_families=["iOS"], target_device_types=["mobile"]
    )
    snapshot = access.offer_by_public_id(offer.offer_id)
    assert (snapshot.target_countries, snapshot.target_os_families, snapshot.target_device_types) == (
        ("DE", "AT"),
        ("iOS",),
        ("mobile",),
    )


# --- The click ------------------------------------------------------------------------------


@pytest.fixture
def de_only():
    return OfferFactory(target_countries=["DE"], destination_url="https://adv.example/?c={clickid}")


@pytest.mark.usefixtures("either_write_path")
def test_a_click_from_a_us_iphone_on_a_germany_only_offer_gets_a_refusal_page_naming_its_country(
    client, de_only, affiliate
):
    response = visit(client, de_only, affiliate, ip=US_IP)
    assert response.status_code == 403
    assert "This offer does not accept visitors from United States (US)." in response.content.decode()
    assert "afclick" not in response.cookies
    written()
    assert not Click.objects.exists()
    refused = RefusedClick.objects.get()
    assert (refused.offer, refused.affiliate, refused.reason) == (de_only, affiliate, "refused_country")
    assert (refused.ip, refused.country, refused.os_family, refused.device_type) == (
        US_IP,
        "US",
        "iOS",
        "mobile",
    )
    assert refused.user_agent == IPHONE


@pytest.mark.usefixtures("either_write_path")
def test_a_click_from_germany_on_a_germany_only_offer_goes_to_the_destination(client, de_only, affiliate):
    for ip in (DE_IP, DE_IPV4):
        response = visit(client, de_only, affiliate, ip=ip)
        assert response.status_code == 302
        assert response["Location"].startswith("https://adv.example/?c=")
    written()
    assert Click.objects.filter(country="DE").count() == 2
    assert not RefusedClick.objects.exists()


@pytest.mark.usefixtures("direct_writes")
def test_a_refused_click_goes_to_the_trafficback_url_with_its_visitor_in_the_macros(client, affiliate):
    offer = OfferFactory(
        target_countries=["DE"],
        trafficback_url="https://fallback.example/?geo={geo}&pid={pid}&o={offer_id}&s={sub1}&c={clickid}",
    )
    response = visit(client, offer, affiliate, ip=US_IP, extra="&sub1=abc")
    assert response.status_code == 302
    assert response["Location"] == (
        f"https://fallback.example/?geo=US&pid={affiliate.pid}&o={offer.offer_id}&s=abc&c="
    )
    assert RefusedClick.objects.get().reason == "refused_country"


@pytest.mark.usefixtures("direct_writes")
def test_a_visitor_whose_country_is_unknown_is_refused_by_a_country_targeted_offer(
    client, de_only, affiliate
):
    response = visit(client, de_only, affiliate, ip="10.1.2.3", extra="&format=json")
    assert response.status_code == 403
    assert response.json() == {"error": "This offer does not accept visitors whose country is unknown."}
    refused = RefusedClick.objects.get()
    assert (refused.reason, refused.country) == ("refused_country", "")


@pytest.mark.usefixtures("direct_writes")
def test_os_targeting_ignores_case_and_refuses_other_systems(client, affiliate):
    offer = OfferFactory(target_os_families=["ios"])
    assert visit(client, offer, affiliate, ip=US_IP, ua=IPHONE).status_code == 302
    windows = visit(client, offer, affiliate, ip=US_IP, ua=WINDOWS)
    assert windows.status_code == 403
    assert "This offer does not accept visitors on Windows." in windows.content.decode()
    assert list(RefusedClick.objects.values_list("reason", "os_family")) == [("refused_os", "Windows")]
    assert Click.objects.get().os_family == "iOS"


@pytest.mark.usefixtures("direct_writes")
def test_device_targeting_refuses_other_device_types(client, affiliate):
    offer = OfferFactory(target_device_types=["mobile"])
    assert visit(client, offer, affiliate, ip=US_IP, ua=IPHONE).status_code == 302
    tablet = visit(client, offer, affiliate, ip=US_IP, ua=IPAD)
    assert tablet.status_code == 403
    assert "This offer does not accept visitors on tablets." in tablet.content.decode()
    desktop = visit(client, offer, affiliate, ip=US_IP, ua=WINDOWS, extra="&format=json")
    assert desktop.json() == {"error": "This offer does not accept visitors on desktop computers."}
    reasons = RefusedClick.objects.order_by("created_at").values_list("device_type", "reason")
    assert list(reasons) == [("tablet", "refused_device"), ("desktop", "refused_device")]


@pytest.mark.usefixtures("direct_writes")
def test_a_json_refusal_answers_403_with_the_reason(client, de_only, affiliate):
    response = visit(client, de_only, affiliate, ip=US_IP, extra="&format=json")
    assert response.status_code == 403
    assert response.json() == {"error": "This offer does not accept visitors from United States (US)."}


@pytest.mark.usefixtures("either_write_path")
def test_head_is_refused_the_same_way_but_stores_nothing(client, de_only, affiliate):
    head = visit(client, de_only, affiliate, ip=US_IP, method="head")
    assert head.status_code == 403
    offer = OfferFactory(target_countries=["DE"], trafficback_url="https://fallback.example/")
    assert visit(client, offer, affiliate, ip=US_IP, method="head")["Location"] == "https://fallback.example/"
    written()
    assert not RefusedClick.objects.exists() and not Click.objects.exists()


@pytest.mark.usefixtures("direct_writes")
def test_access_is_checked_before_targeting_and_its_refusal_is_not_counted(client, affiliate):
    paused = OfferFactory(status="paused", target_countries=["DE"])
    response = visit(client, paused, affiliate, ip=US_IP, extra="&format=json")
    assert response.json() == {"error": "This offer is paused."}
    assert not RefusedClick.objects.exists()


@pytest.mark.usefixtures("direct_writes")
def test_the_integration_wizards_test_click_is_not_refused_by_targeting(affiliate, de_only):
    query = link(de_only, affiliate).split("?", 1)[1]
    result = click_accept(query=query, ip=TEST_IP, user_agent="Integration test", is_test=True)
    assert isinstance(result, ClickAccepted)
    assert Click.objects.get(click_id=result.click_id).is_test
    # The same click from a real visitor is refused.
    assert isinstance(click_accept(query=query, ip=TEST_IP, user_agent="Integration test"), ClickRefused)


# --- Counted once, never found as a click ------------------------------------------------------


def refused_row(offer, affiliate, reason="refused_country"):
    return {
        "refused": reason,
        "click_id": new_click_id(),
        "offer_id": offer.pk,
        "affiliate_id": affiliate.pk,
        "ip": US_IP,
        "user_agent": IPHONE,
        "country": "US",
        "os_family": "iOS",
        "device_type": "mobile",
        "created_at": datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp(),
    }


@pytest.fixture
def heard(monkeypatch):
    """The rows the write path hands its listeners, from now on (the listener goes after the test)."""
    rows = []
    monkeypatch.setattr(store, "_listeners", list(store._listeners))
    click_listen(rows.extend)
    return rows


@pytest.mark.usefixtures("direct_writes")
def test_a_refused_click_written_twice_is_stored_and_heard_once(de_only, affiliate, heard):
    row = refused_row(de_only, affiliate)
    click_write_rows([row])
    click_write_rows([row])
    assert RefusedClick.objects.filter(click_id=row["click_id"]).count() == 1
    assert RefusedClick.objects.get().created_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert heard == [{**row, "created_at": datetime(2026, 3, 1, 12, tzinfo=UTC)}]


@pytest.mark.usefixtures("direct_writes")
def test_a_batch_of_clicks_and_refused_clicks_hands_both_to_the_listeners(client, de_only, affiliate, heard):
    visit(client, de_only, affiliate, ip=DE_IP)
    visit(client, de_only, affiliate, ip=US_IP)
    assert [row.get("refused") for row in heard] == [None, "refused_country"]
    assert set(heard[1]) == {
        "refused",
        "click_id",
        "offer_id",
        "affiliate_id",
        "ip",
        "user_agent",
        "country",
        "os_family",
        "device_type",
        "created_at",
    }
    assert heard[1]["click_id"] == RefusedClick.objects.get().click_id


def test_a_buffered_refused_click_is_written_once_however_often_its_batch_is(
    client, de_only, affiliate, buffered_writes
):
    visit(client, de_only, affiliate, ip=US_IP)
    buffer._ensure_group(buffered_writes)
    # A writer reads the batch and dies; another claims and writes it, then the batch comes again.
    buffered_writes.xreadgroup(buffer.GROUP, "dead-writer", {buffer.STREAM: ">"}, count=10)
    assert buffer.flush(click_write_rows, claim_idle_ms=0) == 1
    stored = RefusedClick.objects.get()
    click_write_rows(
        [
            {
                **refused_row(de_only, affiliate),
                "click_id": stored.click_id,
                "created_at": stored.created_at.timestamp(),
            }
        ]
    )
    assert RefusedClick.objects.count() == 1
    assert not Click.objects.exists()


def test_a_refused_click_is_never_found_as_a_click_on_its_way_or_once_written(
    de_only, affiliate, buffered_writes
):
    row = refused_row(de_only, affiliate)
    buffer.push(row, click_write_rows)
    assert buffer.pending_rows([row["click_id"]]) == {}
    assert clicks_get([row["click_id"]]) == {row["click_id"]: None}
    click_flush_buffer()
    assert RefusedClick.objects.filter(click_id=row["click_id"]).exists()
    assert clicks_get([row["click_id"]]) == {row["click_id"]: None}
