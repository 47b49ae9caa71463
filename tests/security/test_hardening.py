"""Hardening: login limiting, CSRF, production cookies and headers, API throttling, hashed API
keys, and secrets kept out of logs."""

import hashlib
import json
import logging
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiKey
from api.services import api_key_issue
from conversions.models import ServerPostback
from postbacks import queue, sender
from postbacks.models import Delivery
from tests.conftest import api_client_for
from tests.factories import (
    PASSWORD,
    AffiliateFactory,
    DeliveryFactory,
    ManagerFactory,
    OfferFactory,
    PostbackFactory,
)
from tests.security.test_isolation import ADMIN_ROUTES, NOT_ADMIN_PAGES, PUBLIC_SITE, SITE_ROUTES, concrete

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
WRONG = "not-the-password"


def log_in(client, url, username, password, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- Login limiting ----------------------------------------------------------------------

LOGIN_FORMS = {"portal": "/accounts/login/", "admin": "/admin/login/"}


@pytest.fixture(params=LOGIN_FORMS)
def login_form(request, db):
    """(login URL, a user who may log in there, and another one)."""
    if request.param == "admin":
        return LOGIN_FORMS["admin"], ManagerFactory(), ManagerFactory()
    return LOGIN_FORMS["portal"], AffiliateFactory().user, AffiliateFactory().user


def fail_until_locked(client, url, username, **extra):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        response = log_in(client, url, username, WRONG, **extra)
        assert response.status_code == 200 and response.context["form"].errors
    return log_in(client, url, username, WRONG, **extra)


def test_the_limit_and_cool_off_come_from_the_settings_with_safe_defaults():
    assert settings.AXES_FAILURE_LIMIT == settings.LOGIN_FAILURE_LIMIT == 5
    assert settings.LOGIN_COOLOFF_MINUTES == 15
    cool_off = timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)
    assert cool_off == settings.AXES_COOLOFF_TIME


def test_too_many_failures_lock_the_username_out_with_a_clear_message(client, login_form):
    url, user, _ = login_form

    response = fail_until_locked(client, url, user.username)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed login attempts" in page
    assert f"paused for {settings.LOGIN_COOLOFF_MINUTES} minutes" in page
    # Locked out means locked out: the right password does not get in either.
    response = log_in(client, url, user.username, PASSWORD)
    assert response.status_code == 429 and not logged_in(client)


def test_the_lockout_ends_after_the_cool_off(client, login_form):
    url, user, _ = login_form
    assert fail_until_locked(client, url, user.username).status_code == 429

    long_ago = timezone.now() - timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES, seconds=1)
    AccessAttempt.objects.update(attempt_time=long_ago)

    assert log_in(client, url, user.username, PASSWORD).status_code == 302 and logged_in(client)


def test_a_successful_login_resets_the_count(client, login_form):
    url, user, _ = login_form
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        log_in(client, url, user.username, WRONG)
    assert log_in(client, url, user.username, PASSWORD).status_code == 302
    client.logout()

    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert log_in(client, url, user.username, WRONG).status_code == 200
    assert log_in(client, url, user.username, PASSWORD).status_code == 302 and logged_in(client)


def test_a_lockout_holds_one_username_from_one_address_only(client, login_form):
    url, user, other = login_form
    assert fail_until_locked(client, url, user.username, REMOTE_ADDR="198.51.100.1").status_code == 429

    # Another user at the same address, and the same user elsewhere, are not affected: an
    # attacker cannot lock a user out of every network by failing on purpose.
    assert log_in(Client(), url, other.username, PASSWORD, REMOTE_ADDR="198.51.100.1").status_code == 302
    response = log_in(Client(), url, user.username, PASSWORD, REMOTE_ADDR="198.51.100.2")
    assert response.status_code == 302


def test_behind_a_proxy_the_visitors_address_counts_not_the_proxys(client, settings, affiliate):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    locked = fail_until_locked(
        client, "/accounts/login/", affiliate.user.username, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy
    )
    assert locked.status_code == 429

    elsewhere = {"HTTP_X_FORWARDED_FOR": "198.51.100.2", **proxy}
    response = log_in(Client(), "/accounts/login/", affiliate.user.username, PASSWORD, **elsewhere)
    assert response.status_code == 302


def test_a_locked_out_user_keeps_using_the_api(client, affiliate):
    assert fail_until_locked(client, "/accounts/login/", affiliate.user.username).status_code == 429

    assert api_client_for(affiliate.user).get("/api/v1/me/").status_code == 200


def test_wrong_api_keys_are_not_counted_as_login_failures(affiliate):
    api = APIClient()
    api.credentials(HTTP_API_KEY="0" * 40)
    for _ in range(settings.LOGIN_FAILURE_LIMIT + 1):
        assert api.get("/api/v1/me/").status_code == 401
    assert not AccessAttempt.objects.exists()
    assert log_in(Client(), "/accounts/login/", affiliate.user.username, PASSWORD).status_code == 302


