"""A forgotten password: the link by email, the new password, and what the reset form refuses.

The reset form answers every address alike, so it tells nobody who has an account; it sends an
address at most a few emails an hour and takes a limited number of requests from one network
(portal.password_reset); a bad, expired or used link answers 400.
"""

import re
from urllib.parse import urlsplit

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from portal.password_reset import EMAILS_PER_ADDRESS, REQUESTS_PER_IP
from tests.factories import PASSWORD, AffiliateFactory
from tests.security.hostile import assert_not_a_server_error, encoded, post
from tests.test_settings import PRODUCTION, manage

# Committed for real: the reset email is queued when the request's transaction commits, and sent
# at once by the task (tests/portal/test_password_reset_after_the_answer.py shows that the request
# itself sends none).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("tasks_run_at_once")]

NEW_PASSWORD = "a-new-and-longer-passphrase"
RESET = "/accounts/password/reset/"
SENT = "/accounts/password/reset/sent/"


def ask_for_reset(client, email, **extra):
    return client.post(RESET, {"email": email}, **extra)


def uid_of(user) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def reset_link(message) -> str:
    return re.search(r"https?://\S+", message.body)[0]


def logs_in(username, password) -> bool:
    browser = Client()
    browser.post(reverse("login"), {"username": username, "password": password})
    return "_auth_user_id" in browser.session


def set_new_password(client, link, password=NEW_PASSWORD):
    """Follows the emailed link (which trades its token for a session and redirects to the form)
    and sends the new password twice."""
    form = client.get(urlsplit(link).path, follow=True)
    assert form.status_code == 200 and form.context["validlink"], form.content
    return client.post(form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})


# --- The flow ------------------------------------------------------------------------------


def test_the_login_page_links_to_the_reset_form(client):
    page = client.get(reverse("login")).content.decode()

    assert f'href="{RESET}">Forgot password?</a>' in page


def test_a_forgotten_password_is_replaced_through_the_emailed_link(client, affiliate):
    user = affiliate.user

    response = ask_for_reset(client, user.email.upper())

    assert response.status_code == 302 and response["Location"] == SENT
    assert "Check your email" in client.get(SENT).content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email] and message.subject == "Reset your partner portal password"
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    link = reset_link(message)
    assert link.startswith("http://testserver/accounts/password/reset/")
    assert user.username in message.body and re.search(r"for the next 3\sdays\.", message.body)

    done = set_new_password(client, link)

    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    assert "Your new password is in effect" in client.get(done["Location"]).content.decode()
    assert logs_in(user.username, NEW_PASSWORD)
    assert not logs_in(user.username, PASSWORD)


def test_the_emailed_link_works_only_once(client, affiliate):
    ask_for_reset(client, affiliate.user.email)
    link = reset_link(mail.outbox[0])
    assert set_new_password(client, link).status_code == 302

    again = Client().get(urlsplit(link).path, follow=True)

    assert again.status_code == 400
    assert "This link does not work" in again.content.decode()
    assert logs_in(affiliate.user.username, NEW_PASSWORD)


def test_a_link_for_the_old_password_stops_working_once_another_is_set(client, affiliate):
    ask_for_reset(client, affiliate.user.email)
    ask_for_reset(client, affiliate.user.email)
    first, second = (reset_link(message) for message in mail.outbox)
    assert set_new_password(client, second).status_code == 302

    assert Client().get(urlsplit(first).path, follow=True).status_code == 400


def test_the_link_uses_https_and_the_host_the_user_asked_on(client, affiliate, settings):
    settings.ALLOWED_HOSTS = ["portal.example-network.com"]

    ask_for_reset(client, affiliate.user.email, secure=True, HTTP_HOST="portal.example-network.com")

    assert reset_link(mail.outbox[0]).startswith(
        "https://portal.example-network.com/accounts/password/reset/"
    )


