"""Partner and manager endpoints for offers, affiliates, advertisers and access."""

import pytest
from rest_framework.test import APIClient

from offers.models import Advertiser, Affiliate, Offer, OfferAccess
from tests.factories import AdvertiserFactory, AffiliateFactory, OfferAccessFactory, OfferFactory

pytestmark = pytest.mark.django_db


# --- Partner ----------------------------------------------------------------------------


def test_me_shows_the_affiliate_and_updates_postback_settings(affiliate, affiliate_api):
    body = affiliate_api.get("/api/v1/me/").json()
    assert body == {
        "pid": affiliate.pid,
        "username": affiliate.user.username,
        "email": affiliate.user.email,
        "status": "active",
        "consider_global_postback": False,
        "alert_emails": True,
        "has_signing_secret": False,
    }
    body = affiliate_api.patch(
        "/api/v1/me/", {"consider_global_postback": True, "signing_secret": "s3cret"}, format="json"
    ).json()
    assert body["consider_global_postback"] is True and body["has_signing_secret"] is True
    assert "signing_secret" not in body
    affiliate.refresh_from_db()
    assert affiliate.signing_secret == "s3cret"


def test_me_refuses_bad_values_field_by_field(affiliate_api):
    response = affiliate_api.patch(
        "/api/v1/me/", {"consider_global_postback": "perhaps", "signing_secret": "x" * 200}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"consider_global_postback", "signing_secret"}


def test_me_ignores_read_only_fields(affiliate, affiliate_api):
    affiliate_api.patch("/api/v1/me/", {"pid": 999, "status": "blocked"}, format="json")
    affiliate.refresh_from_db()
    assert affiliate.pid != 999 and affiliate.status == "active"


def test_partner_offers_carry_the_public_fields(affiliate, affiliate_api):
    offer = OfferFactory(
        title="Store",
        hold_period_days=7,
        goals=[{"value": "sale", "title": "Sale", "payout": "3.5", "currency": "EUR"}],
    )
    body = affiliate_api.get(f"/api/v1/offers/{offer.offer_id}/").json()
    assert body["id"] == offer.offer_id and body["title"] == "Store"
    assert body["status"] == "active" and body["visibility"] == "public" and body["access"] == "open"
    assert body["currency"] == "EUR" and body["hold_period_days"] == 7
    assert body["goals"] == [
        {
            "value": "sale",
            "title": "Sale",
            "payout_type": "fixed",
            "payout": "3.5000",
            "payout_percent": "0.0000",
            "payout_terms": "3.50 EUR",
            "currency": "EUR",
            "country_payouts": [],
        }
    ]
    assert (
        body["tracking_link"] == f"http://localhost:8000/click?pid={affiliate.pid}&offer_id={offer.offer_id}"
    )
    assert "revenue" not in str(body) and "destination_url" not in body and "secure_code" not in body


def test_private_offers_show_the_access_state_and_no_link_before_approval(affiliate, affiliate_api):
    offer = OfferFactory(visibility=Offer.Visibility.PRIVATE)
    body = affiliate_api.get(f"/api/v1/offers/{offer.offer_id}/").json()
    assert body["access"] == "none" and body["tracking_link"] is None
    assert affiliate_api.get(f"/api/v1/offers/{offer.offer_id}/tracking-link/").status_code == 403
    body = affiliate_api.post(f"/api/v1/offers/{offer.offer_id}/request-access/").json()
    assert body["access"] == "pending"
    OfferAccess.objects.filter(offer=offer).update(status="approved")
    assert affiliate_api.get(f"/api/v1/offers/{offer.offer_id}/").json()["tracking_link"]


def test_requesting_access_to_a_public_offer_is_a_clear_400(affiliate_api):
    offer = OfferFactory()
    response = affiliate_api.post(f"/api/v1/offers/{offer.offer_id}/request-access/")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["This offer is public: no access request is needed."]}


