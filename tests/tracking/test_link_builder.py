"""The tracking-link builder in the portal, with and without JavaScript."""

import pytest
from django.test import override_settings

from offers.models import Offer
from tests.conftest import log_in
from tests.factories import OfferFactory
from tracking.links import tracking_link
from tracking.models import Click

pytestmark = pytest.mark.django_db


def test_the_builder_has_one_field_per_parameter_and_shows_the_link(portal, affiliate):
    offer = OfferFactory()
    page = portal.get(
        f"/offers/{offer.offer_id}/tracking-link/", {"sub1": "{clickid}", "ref_id": "a b"}
    ).content
    page = page.decode()
    for name in [f"sub{n}" for n in range(1, 9)] + ["ref_id"]:
        assert f'name="{name}"' in page
    assert (
        f"/click?pid={affiliate.pid}&amp;offer_id={offer.offer_id}&amp;sub1={{clickid}}&amp;ref_id=a%20b"
        in page
    )
    assert "Copy link" in page and "/static/js/link-builder.js" in page


def test_the_builder_of_a_private_offer_asks_for_access_first(portal):
    offer = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    page = portal.get(f"/offers/{offer.offer_id}/tracking-link/").content.decode()
    assert "/click?" not in page and "Request access" in page


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_an_affiliate_builds_a_link_opens_it_and_lands_on_the_offer(
    live_server, page, affiliate, httpserver, direct_writes
):
    httpserver.expect_request("/landing").respond_with_data(
        "<h1>Advertiser landing</h1>", content_type="text/html"
    )
    landing = httpserver.url_for("/landing")
    offer = OfferFactory(destination_url=landing + "?cid={clickid}&s1={sub1}&s2={sub2}")
    with override_settings(TRACKING_BASE_URL=live_server.url):
        log_in(page, live_server.url, affiliate.user.username)
        page.goto(f"{live_server.url}/offers/{offer.offer_id}/tracking-link/")
        link = page.locator("#tracking-link")
        base = f"{live_server.url}/click?pid={affiliate.pid}&offer_id={offer.offer_id}"
        assert link.inner_text() == base

        page.fill("#id_sub1", "{clickid}")
        assert link.inner_text() == base + "&sub1={clickid}"
        page.locator("#id_sub2").press_sequentially("camp 7&x")
        built = base + "&sub1={clickid}&sub2=camp%207%26x"
        assert link.inner_text() == built

        # The browser builds exactly the link the server builds, whatever is typed.
        awkward = "a!'()*~_.-/?#=Привет"
        page.fill("#id_sub8", awkward)
        expected = tracking_link(
            offer_id=offer.offer_id,
            pid=affiliate.pid,
            params={"sub1": "{clickid}", "sub2": "camp 7&x", "sub8": awkward},
        )
        assert link.inner_text() == expected
        page.fill("#id_sub8", "")

        # sub9..sub30 wait behind "More parameters".
        assert not page.locator("#id_sub9").is_visible()
        page.get_by_text("More parameters").click()
        page.fill("#id_sub9", "zone 9")
        built += "&sub9=zone%209"
        assert link.inner_text() == built

        page.goto(built)
    assert page.url.startswith(landing + "?cid=")
    assert "Advertiser landing" in page.content()
    click = Click.objects.get()
    assert page.url == f"{landing}?cid={click.click_id}&s1=%7Bclickid%7D&s2=camp%207%26x"
    assert (click.sub1, click.sub2, click.affiliate, click.offer) == (
        "{clickid}",
        "camp 7&x",
        affiliate,
        offer,
    )
    assert click.more_subs == {"sub9": "zone 9"}