def test_a_host_outside_allowed_hosts_gets_no_link_made_with_it(client, affiliate):
    response = ask_for_reset(client, affiliate.user.email, HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert mail.outbox == []


def test_a_new_password_ends_a_login_lockout(client, affiliate):
    username = affiliate.user.username
    browser = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        browser.post(reverse("login"), {"username": username, "password": "wrong"})
    assert browser.post(reverse("login"), {"username": username, "password": PASSWORD}).status_code == 429

    ask_for_reset(client, affiliate.user.email)
    set_new_password(client, reset_link(mail.outbox[0]))

    assert not AccessAttempt.objects.filter(username=username).exists()
    assert logs_in(username, NEW_PASSWORD)


# --- Nothing told about who has an account ------------------------------------------------


def test_an_unknown_address_gets_the_same_answer_and_no_email(client, affiliate):
    known = ask_for_reset(Client(), affiliate.user.email)
    mail.outbox.clear()

    unknown = ask_for_reset(client, "nobody@example.com")

    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"]) == (302, SENT)
    assert mail.outbox == []


def test_an_inactive_user_gets_no_email_and_the_same_answer(client, affiliate):
    affiliate.user.is_active = False
    affiliate.user.save()

    response = ask_for_reset(client, affiliate.user.email)

    assert response.status_code == 302 and response["Location"] == SENT
    assert mail.outbox == []


# --- Limits ---------------------------------------------------------------------------------


def test_one_address_gets_a_few_emails_an_hour_and_the_same_answer_after(client, affiliate):
    for _ in range(EMAILS_PER_ADDRESS + 2):
        response = ask_for_reset(client, affiliate.user.email)
        assert response.status_code == 302 and response["Location"] == SENT

    assert len(mail.outbox) == EMAILS_PER_ADDRESS
    # Another user is not held back by it.
    other = AffiliateFactory().user
    ask_for_reset(client, other.email)
    assert mail.outbox[-1].to == [other.email]


def test_an_address_is_counted_whatever_its_case(client, affiliate):
    email = affiliate.user.email
    for spelling in [email, email.upper(), email.title(), f" {email} ", email]:
        ask_for_reset(client, spelling)

    assert len(mail.outbox) == EMAILS_PER_ADDRESS


def test_too_many_requests_from_one_network_are_refused_with_a_clear_message(client, affiliate):
    for number in range(REQUESTS_PER_IP):
        assert ask_for_reset(client, f"someone{number}@example.com").status_code == 302

    refused = ask_for_reset(client, affiliate.user.email)

    assert refused.status_code == 429
    assert "Too many password reset requests from your network" in refused.content.decode()
    assert mail.outbox == []
    # Another network is not held back.
    assert ask_for_reset(Client(), affiliate.user.email, REMOTE_ADDR="198.51.100.7").status_code == 302
    assert len(mail.outbox) == 1


def test_the_reset_forms_refuse_a_post_without_a_csrf_token(client, affiliate):
    strict = Client(enforce_csrf_checks=True)

    assert strict.post(RESET, {"email": affiliate.user.email}).status_code == 403
    assert mail.outbox == []

    ask_for_reset(client, affiliate.user.email)
    form = strict.get(urlsplit(reset_link(mail.outbox[0])).path, follow=True)
    response = strict.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 403
    assert logs_in(affiliate.user.username, PASSWORD)


# --- Hostile input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-address",
        "\x00",
        "someone\x00@example.com",
        "\ud800@example.com",
        "x" * 10_000 + "@example.com",
        "a@" + "b" * 10_000 + ".com",
    ],
    ids=["empty", "not-an-address", "nul", "nul-inside", "lone-surrogate", "long-local", "long-domain"],
)
def test_a_bad_email_gets_the_forms_error_and_no_email(client, affiliate, email):
    response = post(client, RESET, {"email": email})

    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert mail.outbox == []


def test_a_form_without_the_email_field_gets_the_forms_error(client):
    response = client.post(RESET, {"mail": "someone@example.com"})

    assert response.status_code == 200 and response.context["form"].errors["email"]


@pytest.fixture
def token(client, affiliate):
    """A real token from a reset email (its uidb64 is the affiliate's)."""
    ask_for_reset(client, affiliate.user.email)
    path = urlsplit(reset_link(mail.outbox[0])).path
    return path.rstrip("/").rsplit("/", 1)[1]


