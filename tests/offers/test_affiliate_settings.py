"""An affiliate's settings change through offers.services, whichever page or endpoint asks: its
status (blocking), its postback options and its signing secret."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from conversions.models import Conversion
from offers.models import Affiliate
from offers.services import affiliate_set_signing_secret, affiliate_update
from tests.factories import ConversionFactory

pytestmark = pytest.mark.django_db


def test_a_signing_secret_is_made_as_64_hex_characters_kept_as_given_or_removed(affiliate):
    made = affiliate_set_signing_secret(affiliate=affiliate)
    assert re.fullmatch(r"[0-9a-f]{64}", made)
    assert affiliate_set_signing_secret(affiliate=affiliate) != made

    assert (
        affiliate_set_signing_secret(affiliate=affiliate, secret="the tracker's own") == "the tracker's own"
    )
    with pytest.raises(ValidationError) as refused:
        affiliate_set_signing_secret(affiliate=affiliate, secret="x" * 129)
    assert list(refused.value.message_dict) == ["signing_secret"]
    assert affiliate_set_signing_secret(affiliate=affiliate, secret="") == ""

    affiliate.refresh_from_db()
    assert affiliate.signing_secret == ""


def test_changing_one_setting_keeps_another_written_meanwhile(affiliate):
    on_the_settings_page = Affiliate.objects.get(pk=affiliate.pk)
    affiliate_set_signing_secret(affiliate=affiliate, secret="set meanwhile")

    affiliate_update(affiliate=on_the_settings_page, consider_global_postback=True)

    affiliate.refresh_from_db()
    assert (affiliate.signing_secret, affiliate.consider_global_postback) == ("set meanwhile", True)


def test_a_blocked_affiliate_is_refused_everywhere_and_keeps_its_conversions(
    affiliate, affiliate_api, portal
):
    conversion = ConversionFactory(affiliate=affiliate)

    affiliate_update(affiliate=affiliate, status=Affiliate.Status.BLOCKED)

    assert affiliate_api.get("/api/v1/me/").status_code == 403
    assert portal.get(reverse("portal:dashboard")).status_code == 403
    assert Conversion.objects.get(pk=conversion.pk).affiliate_id == affiliate.pk

    affiliate_update(affiliate=affiliate, status=Affiliate.Status.ACTIVE)
    assert affiliate_api.get("/api/v1/me/").status_code == 200


def test_the_admin_change_form_saves_an_affiliate(client, manager, affiliate):
    client.force_login(manager)
    response = client.post(
        reverse("admin:offers_affiliate_change", args=[affiliate.pk]),
        {
            "pid": affiliate.pid,
            "user": affiliate.user_id,
            "status": "blocked",
            "consider_global_postback": "on",
        },
    )
    assert response.status_code == 302
    affiliate.refresh_from_db()
    assert (affiliate.status, affiliate.consider_global_postback) == ("blocked", True)