# --- CSRF --------------------------------------------------------------------------------


@pytest.fixture
def own_objects(affiliate):
    offer = OfferFactory()
    return {
        "offer_id": offer.offer_id,
        "pk": PostbackFactory(affiliate=affiliate, offer=offer).pk,
        "delivery_id": DeliveryFactory(affiliate=affiliate).delivery_id,
    }


def strict_browser(user=None) -> Client:
    browser = Client(enforce_csrf_checks=True)
    if user is not None:
        browser.force_login(user)
    return browser


FORMS = [route for route in SITE_ROUTES if route.name not in PUBLIC_SITE or route.name in ("login", "logout")]


@pytest.mark.parametrize("route", FORMS, ids=lambda route: route.label)
def test_portal_posts_without_a_csrf_token_are_refused(route, affiliate, own_objects):
    url = concrete(route, own_objects)
    user = None if route.name == "login" else affiliate.user

    response = strict_browser(user).post(url, {"username": affiliate.user.username, "password": PASSWORD})

    assert response.status_code == 403
    assert b"CSRF" in response.content


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=lambda route: route.label)
def test_admin_posts_without_a_csrf_token_are_refused(route, manager):
    values = {
        "url": "no-such-page/",
        "id": manager.pk,
        "object_id": 1,
        "content_type_id": 1,
        "pid": 1,
        "pk": 1,
    }
    user = None if route.name in NOT_ADMIN_PAGES else manager

    credentials = {"username": manager.username, "password": PASSWORD}

    response = strict_browser(user).post(concrete(route, values), credentials)

    assert response.status_code == 403


def test_the_login_form_with_its_token_is_accepted(affiliate):
    browser = strict_browser()
    browser.get("/accounts/login/")
    token = browser.cookies[settings.CSRF_COOKIE_NAME].value

    response = browser.post(
        "/accounts/login/",
        {"username": affiliate.user.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )

    assert response.status_code == 302 and logged_in(browser)


def test_tracking_endpoints_stay_callable_server_to_server(affiliate, direct_writes):
    offer = OfferFactory()
    browser = strict_browser()

    click = browser.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json")
    assert click.status_code == 200
    answer = browser.post("/postback", {"clickid": click.json()["click_id"], "goal": "1"})
    assert answer.status_code == 200 and answer.json()["message"] == "ok"
    assert browser.get("/pixel").status_code == 200


def test_the_api_ignores_the_browser_session(portal):
    """API requests authenticate with a key only, so a forged cross-site request carries nothing."""
    assert portal.get("/api/v1/me/").status_code == 401


# --- Production settings: check --deploy, cookies and headers ---------------------------

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "sqlite:///:memory:",
}


