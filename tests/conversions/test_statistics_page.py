"""Statistics > Conversions in the portal: filters, totals, the list and its CSV export."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from offers.choices import ConversionStatus
from offers.models import Offer
from tests.factories import ConversionFactory, OfferFactory

pytestmark = pytest.mark.django_db

URL = "/statistics/conversions/"


def _listed(response):
    assert response.status_code == 200
    return [conversion.conversion_id for conversion in response.context["conversions"]]


def _csv(response):
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="conversions.csv"'
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for url in [URL, URL + "csv/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_conversions_page_is_linked_from_the_navigation(portal):
    assert portal.get(URL).status_code == 200
    dashboard = portal.get("/").content.decode()
    assert f'href="{URL}"' in dashboard and "Statistics" in dashboard


def test_the_page_lists_the_affiliates_conversions_with_their_columns(portal, affiliate):
    offer = OfferFactory(
        title="Fitness app", goals=[{"value": "install", "title": "Install", "payout": "1.5"}]
    )
    conversion = ConversionFactory(
        affiliate=affiliate, offer=offer, status=ConversionStatus.APPROVED, sub1="camp-7", sub3="banner"
    )
    page = portal.get(URL).content.decode()
    for text in [
        conversion.conversion_id,
        f"#{offer.offer_id} Fitness app",
        "install",
        "Approved",
        "1.50 USD",
        "camp-7",
        "banner",
        "Default",
        conversion.created_at.strftime("%Y-%m-%d %H:%M"),
    ]:
        assert text in page, text


def test_another_affiliates_conversions_are_never_shown(portal, affiliate, other_affiliate):
    own = ConversionFactory(affiliate=affiliate)
    theirs = ConversionFactory(
        affiliate=other_affiliate, offer=own.offer, sub1="their-secret", payout="9876.54"
    )
    response = portal.get(URL)
    assert _listed(response) == [own.conversion_id]
    page = response.content.decode()
    assert theirs.conversion_id not in page and "their-secret" not in page and "9876.54" not in page
    assert response.context["totals"].count == 1
    rows = _csv(portal.get(URL + "csv/"))
    assert [row[1] for row in rows[1:]] == [own.conversion_id]


def test_test_conversions_are_left_out_of_statistics(portal, affiliate):
    ConversionFactory(affiliate=affiliate, is_test=True)
    response = portal.get(URL)
    assert _listed(response) == [] and response.context["totals"].count == 0


def test_the_period_defaults_to_the_last_30_days(portal, affiliate):
    now = timezone.now()
    recent = ConversionFactory(affiliate=affiliate, created_at=now - timedelta(days=29))
    ConversionFactory(affiliate=affiliate, created_at=now - timedelta(days=31))
    response = portal.get(URL)
    assert _listed(response) == [recent.conversion_id]
    today = now.date()
    assert f'value="{(today - timedelta(days=29)).isoformat()}"' in response.content.decode()
    assert f'value="{today.isoformat()}"' in response.content.decode()


def test_clearing_both_dates_shows_every_day(portal, affiliate):
    old = ConversionFactory(affiliate=affiliate, created_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert _listed(portal.get(URL, {"date_from": "", "date_to": ""})) == [old.conversion_id]


def test_the_list_is_filtered_by_period_status_offer_goal_and_sub_values(portal, affiliate):
    offer = OfferFactory(goals=[{"value": "install", "title": "Install"}, {"value": "sale", "title": "Sale"}])
    install, sale = offer.goals.all()
    march = datetime(2024, 3, 10, 12, tzinfo=UTC)
    first = ConversionFactory(
        affiliate=affiliate, offer=offer, goal=install, status=1, sub2="x", created_at=march
    )
    second = ConversionFactory(affiliate=affiliate, offer=offer, goal=sale, status=3, created_at=march)
    third = ConversionFactory(affiliate=affiliate, status=1, sub2="x", created_at=march + timedelta(days=5))
    period = {"date_from": "2024-03-01", "date_to": "2024-03-31"}
    for params, expected in [
        ({}, [third, second, first]),
        ({"date_to": "2024-03-10"}, [second, first]),
        ({"status": "1"}, [third, first]),
        ({"offer": offer.offer_id}, [second, first]),
        ({"goal": "SALE"}, [second]),
        ({"sub2": "x"}, [third, first]),
        ({"sub2": "x", "offer": offer.offer_id}, [first]),
    ]:
        listed = _listed(portal.get(URL, {**period, **params}))
        assert listed == [c.conversion_id for c in expected], params


def test_totals_count_each_status_and_sum_the_payable_payout_per_currency(portal, affiliate):
    euro = OfferFactory(goals=[{"value": "1", "title": "Lead", "payout": "2.25", "currency": "EUR"}])
    dollar = OfferFactory(goals=[{"value": "1", "title": "Lead", "payout": "10", "currency": "USD"}])
    for offer, status in [(euro, 1), (euro, 1), (euro, 2), (dollar, 3), (dollar, 5)]:
        ConversionFactory(affiliate=affiliate, offer=offer, status=status)
    ConversionFactory(offer=dollar, status=1)  # another affiliate's
    response = portal.get(URL)
    totals = response.context["totals"]
    assert totals.count == 5
    assert [(status.label, count) for status, count in totals.count_by_status] == [
        ("Approved", 2),
        ("Pending", 1),
        ("Declined", 1),
        ("Hold", 1),
    ]
    # A declined conversion is never paid: the USD total is the hold one's 10, not 20.
    assert [(row.currency, row.payout_by_status, row.payable) for row in totals.currencies] == [
        ("EUR", [Decimal("4.5"), Decimal("2.25"), 0, 0], Decimal("6.75")),
        ("USD", [0, 0, 10, 10], 10),
    ]
    page = response.content.decode()
    assert "<strong>6.75</strong>" in page and "<strong>10.00</strong>" in page
    assert "<strong>20.00</strong>" not in page
    assert "Payable" in page and "(approved, pending and on hold)" in page
    assert "Declined conversions are never paid" in page
    filtered = portal.get(URL, {"status": "1", "date_from": "", "date_to": ""}).context["totals"]
    assert filtered.count == 2 and [row.currency for row in filtered.currencies] == ["EUR"]


def test_the_offer_choices_are_the_offers_the_affiliate_sees_or_converted_on(portal, affiliate):
    active = OfferFactory(title="Running offer")
    paused_with_history = OfferFactory(title="Old offer", status=Offer.Status.PAUSED)
    OfferFactory(title="Paused stranger", status=Offer.Status.PAUSED)
    ConversionFactory(affiliate=affiliate, offer=paused_with_history)
    choices = [label for value, label in portal.get(URL).context["form"].fields["offer"].choices if value]
    assert choices == [str(active), str(paused_with_history)]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"date_from": "2024-02-30"}, "date_from"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2024-03-10", "date_to": "2024-03-01"}, "date_to"),
        ({"status": "4"}, "status"),
        ({"offer": "424242"}, "offer"),
        ({"offer": "x" * 100}, "offer"),
        ({"sub1": "x" * 600}, "sub1"),
        ({"goal": "nul\x00"}, "goal"),
    ],
)
def test_bad_filters_are_shown_as_form_errors(portal, affiliate, params, field):
    ConversionFactory(affiliate=affiliate)
    response = portal.get(URL, params)
    assert response.status_code == 200 and list(response.context["form"].errors) == [field]
    assert _listed(response) == []
    assert 'class="errorlist' in response.content.decode()
    assert "Correct the filters above" in response.content.decode()


def test_bad_filters_on_the_csv_link_lead_back_to_the_page(portal):
    response = portal.get(URL + "csv/", {"status": "4", "sub1": "a b"})
    assert response.status_code == 302 and response["Location"] == URL + "?status=4&sub1=a+b"


def test_the_pages_follow_the_filters(portal, affiliate):
    for _ in range(51):
        ConversionFactory(affiliate=affiliate, sub1="many")
    ConversionFactory(affiliate=affiliate)
    first = portal.get(URL, {"sub1": "many"})
    assert len(_listed(first)) == 50 and first.context["totals"].count == 51
    assert "?sub1=many&amp;page=2" in first.content.decode()
    assert len(_listed(portal.get(URL, {"sub1": "many", "page": 2}))) == 1


def test_the_csv_exports_the_filtered_conversions_with_the_page_columns(portal, affiliate):
    offer = OfferFactory(
        title="Shop", goals=[{"value": "sale", "title": "Sale", "payout": "3.5", "currency": "EUR"}]
    )
    wanted = ConversionFactory(
        affiliate=affiliate,
        offer=offer,
        status=ConversionStatus.HOLD,
        sub1="=HYPERLINK(1)",
        sub8="last",
        created_at=datetime(2024, 3, 10, 8, 30, tzinfo=UTC),
    )
    ConversionFactory(
        affiliate=affiliate, status=ConversionStatus.APPROVED, created_at=datetime(2024, 3, 11, tzinfo=UTC)
    )
    response = portal.get(URL + "csv/", {"date_from": "2024-03-01", "date_to": "2024-03-31", "status": "5"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header, *rows = _csv(response)
    assert header == [
        "date (UTC)",
        "conversion id",
        "offer id",
        "offer",
        "goal",
        "status",
        "decline reason",
        "payout",
        "currency",
        *(f"sub{n}" for n in range(1, 31)),
        "integration method",
    ]
    assert rows == [
        [
            "2024-03-10 08:30:00",
            wanted.conversion_id,
            str(offer.offer_id),
            "Shop",
            "sale",
            "Hold",
            "",
            "3.50",
            "EUR",
            "'=HYPERLINK(1)",
            *[""] * 6,
            "last",
            *[""] * 22,
            "Default",
        ]
    ]


@pytest.mark.parametrize(
    ("payout", "written"),
    [("8", "8.00"), ("3.5", "3.50"), ("0.125", "0.125"), ("12345.6789", "12345.6789"), ("0", "0.00")],
)
def test_the_csv_writes_each_payout_as_the_page_shows_it(portal, affiliate, payout, written):
    ConversionFactory(affiliate=affiliate, payout=Decimal(payout))
    page = portal.get(URL).content.decode()
    header, row = _csv(portal.get(URL + "csv/"))
    exported = dict(zip(header, row, strict=True))["payout"]
    # A plain dot and no thousands separator: a spreadsheet reads it as a number.
    assert exported == written and f"{written} USD" in page


def test_the_page_links_to_the_csv_of_the_same_filters(portal, affiliate):
    ConversionFactory(affiliate=affiliate)
    page = portal.get(URL, {"status": "2", "page": "1", "date_from": "", "date_to": ""}).content.decode()
    assert f'href="{URL}csv/?status=2&amp;date_from=&amp;date_to="' in page
    assert "Download CSV" not in portal.get(URL, {"status": "1"}).content.decode()


def test_the_page_works_on_a_phone_without_javascript(portal, affiliate):
    ConversionFactory(affiliate=affiliate)
    page = portal.get(URL).content.decode()
    # The one script makes the menus close each other; without it they still open and close.
    assert 'name="viewport"' in page and re.findall("<script[^>]*>", page) == [
        '<script src="/static/js/nav.js" defer>'
    ]
    assert 'class="table-wrap"' in page and 'type="date"' in page
