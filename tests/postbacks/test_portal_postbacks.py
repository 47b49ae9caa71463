"""An offer's "Your Postbacks" tab in the portal: list, add, edit, delete, send a test postback."""

import re
import socket

import pytest
from django.test import Client
from django.utils.html import escape

from offers.models import Offer
from postbacks.models import Delivery, Postback
from tests.factories import (
    ConversionFactory,
    DeliveryFactory,
    GoalFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
)

pytestmark = pytest.mark.django_db

SAFE_URL = "http://127.0.0.1:9/pb?click={sub1}&sum={sum}"


def _url(offer, suffix=""):
    return f"/offers/{offer.offer_id}/postbacks/{suffix}"


def _form(**fields):
    return {
        "url": SAFE_URL,
        "status": "any",
        "goal": "",
        "integration_method": "default",
        "method": "GET",
        "enabled": "on",
        **fields,
    }


def _messages(response):
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def offer(db):
    return OfferFactory(title="Fitness app", goals=[{"value": "install", "title": "Install"}])


def test_anonymous_visitors_are_sent_to_the_login_page(client, offer):
    for url in [_url(offer), _url(offer, "add/")]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_managers_are_sent_to_the_admin_panel(client, manager, offer):
    client.force_login(manager)
    response = client.get(_url(offer))
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_the_offer_pages_have_a_your_postbacks_tab(portal, offer):
    for url in [f"/offers/{offer.offer_id}/", f"/offers/{offer.offer_id}/tracking-link/", _url(offer)]:
        page = portal.get(url).content.decode()
        assert f'href="{_url(offer)}"' in page and "Your postbacks" in page, url
    page = portal.get(_url(offer)).content.decode()
    assert f'<a href="{_url(offer)}" aria-current="page">Your postbacks</a>' in page


def test_the_tab_lists_the_affiliates_postbacks_of_this_offer_with_their_last_delivery(
    portal, affiliate, other_affiliate, offer
):
    goal = offer.goals.get()
    failing = PostbackFactory(
        affiliate=affiliate,
        offer=offer,
        goal=goal,
        url="http://127.0.0.1:9/failing?c={conversion_id}",
        status=Postback.StatusFilter.APPROVED,
        integration_method="probabilistic",
        method="POST",
    )
    fresh = PostbackFactory(affiliate=affiliate, offer=offer, url="http://127.0.0.1:9/fresh")
    disabled = PostbackFactory(
        affiliate=affiliate,
        offer=offer,
        url="http://127.0.0.1:9/disabled",
        enabled=False,
        disabled_reason="Disabled on 2026-01-02 03:04 UTC: every delivery failed for 3 days.",
    )
    conversion = ConversionFactory(affiliate=affiliate, offer=offer)
    DeliveryFactory(
        affiliate=affiliate, postback=failing, conversion=conversion, state="succeeded", http_code=200
    )
    DeliveryFactory(
        affiliate=affiliate,
        postback=failing,
        conversion=conversion,
        state="failed",
        http_code=503,
        error="HTTP 503: a postback needs a 2xx answer",
    )
    PostbackFactory(affiliate=affiliate, url="http://127.0.0.1:9/global-one")
    PostbackFactory(affiliate=affiliate, offer=OfferFactory(), url="http://127.0.0.1:9/other-offer")
    PostbackFactory(affiliate=other_affiliate, offer=offer, url="http://127.0.0.1:9/not-yours")

    response = portal.get(_url(offer))

    assert response.status_code == 200
    assert [postback.pk for postback in response.context["postbacks"]] == [failing.pk, fresh.pk, disabled.pk]
    page = response.content.decode()
    for text in [
        "http://127.0.0.1:9/failing?c={conversion_id}",
        "Approved",
        "Install (<code>install</code>)",
        "Probabilistic attribution",
        "POST",
        "Failed",
        "HTTP 503",
        "HTTP 503: a postback needs a 2xx answer",
        "not sent yet",
        "disabled",
        "every delivery failed for 3 days",
        "Add postback",
        "Send test postback",
    ]:
        assert text in page, text
    for text in ["global-one", "other-offer", "not-yours"]:
        assert text not in page, text


def test_an_affiliate_adds_a_postback_for_the_offer(portal, affiliate, offer):
    page = portal.get(_url(offer, "add/")).content.decode()
    for text in [
        "By creating",
        "Approved",
        "Pending",
        "Declined",
        "Hold",
        "Probabilistic attribution",
        "GET",
    ]:
        assert text in page, text
    assert 'name="csrfmiddlewaretoken"' in page

    goal = offer.goals.get()
    response = portal.post(
        _url(offer, "add/"), _form(status="created", goal=goal.pk, method="POST"), follow=True
    )

    assert response.redirect_chain == [(_url(offer), 302)]
    assert _messages(response) == ["Postback saved."]
    postback = Postback.objects.get()
    assert (postback.affiliate, postback.offer, postback.goal) == (affiliate, offer, goal)
    assert (postback.url, postback.status, postback.method, postback.enabled) == (
        SAFE_URL,
        "created",
        "POST",
        True,
    )