def in_production(*args):
    """Run `python *args` in a fresh process with production settings and nothing inherited."""
    inherited = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {k: v for k, v in os.environ.items() if k not in inherited and not k.startswith("SECURE_")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**environment, **PRODUCTION, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deploy_check_is_clean():
    result = in_production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# The login page as a browser gets it from a production process. Static files are not collected
# in a test checkout, so only the storage that reads their manifest is swapped.
PRODUCTION_PAGE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client, override_settings

with override_settings(STORAGES={**settings.STORAGES, "staticfiles": settings.STORAGES["default"]}):
    browser = Client(HTTP_HOST="portal.example.com")
    page = browser.get("/accounts/login/", secure=True)
    plain = browser.get("/accounts/login/")
cookie = page.cookies[settings.CSRF_COOKIE_NAME]
print(json.dumps({
    "status": page.status_code,
    "headers": dict(page.headers),
    "csrf_cookie": {"secure": bool(cookie["secure"]), "samesite": cookie["samesite"]},
    "plain": [plain.status_code, plain.get("Location")],
    "session_cookie": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY],
}))
"""


@pytest.fixture(scope="module")
def production_page():
    result = in_production("-c", PRODUCTION_PAGE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_pages_carry_the_security_headers(production_page):
    headers = production_page["headers"]
    assert production_page["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_production_cookies_are_secure(production_page):
    assert production_page["csrf_cookie"] == {"secure": True, "samesite": "Lax"}
    assert production_page["session_cookie"] == [True, True]


def test_production_sends_plain_http_to_https(production_page):
    assert production_page["plain"] == [301, "https://portal.example.com/accounts/login/"]


# --- API throttling ----------------------------------------------------------------------


def test_a_key_over_its_rate_is_throttled_while_another_key_still_works(settings, affiliate):
    settings.API_THROTTLE_RATE = "3/min"
    busy, other = api_client_for(affiliate.user), api_client_for(affiliate.user)

    assert [busy.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = busy.get("/api/v1/me/")

    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert other.get("/api/v1/me/").status_code == 200


# --- Hashed API keys ---------------------------------------------------------------------


def test_api_keys_are_stored_hashed(portal, affiliate):
    portal.post(reverse("portal:api-key"), {"name": "tracker"})
    raw_key = portal.get(reverse("portal:api-key")).context["new_api_key"]

    stored = ApiKey.objects.get(user=affiliate.user, name="tracker")
    assert stored.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    row = ApiKey.objects.filter(pk=stored.pk).values().get()
    assert not any(raw_key in str(value) for value in row.values())
    assert api_client_for(affiliate.user).get("/api/v1/me/").status_code == 200
    keyed = APIClient()
    keyed.credentials(HTTP_API_KEY=raw_key)
    assert keyed.get("/api/v1/me/").status_code == 200


# --- Secrets never written to logs -------------------------------------------------------


@pytest.fixture
def logs(caplog):
    """Everything the project and its libraries log, down to DEBUG."""
    for name in ("", "django", "axes", "postbacks", "conversions", "api"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def written(caplog) -> str:
    """What the log handlers write: each message with its arguments, and any traceback."""
    return caplog.text


def test_api_keys_are_not_logged(logs, affiliate, other_affiliate):
    api = APIClient()
    _, raw_key = api_key_issue(user=affiliate.user)
    api.credentials(HTTP_API_KEY=raw_key)
    other_postback = PostbackFactory(affiliate=other_affiliate)

    assert api.get("/api/v1/me/").status_code == 200
    assert api.get(f"/api/v1/postbacks/{other_postback.pk}/").status_code == 404
    assert api.get("/api/v1/manage/offers/").status_code == 403
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}x")
    assert bearer.get("/api/v1/me/").status_code == 401

    assert "Not Found" in written(logs) and "Forbidden" in written(logs)
    assert raw_key not in written(logs)


def test_passwords_are_not_logged(logs, client, affiliate):
    fail_until_locked(client, "/accounts/login/", affiliate.user.username)
    log_in(Client(), "/accounts/login/", affiliate.user.username, PASSWORD, REMOTE_ADDR="198.51.100.9")

    assert "AXES" in written(logs)
    assert WRONG not in written(logs) and PASSWORD not in written(logs)


def test_signing_secrets_are_not_logged(logs, httpserver, affiliate, direct_writes):
    affiliate.signing_secret = secrets.token_hex(32)
    affiliate.save(update_fields=["signing_secret"])
    offer = OfferFactory()
    httpserver.expect_request("/ok").respond_with_data("ok")
    httpserver.expect_request("/down").respond_with_data("busy", status=500)
    PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/ok") + "?c={conversion_id}")
    failing = PostbackFactory(affiliate=affiliate, offer=offer, url=httpserver.url_for("/down"))
    visitor = Client()
    click = visitor.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()
    assert visitor.get(f"/postback?clickid={click['click_id']}").json()["message"] == "ok"

    sender.send_claimed(queue.claim())
    api_client_for(affiliate.user).post(f"/api/v1/postbacks/{failing.pk}/test/")

    signed = [request for request, _ in httpserver.log if "X-Postback-Signature" in request.headers]
    assert len(signed) == 3 and Delivery.objects.filter(state="retrying").exists()
    assert affiliate.signing_secret not in written(logs)


def test_the_advertisers_secure_code_is_masked_in_the_postback_log_and_never_logged(
    logs, affiliate, manager, direct_writes
):
    code = "adv-" + secrets.token_hex(8)
    offer = OfferFactory(secure_code=code)
    visitor = Client()

    def clicked():
        link = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
        return visitor.get(link).json()["click_id"]

    assert visitor.get("/postback?" + urlencode({"clickid": clicked(), "secure": code})).status_code == 200
    form = urlencode({"clickid": clicked(), "secure": code, "goal": "1"})
    assert visitor.post("/postback", form, "application/x-www-form-urlencoded").status_code == 200
    assert visitor.post("/postback", {"clickid": clicked(), "secure": code}).status_code == 200  # multipart
    assert visitor.get(f"/postback?clickid={clicked()}&secur%65={code}").status_code == 200
    assert visitor.get(f"/postback?clickid={clicked()}&secure={code}x").status_code == 403

    queries = list(ServerPostback.objects.order_by("pk").values_list("query", flat=True))
    assert len(queries) == 5 and all("***" in query for query in queries)
    assert not any(code in query for query in queries)
    listed = api_client_for(manager).get("/api/v1/manage/server-postbacks/")
    assert listed.status_code == 200 and code not in listed.content.decode()
    assert "Forbidden" in written(logs) and code not in written(logs)
