import pytest
from django.urls import reverse

from config.admin_base import CappedCountPaginator
from tests.factories import AffiliateFactory, OfferFactory
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def clicks(client):
    offers, affiliates = [OfferFactory(), OfferFactory()], [AffiliateFactory(), AffiliateFactory()]
    ids = []
    for offer in offers:
        for affiliate in affiliates:
            ids.append(
                client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()[
                    "click_id"
                ]
            )
    return {"ids": ids, "offers": offers, "affiliates": affiliates}


def test_managers_see_clicks_made_through_the_link(admin_client, clicks):
    page = admin_client.get(reverse("admin:tracking_click_changelist")).content.decode()
    assert all(click_id in page for click_id in clicks["ids"])


def test_clicks_are_found_by_click_id(admin_client, clicks):
    wanted = clicks["ids"][2]
    response = admin_client.get(reverse("admin:tracking_click_changelist"), {"q": f" {wanted.upper()} "})
    assert [click.click_id for click in response.context["cl"].result_list] == [wanted]


def test_clicks_are_filtered_by_offer_affiliate_and_date(admin_client, clicks):
    url = reverse("admin:tracking_click_changelist")
    offer, affiliate = clicks["offers"][0], clicks["affiliates"][1]
    response = admin_client.get(url, {"offer__id__exact": offer.pk, "affiliate__id__exact": affiliate.pk})
    assert [(c.offer, c.affiliate) for c in response.context["cl"].result_list] == [(offer, affiliate)]
    today = admin_client.get(url, {"created_at__gte": "2000-01-01 00:00:00+00:00"})
    assert today.context["cl"].result_count == 4


def test_clicks_are_read_only(admin_client, clicks):
    click = Click.objects.first()
    assert admin_client.get(reverse("admin:tracking_click_add")).status_code == 403
    assert admin_client.get(reverse("admin:tracking_click_change", args=[click.pk])).status_code == 200
    admin_client.post(reverse("admin:tracking_click_change", args=[click.pk]), {"sub1": "changed"})
    assert Click.objects.get(pk=click.pk).sub1 == ""
    assert admin_client.get(reverse("admin:tracking_click_delete", args=[click.pk])).status_code == 403


def test_the_list_counts_no_more_than_the_cap(admin_client, clicks):
    class SmallCap(CappedCountPaginator):
        CAP = 3

    assert SmallCap(Click.objects.all(), 2).count == 3
    assert CappedCountPaginator(Click.objects.all(), 2).count == 4
    response = admin_client.get(reverse("admin:tracking_click_changelist"))
    assert isinstance(response.context["cl"].paginator, CappedCountPaginator)