def test_the_goal_choices_are_this_offers_goals_and_another_offers_goal_is_refused(portal, offer):
    foreign = GoalFactory(offer=OfferFactory(), value="purchase", title="Purchase")
    form = portal.get(_url(offer, "add/")).context["form"]
    assert [label for _, label in form.fields["goal"].choices] == ["Any", "Install (install)"]

    response = portal.post(_url(offer, "add/"), _form(goal=foreign.pk))

    assert response.status_code == 200
    assert response.context["form"].errors["goal"] == ["Choose one of this offer's goals."]
    assert not Postback.objects.exists()


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://10.0.0.1/x", "10.0.0.1, a private, local or reserved address"),
        ("http://169.254.169.254/latest/meta-data", "a private, local or reserved address"),
        ("ftp://tracker.example/x", "Only http:// and https:// URLs are allowed."),
        ("https://user:secret@tracker.example/x", "Credentials in the URL"),
        ("http://{clickid}.example/x", "not in the host"),
    ],
)
def test_an_unsafe_url_is_refused_with_a_clear_message(portal, offer, url, message):
    response = portal.post(_url(offer, "add/"), _form(url=url))

    assert response.status_code == 200
    errors = response.context["form"].errors["url"]
    assert len(errors) == 1 and message in errors[0]
    assert escape(message) in response.content.decode()
    assert not Postback.objects.exists()


def test_unknown_macros_are_saved_as_they_are_with_a_warning(portal, offer):
    url = "http://127.0.0.1:9/pb?c={clickid}&x={foo}&y={bar}&o={offer_id}"
    response = portal.post(_url(offer, "add/"), _form(url=url), follow=True)

    assert _messages(response) == ["Saved. Unknown macros left as they are: {foo}, {bar}"]
    assert Postback.objects.get().url == url


def test_an_affiliate_edits_a_postback_and_enabling_it_clears_why_it_was_disabled(portal, affiliate, offer):
    postback = PostbackFactory(
        affiliate=affiliate, offer=offer, enabled=False, disabled_reason="Every delivery failed for 3 days."
    )
    page = portal.get(_url(offer, f"{postback.pk}/")).content.decode()
    assert "Every delivery failed for 3 days." in page and escape(postback.url) in page

    new_url = "http://127.0.0.1:9/edited?s={status}"
    response = portal.post(_url(offer, f"{postback.pk}/"), _form(url=new_url, status="declined"), follow=True)

    assert response.redirect_chain == [(_url(offer), 302)]
    postback.refresh_from_db()
    assert (postback.url, postback.status, postback.enabled, postback.disabled_reason) == (
        new_url,
        "declined",
        True,
        "",
    )


