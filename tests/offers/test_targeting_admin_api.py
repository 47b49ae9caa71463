"""Managers set an offer's targeting in the admin and the manager API; affiliates read it on the
offer page and in the partner API; managers browse refused clicks in the admin."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from offers.models import Offer
from offers.targeting import MAX_TARGETS
from tests.factories import AdvertiserFactory, OfferFactory
from tracking.models import RefusedClick, new_click_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, manager):
    client.force_login(manager)
    return client


# --- Admin ----------------------------------------------------------------------------------


def change_page_values(admin_client, offer) -> dict:
    """The offer's change form as a browser would submit it untouched: every field's current
    value, its inlines' included."""
    response = admin_client.get(reverse("admin:offers_offer_change", args=[offer.pk]))
    forms = [response.context["adminform"].form]
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False:
                continue
            data[field.html_name] = "on" if value is True else value
    return data


def save_in_admin(admin_client, offer, **changes):
    data = {**change_page_values(admin_client, offer), **changes}
    return admin_client.post(reverse("admin:offers_offer_change", args=[offer.pk]), data)


def form_errors(response) -> dict:
    return response.context["adminform"].form.errors


def test_a_manager_sets_countries_os_families_and_device_types_in_the_admin(admin_client):
    offer = OfferFactory()
    response = save_in_admin(
        admin_client,
        offer,
        target_countries="us, DE;at ",
        target_os_families="ios, mac os x, Android, IOS",
        target_device_types=["mobile", "tablet"],
    )
    assert response.status_code == 302, form_errors(response)
    offer.refresh_from_db()
    assert offer.target_countries == ["US", "DE", "AT"]
    assert offer.target_os_families == ["iOS", "Mac OS X", "Android"]
    assert offer.target_device_types == ["mobile", "tablet"]
    # The form shows the lists as they are typed, the device types as ticked boxes.
    page = admin_client.get(reverse("admin:offers_offer_change", args=[offer.pk])).content.decode()
    assert 'value="US, DE, AT"' in page and 'value="iOS, Mac OS X, Android"' in page
    assert 'type="checkbox" name="target_device_types" value="mobile"' in page


def test_clearing_the_admin_fields_opens_the_offer_to_everyone(admin_client):
    offer = OfferFactory(target_countries=["US"], target_os_families=["iOS"], target_device_types=["mobile"])
    data = change_page_values(admin_client, offer)
    data.pop("target_device_types")
    data.update(target_countries="", target_os_families=" , ")
    response = admin_client.post(reverse("admin:offers_offer_change", args=[offer.pk]), data)
    assert response.status_code == 302, form_errors(response)
    offer.refresh_from_db()
    assert (offer.target_countries, offer.target_os_families, offer.target_device_types) == ([], [], [])


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("target_countries", "US, XX", "'XX' is not a country code such as US or DE (ISO 3166-1 alpha-2)."),
        ("target_countries", "None", "'None' is not a country code such as US or DE (ISO 3166-1 alpha-2)."),
        ("target_countries", "USA", "'USA' is not a country code such as US or DE (ISO 3166-1 alpha-2)."),
        ("target_countries", "US\x00", "Null characters are not allowed."),
        ("target_countries", "US, " * 1000, "Type at most 2000 characters."),
        (
            "target_os_families",
            "iOS, " + "x" * 40,
            f"'{'x' * 36}... is longer than an OS family can be (32 characters).",
        ),
        ("target_os_families", "Win\x00dows", "Null characters are not allowed."),
        (
            "target_os_families",
            "Win\x01dows",
            "'Win\\x01dows' is not an OS family such as iOS, Android, Windows.",
        ),
        (
            "target_device_types",
            ["phone"],
            "Select a valid choice. phone is not one of the available choices.",
        ),
    ],
)
def test_bad_targeting_in_the_admin_is_refused_with_a_message_and_saves_nothing(
    admin_client, field, typed, message
):
    offer = OfferFactory(target_countries=["FR"])
    response = save_in_admin(admin_client, offer, **{field: typed})
    assert response.status_code == 200
    assert form_errors(response)[field] == [message]
    offer.refresh_from_db()
    assert offer.target_countries == ["FR"] and offer.target_os_families == []