@pytest.mark.parametrize(
    ("uidb64", "bad_token"),
    [
        ("MQ", "x"),
        ("MQ", "set-password"),
        ("!!!!", None),
        ("\x00", None),
        ("MQ\x00", None),
        ("\ud800", None),
        ("A" * 10_000, None),
        ("OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", None),  # 9 * 24: no such row, past any column
        ("LTE", None),  # -1
        ("_-8", None),  # bytes that are not UTF-8
        (None, "\x00"),
        (None, "1-2-3"),
        (None, "zzzzzzzzzzzzzzzzzzzzzzz-abc"),
        (None, "x" * 10_000),
    ],
)
def test_a_malformed_link_answers_400_with_a_way_to_ask_again(client, affiliate, token, uidb64, bad_token):
    uid = uidb64 if uidb64 is not None else uid_of(affiliate.user)
    path = f"{RESET}{encoded(uid)}/{encoded(bad_token if bad_token is not None else token)}/"

    for response in (client.get(path, follow=True), client.post(path, {"new_password1": "x"})):
        assert response.status_code == 400, path[:200]
        assert_not_a_server_error(response, path[:200])
        assert "Ask for a new link" in response.content.decode()
    assert logs_in(affiliate.user.username, PASSWORD)


def test_the_password_form_without_a_link_first_answers_400(client, affiliate):
    response = client.post(
        f"{RESET}{uid_of(affiliate.user)}/set-password/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 400
    assert logs_in(affiliate.user.username, PASSWORD)


def test_a_weak_or_mismatched_new_password_gets_the_forms_error(client, affiliate):
    ask_for_reset(client, affiliate.user.email)
    link = reset_link(mail.outbox[0])
    form = client.get(urlsplit(link).path, follow=True)
    set_password = form.redirect_chain[-1][0]

    weak = client.post(set_password, {"new_password1": "123", "new_password2": "123"})
    mismatched = client.post(set_password, {"new_password1": NEW_PASSWORD, "new_password2": "other"})
    nul = post(client, set_password, {"new_password1": "a\x00" * 20, "new_password2": "a\x00" * 20})

    for response in (weak, mismatched, nul):
        assert response.status_code == 200 and response.context["form"].errors
    assert logs_in(affiliate.user.username, PASSWORD)


# --- Email configuration -------------------------------------------------------------------

SHOW_EMAIL_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD, "
    "s.EMAIL_USE_TLS, s.EMAIL_TIMEOUT, s.DEFAULT_FROM_EMAIL)"
)


def test_production_sends_through_the_smtp_server_of_the_environment():
    result = manage(
        "shell",
        "-v0",
        "-c",
        SHOW_EMAIL_SETTINGS,
        **PRODUCTION,
        EMAIL_HOST="smtp.example.com",
        EMAIL_PORT="587",
        EMAIL_HOST_USER="mailer",
        EMAIL_HOST_PASSWORD="secret",
        EMAIL_USE_TLS="true",
        DEFAULT_FROM_EMAIL="Partner portal <noreply@example.com>",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
        "mailer",
        "secret",
        "True",
        "10.0",
        "Partner",
        "portal",
        "<noreply@example.com>",
    ]


def test_development_prints_emails_on_the_console():
    result = manage("shell", "-v0", "-c", SHOW_EMAIL_SETTINGS, DEBUG="true")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "django.core.mail.backends.console.EmailBackend"


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT"),
        ({"EMAIL_PORT": "70000"}, "EMAIL_PORT"),
        ({"EMAIL_USE_TLS": "maybe"}, "EMAIL_USE_TLS"),
        ({"EMAIL_TIMEOUT": "0"}, "EMAIL_TIMEOUT"),
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "EMAIL_USE_TLS"),
    ],
)
def test_a_malformed_email_setting_is_named_at_start(variables, named):
    result = manage("check", **PRODUCTION, **variables)

    assert result.returncode != 0
    assert (
        f"Environment variable {named}" in result.stderr or f"Environment variables {named}" in result.stderr
    )