def test_an_unsafe_url_on_edit_leaves_the_postback_as_it_was(portal, affiliate, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    response = portal.post(_url(offer, f"{postback.pk}/"), _form(url="http://192.168.1.1/pb"))

    assert "a private, local or reserved address" in response.context["form"].errors["url"][0]
    postback.refresh_from_db()
    assert postback.url == PostbackFactory.url


def test_delete_asks_for_confirmation_and_keeps_the_log(portal, affiliate, offer):
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    delivery = DeliveryFactory(
        affiliate=affiliate, postback=postback, conversion=ConversionFactory(affiliate=affiliate, offer=offer)
    )

    page = portal.get(_url(offer, f"{postback.pk}/delete/")).content.decode()
    assert "Delete this postback?" in page and 'method="post"' in page
    assert Postback.objects.filter(pk=postback.pk).exists()

    response = portal.post(_url(offer, f"{postback.pk}/delete/"), follow=True)

    assert response.redirect_chain == [(_url(offer), 302)]
    assert _messages(response) == ["Postback deleted."]
    assert not Postback.objects.filter(pk=postback.pk).exists()
    delivery.refresh_from_db()
    assert delivery.postback is None


def test_offers_the_affiliate_cannot_see_are_not_found(portal, affiliate):
    paused = OfferFactory(status=Offer.Status.PAUSED)
    PostbackFactory(affiliate=affiliate, offer=paused)
    for url in [
        _url(paused),
        _url(paused, "add/"),
        "/offers/999999/postbacks/",
        "/offers/99999999999999999999/postbacks/",
        _url(OfferFactory(), "99999999999999999999999/"),
    ]:
        assert portal.get(url).status_code == 404, url
    assert portal.post(_url(paused, "add/"), _form()).status_code == 404
    assert Postback.objects.count() == 1


def test_a_private_offer_the_affiliate_can_see_has_the_tab(portal, affiliate):
    private = OfferAccessFactory(affiliate=affiliate).offer
    assert portal.get(_url(private)).status_code == 200


def test_another_affiliates_postback_is_not_found_and_stays_unchanged(portal, other_affiliate, offer):
    theirs = PostbackFactory(affiliate=other_affiliate, offer=offer, url="http://127.0.0.1:9/theirs")
    base = _url(offer, f"{theirs.pk}/")

    assert portal.get(base).status_code == 404
    assert portal.post(base, _form(url="http://127.0.0.1:9/hijacked")).status_code == 404
    assert portal.get(base + "delete/").status_code == 404
    assert portal.post(base + "delete/").status_code == 404
    assert portal.post(base + "test/").status_code == 404

    theirs.refresh_from_db()
    assert theirs.url == "http://127.0.0.1:9/theirs"
    assert not Delivery.objects.exists()


def test_a_postback_is_reached_only_under_its_own_offer(portal, affiliate, offer):
    elsewhere = PostbackFactory(affiliate=affiliate, offer=OfferFactory())
    global_postback = PostbackFactory(affiliate=affiliate)
    for postback in [elsewhere, global_postback]:
        assert portal.get(_url(offer, f"{postback.pk}/")).status_code == 404
        assert portal.post(_url(offer, f"{postback.pk}/delete/")).status_code == 404
    assert Postback.objects.count() == 2


def test_send_test_postback_shows_the_url_the_answer_and_the_code(httpserver, portal, affiliate, offer):
    httpserver.expect_request("/pb").respond_with_data("ok from tracker", status=200)
    postback = PostbackFactory(
        affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb") + "?goal={goal}&s={sub1}"
    )

    response = portal.post(_url(offer, f"{postback.pk}/test/"), follow=True)

    assert response.redirect_chain == [(_url(offer), 302)]
    request, _ = httpserver.log[0]
    assert request.args["goal"] == "install" and request.args["s"] == "test_sub1"
    delivery = response.context["test_delivery"]
    assert delivery.conversion.is_test and delivery.http_code == 200
    page = response.content.decode()
    rendered = httpserver.url_for("/pb") + "?goal=install&amp;s=test_sub1"
    for text in [rendered, "Succeeded", '<dd id="test-http-code">200</dd>', "ok from tracker"]:
        assert text in page, text
    # Shown once: a reload shows the list only.
    assert portal.get(_url(offer)).context["test_delivery"] is None
    assert "Succeeded" in portal.get(_url(offer)).content.decode()  # as the last delivery


def test_a_failing_test_postback_shows_the_error(httpserver, portal, affiliate, offer):
    httpserver.expect_request("/pb").respond_with_data("no such campaign", status=404)
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb"))

    page = portal.post(_url(offer, f"{postback.pk}/test/"), follow=True).content.decode()

    for text in ["Failed", '<dd id="test-http-code">404</dd>', "HTTP 404: a postback needs a 2xx answer"]:
        assert text in page, text
    assert "no such campaign" in page
    assert Delivery.objects.get().state == "failed"


def test_a_test_postback_to_a_closed_port_says_in_words_what_to_check(portal, affiliate, offer):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the probe is
    postback = PostbackFactory(affiliate=affiliate, offer=offer, url=f"http://127.0.0.1:{port}/pb")

    page = portal.post(_url(offer, f"{postback.pk}/test/"), follow=True).content.decode()

    result = page.split('id="test-explanation"', 1)[1].split("</section>", 1)[0]
    words, detail = result.split("<details>", 1)
    assert re.search(r"<strong[^>]*>(.*?)</strong>", words).group(1) == "Connection refused"
    assert f"Is your server running and listening on port {port}?" in words
    assert "[Errno" not in words and "[Errno 111] Connect call failed" in detail.split("</details>")[0]
    assert '<dd id="test-http-code">No answer</dd>' in page and "HTTP 0" not in page
    # The postback's last delivery, in the list below, is explained the same way.
    assert page.count("Is your server running and listening") == 2


def test_forms_refuse_a_request_without_the_csrf_token(affiliate, offer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(affiliate.user)
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    for url in [
        _url(offer, "add/"),
        _url(offer, f"{postback.pk}/delete/"),
        _url(offer, f"{postback.pk}/test/"),
    ]:
        assert browser.post(url, _form()).status_code == 403, url
    assert Postback.objects.count() == 1