def test_too_many_os_families_in_the_admin_are_refused(admin_client):
    offer = OfferFactory()
    names = ",".join(f"OS{n}" for n in range(MAX_TARGETS + 1))
    response = save_in_admin(admin_client, offer, target_os_families=names)
    assert form_errors(response)["target_os_families"] == [f"Give at most {MAX_TARGETS} OS families."]


# --- Manager API ------------------------------------------------------------------------------


def patch(manager_api, offer, **fields):
    return manager_api.patch(f"/api/v1/manage/offers/{offer.offer_id}/", fields, format="json")


def test_a_manager_sets_targeting_through_the_api_in_any_case(manager_api):
    offer = OfferFactory()
    response = patch(
        manager_api,
        offer,
        target_countries=["us", " de ", "US"],
        target_os_families=["android", "Windows"],
        target_device_types=["Desktop", "mobile"],
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["target_countries"] == ["US", "DE"]
    assert body["target_os_families"] == ["Android", "Windows"]
    assert body["target_device_types"] == ["desktop", "mobile"]
    offer.refresh_from_db()
    assert offer.target_countries == ["US", "DE"]
    assert patch(manager_api, offer, target_countries=[]).json()["target_countries"] == []


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"target_countries": ["US", "XX"]},
            {"target_countries": ["'XX' is not a country code such as US or DE (ISO 3166-1 alpha-2)."]},
        ),
        (
            {"target_countries": ["None"]},
            {"target_countries": ["'None' is not a country code such as US or DE (ISO 3166-1 alpha-2)."]},
        ),
        (
            # Upper-cased, "ß" would be "SS", South Sudan's code: only ASCII letters make a code.
            {"target_countries": ["ß"]},
            {"target_countries": ["'ß' is not a country code such as US or DE (ISO 3166-1 alpha-2)."]},
        ),
        ({"target_countries": [None]}, {"target_countries": {"0": ["This field may not be null."]}}),
        ({"target_countries": None}, {"target_countries": ["This field may not be null."]}),
        ({"target_countries": ["U\x00S"]}, {"target_countries": {"0": ["Null characters are not allowed."]}}),
        ({"target_countries": "US"}, {"target_countries": ['Expected a list of items but got type "str".']}),
        (
            {"target_countries": {"US": 1}},
            {"target_countries": ['Expected a list of items but got type "dict".']},
        ),
        (
            {"target_countries": ["US"] * (MAX_TARGETS + 1)},
            {"target_countries": [f"Ensure this field has no more than {MAX_TARGETS} elements."]},
        ),
        (
            {"target_countries": ["x" * 65]},
            {"target_countries": {"0": ["Ensure this field has no more than 64 characters."]}},
        ),
        ({"target_os_families": [""]}, {"target_os_families": {"0": ["This field may not be blank."]}}),
        (
            {"target_os_families": ["x" * 40]},
            {"target_os_families": [f"'{'x' * 36}... is longer than an OS family can be (32 characters)."]},
        ),
        (
            {"target_device_types": ["phone"]},
            {
                "target_device_types": [
                    "'phone' is not a device type: choose from desktop, mobile, tablet, bot."
                ]
            },
        ),
        ({"target_device_types": [1]}, None),
    ],
)
def test_bad_targeting_through_the_api_is_a_400_naming_the_field(manager_api, fields, errors):
    offer = OfferFactory(target_countries=["FR"])
    response = patch(manager_api, offer, **fields)
    assert response.status_code == 400
    if errors is not None:
        assert response.json() == errors
    else:
        assert set(response.json()) == set(fields)
    offer.refresh_from_db()
    assert offer.target_countries == ["FR"] and offer.target_device_types == []


def test_a_huge_list_through_the_api_is_refused_not_a_500(manager_api):
    offer = OfferFactory()
    response = patch(manager_api, offer, target_countries=["DE"] * 50_000)
    assert response.status_code == 400
    assert "target_countries" in response.json()


def test_an_offer_created_through_the_api_without_targeting_accepts_everyone(manager_api):
    fields = {
        "advertiser": AdvertiserFactory().pk,
        "title": "Everyone",
        "destination_url": "https://adv.example/?c={clickid}",
        "goals": [{"value": "install", "title": "Install", "payout": "1", "currency": "USD"}],
    }
    response = manager_api.post("/api/v1/manage/offers/", fields, format="json")
    assert response.status_code == 201, response.json()
    offer = Offer.objects.get()
    assert (offer.target_countries, offer.target_os_families, offer.target_device_types) == ([], [], [])


