"""The confirmation pages and the conversion's status form on screen, in a real browser at a
desktop and a phone size: revoking an API key, replacing and clearing the signing secret, a status
action's intermediate page in the admin, the admin's other actions that ask first (revoking API
keys, deciding access requests) and a conversion's admin page. No sideways scrolling, no script
errors, no failed requests; screenshots are kept in var/screens/."""

import pytest

from api.services import api_key_issue
from conversions.models import Conversion
from offers.choices import ConversionStatus
from tests.factories import ClickFactory, ConversionFactory, OfferAccessFactory, OfferFactory, PostbackFactory
from tests.portal.screens import SIZES

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("direct_writes"),
]


@pytest.mark.parametrize("size", SIZES)
def test_revoking_an_api_key_asks_first_then_revokes_it(screen, affiliate, size):
    api_key, _ = api_key_issue(user=affiliate.user, name="tracker on the production server")
    browser = screen(affiliate.user, size)

    browser.goto("/settings/api-key/")
    browser.follow("text=Revoke")
    text = browser.check("api-key-revoke")

    assert f"Revoke key {api_key.prefix}…?" in text and "tracker on the production server" in text
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    browser.follow("button:has-text('Revoke this key')")
    assert f"Key {api_key.prefix}… revoked." in browser.check("api-key-revoked")
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


@pytest.mark.parametrize("size", SIZES)
def test_clearing_the_signing_secret_asks_first(screen, affiliate, size):
    affiliate.signing_secret = "the-secret"
    affiliate.save(update_fields=["signing_secret"])
    browser = screen(affiliate.user, size)

    browser.goto("/settings/postbacks/")
    browser.follow("text=Clear the secret")
    text = browser.check("signing-secret-clear")

    assert "Clear the signing secret?" in text
    browser.follow("button:has-text('Clear the secret')")
    assert "Signing secret cleared" in browser.check("signing-secret-cleared")
    affiliate.refresh_from_db()
    assert affiliate.signing_secret == ""


@pytest.mark.parametrize("size", SIZES)
def test_replacing_the_signing_secret_asks_first_then_shows_the_new_one(screen, affiliate, size):
    affiliate.signing_secret = "the-secret"
    affiliate.save(update_fields=["signing_secret"])
    browser = screen(affiliate.user, size)

    browser.goto("/settings/postbacks/")
    browser.follow("text=Generate a new secret")
    text = browser.check("signing-secret-replace")

    assert "Replace the signing secret?" in text and "until it has the new one" in text
    affiliate.refresh_from_db()
    assert affiliate.signing_secret == "the-secret"
    browser.follow("button:has-text('Replace the secret')")
    text = browser.check("signing-secret-replaced")
    affiliate.refresh_from_db()
    assert affiliate.signing_secret != "the-secret" and affiliate.signing_secret in text


@pytest.mark.parametrize("size", SIZES)
def test_revoking_api_keys_in_the_admin_shows_its_intermediate_page_first(screen, manager, affiliate, size):
    api_key, _ = api_key_issue(user=affiliate.user, name="tracker on the production server")
    browser = screen(manager, size)

    browser.goto("/admin/api/apikey/")
    browser.page.check(f"input[name=_selected_action][value='{api_key.pk}']")
    browser.page.select_option("select[name=action]", "revoke")
    browser.follow("button[name=index]")
    text = browser.check("admin-revoke-confirmation")

    assert "Revoke 1 API key(s)?" in text and "tracker on the production server" in text
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    browser.follow("input[type=submit][value='Yes, revoke 1 key(s)']")
    assert "1 key(s) revoked." in browser.page.inner_text("body")
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


@pytest.mark.parametrize("size", SIZES)
def test_rejecting_access_requests_in_the_admin_shows_its_intermediate_page_first(screen, manager, size):
    access = OfferAccessFactory(
        offer__title="Private sweepstakes with a title long enough to wrap on a phone"
    )
    browser = screen(manager, size)

    browser.goto("/admin/offers/offeraccess/")
    browser.page.check(f"input[name=_selected_action][value='{access.pk}']")
    browser.page.select_option("select[name=action]", "reject")
    browser.follow("button[name=index]")
    text = browser.check("admin-reject-access-confirmation")

    assert "Reject 1 access request(s)?" in text and "Access denied" in text
    access.refresh_from_db()
    assert access.status == "pending"
    browser.follow("input[type=submit][value='Yes, reject 1 request(s)']")
    assert "1 request(s) rejected." in browser.page.inner_text("body")
    access.refresh_from_db()
    assert access.status == "rejected"


@pytest.fixture
def conversions(affiliate):
    offer = OfferFactory(title="Fitness App Install with a title long enough to wrap on a phone")
    PostbackFactory(affiliate=affiliate)
    return [ConversionFactory(offer=offer, affiliate=affiliate, click=ClickFactory()) for _ in range(2)]


@pytest.mark.parametrize("size", SIZES)
def test_a_status_action_in_the_admin_shows_its_intermediate_page_first(screen, manager, conversions, size):
    browser = screen(manager, size)

    browser.goto("/admin/conversions/conversion/")
    for conversion in conversions:
        browser.page.check(f"input[name=_selected_action][value='{conversion.pk}']")
    browser.page.select_option("select[name=action]", "approve")
    browser.follow("button[name=index]")
    text = browser.check("admin-approve-confirmation")

    assert "2 of the 2 selected conversion(s) will be set to approved" in text
    assert "Affiliate postbacks will be sent" in text
    assert set(Conversion.objects.values_list("status", flat=True)) == {ConversionStatus.PENDING}
    browser.follow("input[type=submit][value^='Yes, set 2']")
    assert "2 conversion(s) set to approved." in browser.page.inner_text("body")
    assert set(Conversion.objects.values_list("status", flat=True)) == {ConversionStatus.APPROVED}


@pytest.mark.parametrize("size", SIZES)
def test_a_conversions_admin_page_changes_its_status(screen, manager, conversions, size):
    conversion = conversions[0]
    browser = screen(manager, size)

    browser.goto(f"/admin/conversions/conversion/{conversion.pk}/change/")
    text = browser.check("admin-conversion")

    assert "Change status" in text and "Status now: Pending" in text
    browser.page.select_option("select[name=status]", str(ConversionStatus.DECLINED.value))
    browser.follow("input[type=submit][value='Change status']")
    assert f"{conversion.conversion_id} set to declined." in browser.check("admin-conversion-declined")
    conversion.refresh_from_db()
    assert conversion.status == ConversionStatus.DECLINED
