"""The integration test wizard (`/integration-test/`, and `/admin/integration-test/` for managers):
a test click, a test conversion and the delivery to one postback, each step's result on the page."""

import time

import pytest
from django.test import override_settings
from django.utils.html import escape
from werkzeug import Response

from conversions.models import Conversion, ServerPostback
from offers.choices import ConversionStatus
from offers.models import Offer
from postbacks.models import Delivery, Postback
from stats.services import stats_rebuild
from tests.conftest import log_in
from tests.factories import AffiliateFactory, OfferFactory, PostbackFactory
from tests.processes import wait_until
from tests.stats.rollup import stored
from tracking.models import Click

pytestmark = pytest.mark.django_db

URL = "/integration-test/"
ADMIN_URL = "/admin/integration-test/"


@pytest.fixture
def offer():
    return OfferFactory(goals=[{"value": "sale", "title": "Sale", "payout": "2.5"}])


def _form(offer, postback=None, url="", **subs):
    fields = {"offer": offer.offer_id, "postback": postback.pk if postback else "", "url": url}
    fields.update({f"sub{n}": f"test_sub{n}" for n in range(1, 9)})
    fields.update(subs)
    return fields


def _steps(page: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in page.split('data-passed="')[1:]]


def test_every_step_passes_and_the_page_shows_the_url_the_server_received(
    portal, affiliate, offer, httpserver, either_write_path
):
    httpserver.expect_request("/pb").respond_with_data("thanks", status=200)
    postback = PostbackFactory(
        affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb") + "?c={clickid}&s1={sub1}&st={status}"
    )

    response = portal.post(URL, _form(offer, postback, sub1="camp 7"))

    page = response.content.decode()
    assert response.status_code == 200 and _steps(page) == ["true", "true", "true"]
    assert "every step passed" in page
    [(request, _)] = httpserver.log
    click = Click.objects.get()
    assert request.args["c"] == click.click_id and request.args["s1"] == "camp 7"
    assert escape(request.url) in page and "thanks" in page
    assert f"pid={affiliate.pid}&amp;offer_id={offer.offer_id}&amp;sub1=camp%207" in page
    delivery = Delivery.objects.get()
    assert (delivery.postback, delivery.state, delivery.http_code) == (postback, "succeeded", 200)
    assert ServerPostback.objects.get().outcome == ServerPostback.Outcome.CREATED


def test_the_portal_navigation_links_to_the_wizard(portal):
    page = portal.get("/").content.decode()
    assert f'href="{URL}"' in page and "Integration test" in page


def test_the_wizard_opens_with_sub_values_filled_in(portal, offer):
    page = portal.get(URL, {"offer": offer.offer_id}).content.decode()
    assert 'value="test_sub1"' in page and 'value="test_sub8"' in page
    assert f'<option value="{offer.offer_id}" selected>' in page


def test_a_server_answering_500_fails_the_postback_step_with_what_to_fix(
    portal, affiliate, offer, httpserver
):
    httpserver.expect_request("/pb").respond_with_data("database down", status=500)
    postback = PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/pb") + "?c={clickid}")

    page = portal.post(URL, _form(offer, postback)).content.decode()

    assert _steps(page) == ["true", "true", "false"]
    assert "HTTP 500: a postback needs a 2xx answer" in page and "database down" in page
    assert "Answered 500 (Internal Server Error)" in page and "check its error log" in page
    assert Delivery.objects.get().state == Delivery.State.FAILED  # a test is not retried


def test_unknown_macros_and_empty_subs_the_url_expects_are_pointed_out(portal, affiliate, offer, httpserver):
    httpserver.expect_request("/pb").respond_with_data("ok")
    url = httpserver.url_for("/pb") + "?c={clickid}&s2={sub2}&x={click_id_typo}"

    page = portal.post(URL, _form(offer, url=url, sub2="")).content.decode()

    assert _steps(page) == ["true", "true", "true"]
    assert escape("Not macros, sent as they are: {click_id_typo}.") in page
    assert escape("The URL uses {sub2} but sub2 was empty in the tracking link") in page
    [(request, _)] = httpserver.log
    assert request.args["s2"] == "" and request.args["x"] == "{click_id_typo}"


def test_a_typed_url_is_tried_without_being_saved(portal, affiliate, offer, httpserver):
    httpserver.expect_request("/typed").respond_with_data("ok")

    page = portal.post(URL, _form(offer, url=httpserver.url_for("/typed") + "?c={clickid}")).content.decode()

    assert _steps(page) == ["true", "true", "true"]
    assert len(httpserver.log) == 1
    assert not Postback.objects.exists() and not Delivery.objects.exists()


def test_a_typed_unsafe_url_is_refused_with_the_reason(portal, offer):
    response = portal.post(URL, _form(offer, url="http://169.254.169.254/latest?c={clickid}"))

    page = response.content.decode()
    assert "a private, local or reserved address: postbacks can only be sent to public addresses" in page
    assert "data-passed" not in page and not Click.objects.exists()


def test_a_dead_endpoint_ends_with_a_readable_timeout(portal, affiliate, offer, httpserver):
    def too_slow(request):
        time.sleep(1.5)
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(too_slow)
    postback = PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/slow"))

    with override_settings(POSTBACK_TOTAL_TIMEOUT=1):
        started = time.monotonic()
        page = portal.post(URL, _form(offer, postback)).content.decode()

    assert time.monotonic() - started < 5
    assert _steps(page) == ["true", "true", "false"]
    assert "Timed out: no complete answer in 1 s" in page and "took longer than 1 second to answer" in page
    # The server still ends the abandoned request: not during the next test, whose log it would join.
    assert wait_until(lambda: httpserver.log, timeout=5)