# --- What affiliates see -----------------------------------------------------------------------


def test_the_offer_page_shows_the_targeting_in_words(portal):
    offer = OfferFactory(
        target_countries=["US", "DE"], target_os_families=["iOS"], target_device_types=["mobile"]
    )
    page = portal.get(f"/offers/{offer.offer_id}/").content.decode()
    assert "<dt>Countries</dt><dd>United States (US), Germany (DE)</dd>" in page
    assert "<dt>Operating systems</dt><dd>iOS</dd>" in page
    assert "<dt>Devices</dt><dd>Mobile</dd>" in page


def test_the_offer_page_of_an_untargeted_offer_says_it_takes_everyone(portal):
    offer = OfferFactory()
    page = portal.get(f"/offers/{offer.offer_id}/").content.decode()
    assert "<dd>All countries</dd>" in page
    assert "<dd>All operating systems</dd>" in page and "<dd>All devices</dd>" in page


def test_the_partner_api_shows_the_targeting_and_does_not_take_it(affiliate_api):
    offer = OfferFactory(target_countries=["DE"], target_device_types=["tablet"])
    body = affiliate_api.get(f"/api/v1/offers/{offer.offer_id}/").json()
    assert (body["target_countries"], body["target_os_families"], body["target_device_types"]) == (
        ["DE"],
        [],
        ["tablet"],
    )


# --- Refused clicks in the admin -----------------------------------------------------------------


@pytest.fixture
def refused_clicks(affiliate):
    offers = [OfferFactory(), OfferFactory()]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rows = []
    for n, (offer, reason) in enumerate(
        [(offers[0], "refused_country"), (offers[0], "refused_os"), (offers[1], "refused_country")]
    ):
        at = start + timedelta(hours=n)
        rows.append(
            RefusedClick.objects.create(
                click_id=new_click_id(at=at.timestamp()),  # as the click path makes it
                offer=offer,
                affiliate=affiliate,
                reason=reason,
                country="US",
                os_family="iOS",
                device_type="mobile",
                created_at=at,
            )
        )
    return {"offers": offers, "rows": rows}


def listed(admin_client, **filters):
    response = admin_client.get(reverse("admin:tracking_refusedclick_changelist"), filters)
    assert response.status_code == 200
    return [row.click_id for row in response.context["cl"].result_list]


def test_managers_see_refused_clicks_newest_first_with_their_reason(admin_client, refused_clicks):
    rows = refused_clicks["rows"]
    assert listed(admin_client) == [row.click_id for row in reversed(rows)]
    page = admin_client.get(reverse("admin:tracking_refusedclick_changelist")).content.decode()
    assert "Country not targeted" in page and "OS not targeted" in page and "United States (US)" in page


def test_refused_clicks_are_filtered_by_reason_and_offer(admin_client, refused_clicks):
    rows, offers = refused_clicks["rows"], refused_clicks["offers"]
    assert listed(admin_client, reason="refused_os") == [rows[1].click_id]
    assert listed(admin_client, reason="refused_country", offer__id__exact=offers[0].pk) == [rows[0].click_id]
    assert listed(admin_client, q=rows[2].click_id.upper()) == [rows[2].click_id]


def test_refused_clicks_are_read_only(admin_client, refused_clicks):
    row = refused_clicks["rows"][0]
    assert admin_client.get(reverse("admin:tracking_refusedclick_add")).status_code == 403
    assert admin_client.get(reverse("admin:tracking_refusedclick_change", args=[row.pk])).status_code == 200
    admin_client.post(reverse("admin:tracking_refusedclick_change", args=[row.pk]), {"reason": "x"})
    assert RefusedClick.objects.get(pk=row.pk).reason == "refused_country"
    assert admin_client.get(reverse("admin:tracking_refusedclick_delete", args=[row.pk])).status_code == 403


def test_an_os_family_no_user_agent_reports_is_kept_with_a_warning(manager_api):
    offer = OfferFactory()

    response = patch(manager_api, offer, target_os_families=["macOS", "ios"])

    assert response.status_code == 200
    assert response.json()["target_os_families"] == ["macOS", "iOS"]
    assert [warning[:41] for warning in response.json()["warnings"]] == [
        "No visitor's OS is reported as 'macOS': t"
    ]
