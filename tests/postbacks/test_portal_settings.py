"""Settings > Postback information: global postbacks, "Consider global postback", the signing
secret and the macro reference."""

import re

import pytest
from django.utils.html import escape

from offers.models import Offer
from postbacks.macros import ALIASES, MACROS
from postbacks.models import Delivery, Postback
from tests.factories import OfferFactory, PostbackFactory

pytestmark = pytest.mark.django_db

URL = "/settings/postbacks/"
SAFE_URL = "http://127.0.0.1:9/global?c={clickid}"


def _form(**fields):
    return {
        "url": SAFE_URL,
        "status": "any",
        "integration_method": "default",
        "method": "GET",
        "enabled": "on",
    } | fields


def _messages(response):
    return [str(message) for message in response.context["messages"]]


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for url in [URL, URL + "add/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_the_settings_menu_links_to_postback_information(portal):
    dashboard = portal.get("/").content.decode()
    assert f'href="{URL}"' in dashboard and "Postback information" in dashboard
    assert f'<a href="{URL}" aria-current="page">Postback information</a>' in portal.get(URL).content.decode()


def test_the_page_lists_the_global_postbacks_only(portal, affiliate, other_affiliate):
    own = PostbackFactory(affiliate=affiliate, url="http://127.0.0.1:9/own-global", method="POST")
    PostbackFactory(affiliate=affiliate, offer=OfferFactory(), url="http://127.0.0.1:9/local-one")
    PostbackFactory(affiliate=other_affiliate, url="http://127.0.0.1:9/their-global")

    response = portal.get(URL)

    assert [postback.pk for postback in response.context["postbacks"]] == [own.pk]
    page = response.content.decode()
    assert "own-global" in page and "local-one" not in page and "their-global" not in page
    assert "<th>Goal</th>" not in page


def test_an_affiliate_adds_a_global_postback_without_a_goal(portal, affiliate):
    form = portal.get(URL + "add/").context["form"]
    assert "goal" not in form.fields

    response = portal.post(URL + "add/", _form(status="approved"), follow=True)

    assert response.redirect_chain == [(URL, 302)]
    assert _messages(response) == ["Postback saved."]
    postback = Postback.objects.get()
    assert (postback.affiliate, postback.offer, postback.goal, postback.status) == (
        affiliate,
        None,
        None,
        "approved",
    )


def test_a_global_postback_takes_no_goal_even_when_one_is_posted(portal):
    goal = OfferFactory().goals.get()
    portal.post(URL + "add/", _form(goal=goal.pk))
    assert Postback.objects.get().goal is None


def test_unsafe_urls_and_unknown_macros_are_reported_for_global_postbacks_too(portal):
    response = portal.post(URL + "add/", _form(url="http://127.0.0.1.nip.invalid@10.1.2.3/x"))
    assert "Credentials in the URL" in response.context["form"].errors["url"][0]
    response = portal.post(URL + "add/", _form(url="http://10.1.2.3/x"))
    assert "10.1.2.3, a private, local or reserved address" in response.context["form"].errors["url"][0]
    assert not Postback.objects.exists()

    response = portal.post(URL + "add/", _form(url=SAFE_URL + "&t={tid}"), follow=True)
    assert _messages(response) == ["Saved. Unknown macros left as they are: {tid}"]


def test_an_affiliate_edits_and_deletes_a_global_postback(portal, affiliate):
    postback = PostbackFactory(affiliate=affiliate)

    response = portal.post(f"{URL}{postback.pk}/", _form(url="http://127.0.0.1:9/new", method="POST"))
    assert response.status_code == 302 and response["Location"] == URL
    postback.refresh_from_db()
    assert (postback.url, postback.method) == ("http://127.0.0.1:9/new", "POST")

    assert "Delete this postback?" in portal.get(f"{URL}{postback.pk}/delete/").content.decode()
    response = portal.post(f"{URL}{postback.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == URL
    assert not Postback.objects.exists()


def test_local_and_other_affiliates_postbacks_are_not_found_here(portal, affiliate, other_affiliate):
    local = PostbackFactory(affiliate=affiliate, offer=OfferFactory(), url="http://127.0.0.1:9/local")
    theirs = PostbackFactory(affiliate=other_affiliate, url="http://127.0.0.1:9/theirs")
    for postback in [local, theirs]:
        assert portal.get(f"{URL}{postback.pk}/").status_code == 404
        assert (
            portal.post(f"{URL}{postback.pk}/", _form(url="http://127.0.0.1:9/hijacked")).status_code == 404
        )
        assert portal.post(f"{URL}{postback.pk}/delete/").status_code == 404
        assert portal.post(f"{URL}{postback.pk}/test/").status_code == 404
    assert sorted(Postback.objects.values_list("url", flat=True)) == [
        "http://127.0.0.1:9/local",
        "http://127.0.0.1:9/theirs",
    ]
    assert not Delivery.objects.exists()


def test_a_global_test_postback_uses_an_offer_the_affiliate_can_run(httpserver, portal, affiliate):
    OfferFactory(visibility=Offer.Visibility.PRIVATE)
    runnable = OfferFactory(goals=[{"value": "sale", "title": "Sale"}])
    httpserver.expect_request("/global").respond_with_data("logged", status=201)
    postback = PostbackFactory(
        affiliate=affiliate, url=httpserver.url_for("/global") + "?o={offerid}&g={goal}"
    )

    response = portal.post(f"{URL}{postback.pk}/test/", follow=True)

    assert response.redirect_chain == [(URL, 302)]
    request, _ = httpserver.log[0]
    assert request.args["o"] == str(runnable.offer_id) and request.args["g"] == "sale"
    page = response.content.decode()
    assert '<dd id="test-http-code">201</dd>' in page and "logged" in page and "Succeeded" in page


def test_a_global_test_postback_without_any_runnable_offer_says_why(portal, affiliate):
    postback = PostbackFactory(affiliate=affiliate)
    response = portal.post(f"{URL}{postback.pk}/test/", follow=True)
    assert _messages(response) == ["There is no offer you can run to send a test conversion for."]
    assert not Delivery.objects.exists()


def test_consider_global_postback_is_saved(portal, affiliate):
    page = portal.get(URL).content.decode()
    assert "Consider global postback" in page and 'name="consider_global_postback"' in page

    response = portal.post(URL, {"consider_global_postback": "on"}, follow=True)
    assert _messages(response) == ["Postback options saved."]
    affiliate.refresh_from_db()
    assert affiliate.consider_global_postback
    assert response.context["options_form"]["consider_global_postback"].value() is True

    portal.post(URL, {})
    affiliate.refresh_from_db()
    assert not affiliate.consider_global_postback


def test_a_signing_secret_is_generated_shown_once_and_cleared(portal, affiliate):
    assert "No signing secret is set" in portal.get(URL).content.decode()

    response = portal.post(URL + "signing-secret/", {"action": "generate"}, follow=True)

    affiliate.refresh_from_db()
    assert re.fullmatch(r"[0-9a-f]{64}", affiliate.signing_secret)
    page = response.content.decode()
    assert f'<code class="link" id="new-signing-secret">{affiliate.signing_secret}</code>' in page
    assert "A signing secret is set" in page
    reloaded = portal.get(URL).content.decode()
    assert affiliate.signing_secret not in reloaded and "A signing secret is set" in reloaded

    first = affiliate.signing_secret
    portal.post(URL + "signing-secret/", {"action": "generate", "confirm": "yes"})
    affiliate.refresh_from_db()
    assert affiliate.signing_secret != first

    response = portal.post(URL + "signing-secret/clear/", {"confirm": "yes"}, follow=True)
    affiliate.refresh_from_db()
    assert affiliate.signing_secret == ""
    assert _messages(response) == ["Signing secret cleared: postbacks are sent unsigned."]
    assert "No signing secret is set" in response.content.decode()


def test_saving_the_options_keeps_the_signing_secret(portal, affiliate):
    affiliate.signing_secret = "kept-secret"
    affiliate.save()
    portal.post(URL, {"consider_global_postback": "on"})
    affiliate.refresh_from_db()
    assert (affiliate.signing_secret, affiliate.consider_global_postback) == ("kept-secret", True)


def test_the_signing_secret_is_the_affiliates_own(portal, affiliate, other_affiliate):
    other_affiliate.signing_secret = "theirs"
    other_affiliate.save()
    portal.post(URL + "signing-secret/clear/", {"confirm": "yes"})
    other_affiliate.refresh_from_db()
    assert other_affiliate.signing_secret == "theirs"


def test_the_macro_reference_lists_every_macro_and_alias(portal):
    page = portal.get(URL).content.decode()
    assert 'id="macros"' in page
    for name, description in MACROS.items():
        assert f"<code>{{{name}}}</code></td><td>{escape(description)}</td>" in page, name
    for alias, name in ALIASES.items():
        assert f"<code>{{{alias}}}</code></td><td><code>{{{name}}}</code>" in page, alias