def test_an_offer_the_affiliate_cannot_run_is_refused(portal, affiliate):
    private = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    postback = PostbackFactory(affiliate=affiliate)

    page = portal.post(URL, _form(private, postback)).content.decode()

    assert "Select a valid choice" in page and "data-passed" not in page
    assert not Click.objects.exists()


def test_another_affiliates_postback_is_refused(portal, offer):
    theirs = PostbackFactory(affiliate=AffiliateFactory())

    page = portal.post(URL, _form(offer, theirs)).content.decode()

    assert "Select a valid choice" in page and not Click.objects.exists()


def test_a_postback_of_another_offer_is_refused(portal, affiliate, offer):
    elsewhere = PostbackFactory(affiliate=affiliate, offer=OfferFactory())

    page = portal.post(URL, _form(offer, elsewhere)).content.decode()

    assert "This postback is for another offer" in page and not Click.objects.exists()


def test_the_test_click_and_conversion_are_flagged_reach_no_other_postback_and_are_not_counted(
    portal, affiliate, offer, httpserver, either_write_path
):
    httpserver.expect_request("/pb").respond_with_data("ok")
    httpserver.expect_request("/other").respond_with_data("ok")
    tested = PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb"))
    PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/other"))
    PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/other"))
    before = stored()

    page = portal.post(URL, _form(offer, tested)).content.decode()

    assert _steps(page) == ["true", "true", "true"]
    click, conversion = Click.objects.get(), Conversion.objects.get()
    assert click.is_test and conversion.is_test and conversion.click == click
    assert [request.path for request, _ in httpserver.log] == ["/pb"]
    assert list(Delivery.objects.values_list("postback", flat=True)) == [tested.pk]
    assert stored() == before == {}
    stats_rebuild()
    assert stored() == {}
    stats = portal.get("/statistics/", {"group_by": "sub1"}).content.decode()
    assert "test_sub1" not in stats


def test_a_status_filtered_postback_is_tested_with_a_status_it_fires_for(
    portal, affiliate, offer, httpserver
):
    httpserver.expect_request("/pb").respond_with_data("ok")
    postback = PostbackFactory(
        affiliate=affiliate,
        url=httpserver.url_for("/pb") + "?st={status}",
        status=Postback.StatusFilter.APPROVED,
    )

    portal.post(URL, _form(offer, postback))

    [(request, _)] = httpserver.log
    assert request.args["st"] == str(ConversionStatus.APPROVED.value)


# --- Managers ----------------------------------------------------------------------------


def test_a_manager_runs_the_wizard_for_a_chosen_affiliate(client, manager, affiliate, offer, httpserver):
    httpserver.expect_request("/pb").respond_with_data("ok")
    postback = PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/pb") + "?c={clickid}")
    client.force_login(manager)

    chooser = client.get(ADMIN_URL).content.decode()
    form = client.get(ADMIN_URL, {"affiliate": affiliate.pid}).content.decode()
    page = client.post(f"{ADMIN_URL}?affiliate={affiliate.pid}", _form(offer, postback)).content.decode()

    assert 'name="affiliate"' in chooser and 'name="offer"' not in chooser
    assert escape(postback.url) in form
    assert _steps(page) == ["true", "true", "true"]
    assert Click.objects.get().affiliate == affiliate and len(httpserver.log) == 1


def test_the_managers_wizard_is_staff_only(portal, affiliate, offer):
    response = portal.get(ADMIN_URL, {"affiliate": affiliate.pid})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = portal.post(f"{ADMIN_URL}?affiliate={affiliate.pid}", _form(offer, url="http://127.0.0.1:9/"))
    assert response.status_code == 302 and not Click.objects.exists()


# --- In a browser --------------------------------------------------------------------------


def test_an_affiliate_runs_the_wizard_in_a_browser_and_sees_every_step_pass(
    live_server, page, affiliate, offer, httpserver, direct_writes
):
    httpserver.expect_request("/pb").respond_with_data("received")
    PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb") + "?c={clickid}&s={sub1}")

    log_in(page, live_server.url, affiliate.user.username)
    page.goto(live_server.url + "/")
    page.click("summary:has-text('Settings')")
    page.click("a:has-text('Integration test')")
    page.select_option("#id_offer", str(offer.offer_id))
    page.select_option("#id_postback", index=1)
    page.fill("#id_sub1", "from browser")
    page.click("button:has-text('Run the test')")

    page.wait_for_selector("#integration-test-result")
    assert page.locator(".step[data-passed=true]").count() == 3
    assert page.locator("#integration-test-result").inner_text().count("passed") >= 3
    [(request, _)] = httpserver.log
    assert request.args["s"] == "from browser"
    assert "received" in page.content()


def test_a_goal_paying_a_percent_of_the_sum_is_tested_on_a_sample_sum(
    portal, affiliate, httpserver, direct_writes
):
    offer = OfferFactory(
        goals=[
            {
                "value": "sale",
                "title": "Sale",
                "payout_type": "percent",
                "payout": "0",
                "payout_percent": "10",
            }
        ]
    )
    httpserver.expect_request("/pb").respond_with_data("ok")
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb") + "?sum={sum}")

    page = portal.post(URL, _form(offer, postback)).content.decode()

    assert _steps(page) == ["true", "true", "true"]
    [(request, _)] = httpserver.log
    assert request.args["sum"] == "10"  # 10% of the sample sum of 100
