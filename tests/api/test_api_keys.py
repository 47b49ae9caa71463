"""A user holds at most API_KEYS_PER_USER active keys, however the key is asked for."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from api.models import ApiKey
from api.services import affiliate_create_with_api_key, api_key_issue, api_key_revoke
from config import settings as defaults
from offers.models import Affiliate

pytestmark = pytest.mark.django_db

REFUSAL = "already holds 3 active API keys, the most one user may hold"


@pytest.fixture(autouse=True)
def three_keys_per_user(settings):
    settings.API_KEYS_PER_USER = 3


def _active(user) -> int:
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).count()


def test_the_default_cap_is_ten_keys():
    assert defaults.API_KEYS_PER_USER == 10


def test_a_user_at_the_cap_is_refused_another_key_on_the_portal_page_with_a_message(portal, affiliate):
    for _ in range(3):
        portal.post(reverse("portal:api-key"), {"name": "tracker"}, follow=True)

    response = portal.post(reverse("portal:api-key"), {"name": "one too many"}, follow=True)

    assert response.status_code == 200
    assert REFUSAL in response.content.decode()
    assert response.context["new_api_key"] is None
    assert _active(affiliate.user) == 3


def test_a_user_at_the_cap_is_refused_another_key_by_the_command(affiliate):
    for _ in range(3):
        api_key_issue(user=affiliate.user)

    with pytest.raises(CommandError, match=REFUSAL):
        call_command("api_key", affiliate.user.username)
    assert _active(affiliate.user) == 3


def test_a_revoked_key_makes_room_for_a_new_one(affiliate):
    keys = [api_key_issue(user=affiliate.user)[0] for _ in range(3)]
    with pytest.raises(ValidationError, match=REFUSAL):
        api_key_issue(user=affiliate.user)

    api_key_revoke(api_key=keys[0])

    api_key_issue(user=affiliate.user)
    assert _active(affiliate.user) == 3


def test_each_user_has_a_cap_of_their_own(affiliate, other_affiliate):
    for _ in range(3):
        api_key_issue(user=affiliate.user)
    api_key_issue(user=other_affiliate.user)
    assert _active(other_affiliate.user) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_keys_asked_for_at_the_same_moment_never_pass_the_cap(affiliate):
    start = threading.Barrier(8)

    def issue(_):
        start.wait()
        try:
            api_key_issue(user=affiliate.user)
            return "issued"
        except ValidationError:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(issue, range(8)))

    assert outcomes == ["issued"] * 3 + ["refused"] * 5
    assert _active(affiliate.user) == 3


def test_an_affiliate_created_with_an_api_key_is_not_created_without_it(settings):
    affiliate, raw_key = affiliate_create_with_api_key(username="partner")
    assert ApiKey.objects.get(user=affiliate.user).prefix == raw_key[:8]

    settings.API_KEYS_PER_USER = 0
    with pytest.raises(ValidationError):
        affiliate_create_with_api_key(username="refused")
    assert not Affiliate.objects.filter(user__username="refused").exists()
    assert not get_user_model().objects.filter(username="refused").exists()