def test_the_tracking_link_endpoint_keeps_the_affiliates_macros(affiliate, affiliate_api):
    offer = OfferFactory()
    body = affiliate_api.get(
        f"/api/v1/offers/{offer.offer_id}/tracking-link/",
        {"sub1": "{clickid}", "sub2": "a b&c", "ref_id": "r1"},
    ).json()
    assert body == {
        "tracking_link": f"http://localhost:8000/click?pid={affiliate.pid}&offer_id={offer.offer_id}"
        "&sub1={clickid}&sub2=a%20b%26c&ref_id=r1"
    }
    response = affiliate_api.get(f"/api/v1/offers/{offer.offer_id}/tracking-link/", {"sub3": "x" * 513})
    assert response.status_code == 400 and "sub3" in response.json()


def test_partner_offers_hide_paused_offers_and_other_affiliates_access(affiliate_api):
    paused = OfferFactory(status=Offer.Status.PAUSED)
    theirs = OfferAccessFactory(affiliate=AffiliateFactory(), status="approved").offer
    assert affiliate_api.get(f"/api/v1/offers/{paused.offer_id}/").status_code == 404
    assert affiliate_api.get("/api/v1/offers/99999999999999/").status_code == 404
    body = affiliate_api.get(f"/api/v1/offers/{theirs.offer_id}/").json()
    assert body["access"] == "none" and body["tracking_link"] is None


def test_partner_offers_are_searchable(affiliate_api):
    OfferFactory(title="Fitness app")
    OfferFactory(title="Casino")
    results = affiliate_api.get("/api/v1/offers/", {"search": "fitness"}).json()["results"]
    assert [offer["title"] for offer in results] == ["Fitness app"]


# --- Manager ----------------------------------------------------------------------------


def test_managers_create_advertisers_with_an_ip_allowlist(manager_api):
    response = manager_api.post(
        "/api/v1/manage/advertisers/",
        {"name": "Acme", "secure_code": "abc", "ip_allowlist": ["203.0.113.0/24"]},
        format="json",
    )
    assert response.status_code == 201
    assert Advertiser.objects.get(name="Acme").ip_allowlist == ["203.0.113.0/24"]


def test_bad_advertiser_input_gets_field_errors(manager_api):
    AdvertiserFactory(name="Taken")
    response = manager_api.post(
        "/api/v1/manage/advertisers/", {"name": "Taken", "ip_allowlist": ["10.0.0.300"]}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"name", "ip_allowlist"}


OFFER = {
    "title": "New offer",
    "destination_url": "https://advertiser.example/?cid={clickid}",
    "visibility": "private",
    "click_lifetime_days": 14,
    "hold_period_days": 3,
    "secure_code": "s3",
    "goals": [
        {
            "value": "install",
            "title": "Install",
            "payout": "1.5",
            "revenue": "2",
            "currency": "USD",
            "default_status": 2,
        },
        {
            "value": "sale",
            "title": "Sale",
            "payout": "10",
            "revenue": "15",
            "currency": "USD",
            "default_status": 1,
        },
    ],
}


def test_managers_create_offers_with_goals(manager_api):
    advertiser = AdvertiserFactory()
    response = manager_api.post(
        "/api/v1/manage/offers/", {**OFFER, "advertiser": advertiser.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    offer = Offer.objects.get(offer_id=body["id"])
    assert [(g.value, g.default_status) for g in offer.goals.all()] == [("install", 2), ("sale", 1)]
    assert body["goals"][1]["revenue"] == "15.0000" and body["currency"] == "USD"


def test_managers_keep_an_offer_id_from_another_platform(manager_api):
    advertiser = AdvertiserFactory()
    response = manager_api.post(
        "/api/v1/manage/offers/", {**OFFER, "advertiser": advertiser.pk, "id": 1234}, format="json"
    )
    assert response.json()["id"] == 1234
    again = manager_api.post(
        "/api/v1/manage/offers/", {**OFFER, "advertiser": advertiser.pk, "id": 1234}, format="json"
    )
    assert again.status_code == 400 and again.json() == {"id": ["An offer with this id already exists."]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"goals": []}, "goals"),
        ({"goals": [{"value": "a", "title": "A"}, {"value": "A", "title": "A again"}]}, "goals"),
        ({"goals": [{"value": "a", "title": "A", "default_status": 4}]}, "goals"),
        ({"goals": [{"value": "a", "title": "A", "payout": "-1"}]}, "goals"),
        ({"destination_url": "javascript:alert(1)"}, "destination_url"),
        ({"click_lifetime_days": 0}, "click_lifetime_days"),
        ({"status": "deleted"}, "status"),
        ({"id": 0}, "id"),
        ({"advertiser": 999999}, "advertiser"),
    ],
)
def test_bad_offer_input_gets_field_errors_and_saves_nothing(manager_api, change, field):
    advertiser = AdvertiserFactory()
    response = manager_api.post(
        "/api/v1/manage/offers/", {**OFFER, "advertiser": advertiser.pk, **change}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not Offer.objects.exists()


def test_managers_update_an_offer_and_replace_its_goals(manager_api):
    offer = OfferFactory(goals=[{"value": "old", "title": "Old"}])
    response = manager_api.patch(
        f"/api/v1/manage/offers/{offer.offer_id}/",
        {"status": "paused", "goals": [{"value": "new", "title": "New"}]},
        format="json",
    )
    assert response.status_code == 200
    offer.refresh_from_db()
    assert offer.status == "paused" and list(offer.goals.values_list("value", flat=True)) == ["new"]


def test_creating_an_affiliate_creates_its_login_and_returns_a_working_key(manager_api):
    response = manager_api.post(
        "/api/v1/manage/affiliates/",
        {"username": "newbie", "email": "n@example.com", "password": "long-enough-pw"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "newbie" and body["status"] == "active" and body["api_key"]
    affiliate = Affiliate.objects.get(pid=body["id"])
    assert affiliate.user.check_password("long-enough-pw")
    me = APIClient().get("/api/v1/me/", HTTP_API_KEY=body["api_key"]).json()
    assert me["pid"] == body["id"]
    listed = manager_api.get(f"/api/v1/manage/affiliates/{body['id']}/").json()
    assert listed["api_key"] is None and "password" not in listed


def test_bad_affiliate_input_gets_field_errors(manager_api):
    AffiliateFactory(user__username="taken", pid=5)
    response = manager_api.post(
        "/api/v1/manage/affiliates/",
        {"username": "taken", "email": "bad", "password": "short", "id": 5},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"username", "email", "password", "id"}


def test_managers_block_an_affiliate(manager_api):
    affiliate = AffiliateFactory()
    response = manager_api.patch(
        f"/api/v1/manage/affiliates/{affiliate.pid}/", {"status": "blocked"}, format="json"
    )
    assert response.status_code == 200
    affiliate.refresh_from_db()
    assert affiliate.status == "blocked"


def test_managers_grant_and_decide_offer_access(manager, manager_api):
    offer, affiliate = OfferFactory(visibility="private"), AffiliateFactory()
    response = manager_api.post(
        "/api/v1/manage/offer-access/",
        {"affiliate": affiliate.pid, "offer": offer.offer_id, "status": "approved"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    access = OfferAccess.objects.get()
    assert access.status == "approved" and access.decided_by == manager
    manager_api.patch(f"/api/v1/manage/offer-access/{access.pk}/", {"status": "rejected"}, format="json")
    access.refresh_from_db()
    assert access.status == "rejected"
    assert manager_api.get("/api/v1/manage/offer-access/", {"status": "pending"}).json()["count"] == 0


def test_access_to_a_public_offer_or_twice_is_refused(manager_api):
    access = OfferAccessFactory()
    public = OfferFactory()
    response = manager_api.post(
        "/api/v1/manage/offer-access/",
        {"affiliate": access.affiliate.pid, "offer": public.offer_id},
        format="json",
    )
    assert response.status_code == 400 and "offer" in response.json()
    response = manager_api.post(
        "/api/v1/manage/offer-access/",
        {"affiliate": access.affiliate.pid, "offer": access.offer.offer_id},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["This affiliate already has an access entry for this offer."]
    }


def test_malformed_json_is_a_400_not_a_500(manager_api):
    response = manager_api.generic(
        "POST", "/api/v1/manage/offers/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_patch_of_an_offers_goals_names_each_goals_value(manager_api):
    offer = OfferFactory()
    response = manager_api.patch(
        f"/api/v1/manage/offers/{offer.offer_id}/", {"goals": [{"title": "x"}]}, format="json"
    )
    assert response.status_code == 400
    assert "value" in str(response.json())
