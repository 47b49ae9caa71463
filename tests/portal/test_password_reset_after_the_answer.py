"""The reset email is sent by a worker after the form has answered, so the answer's time says
nothing about whether the address has an account; and the per-address quota is counted per
network, so that someone who knows an address cannot use it up and lock its owner out of
resetting (portal.password_reset)."""

import re

import pytest
from django.core import mail

from portal.password_reset import EMAILS_PER_ADDRESS
from portal.tasks import send_password_reset_email

pytestmark = pytest.mark.django_db

RESET = "/accounts/password/reset/"
SENT = "/accounts/password/reset/sent/"


def ask(client, email, ip="203.0.113.9", **extra):
    return client.post(RESET, {"email": email}, REMOTE_ADDR=ip, **extra)


# --- Sent after the answer --------------------------------------------------------------------


@pytest.mark.parametrize("known", [True, False])
def test_the_request_only_queues_the_email_whether_the_address_has_an_account_or_not(
    client, affiliate, django_capture_on_commit_callbacks, known
):
    email = affiliate.user.email if known else "nobody@example.com"

    with django_capture_on_commit_callbacks() as queued:
        response = ask(client, email)

    assert response.status_code == 302 and response["Location"] == SENT
    assert mail.outbox == []  # nothing sent within the request
    assert len(queued) == 1  # the same work for both: one task queued once the request commits


def test_the_task_sends_the_link_on_the_host_the_user_asked_on(affiliate):
    send_password_reset_email(
        email=affiliate.user.email.upper(),
        domain="portal.example-network.com",
        use_https=True,
        asked_at="2026-03-01T10:00:00+00:00",
    )

    [message] = mail.outbox
    assert message.to == [affiliate.user.email]
    assert "https://portal.example-network.com/accounts/password/reset/" in message.body
    assert re.search(r"for the next 3\sdays\.", message.body)


def test_the_task_sends_nothing_for_an_address_without_an_account(affiliate):
    send_password_reset_email(
        email="nobody@example.com", domain="testserver", use_https=False, asked_at="2026-03-01T10:00:00+00:00"
    )
    assert mail.outbox == []


def test_a_request_that_is_refused_queues_nothing(client, affiliate, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        response = ask(client, affiliate.user.email, HTTP_HOST="attacker.example")
    assert response.status_code == 400 and queued == []


# --- The quota, per address and network ------------------------------------------------------


def emails_queued(client, email, ip, times, capture) -> int:
    with capture() as queued:
        for _ in range(times):
            assert ask(client, email, ip=ip).status_code == 302
    return len(queued)


def test_someone_using_up_an_addresses_quota_does_not_lock_its_owner_out(
    client, affiliate, django_capture_on_commit_callbacks
):
    email = affiliate.user.email
    capture = django_capture_on_commit_callbacks

    from_elsewhere = emails_queued(client, email, "198.51.100.7", EMAILS_PER_ADDRESS + 3, capture)
    from_the_owner = emails_queued(client, email, "203.0.113.9", 1, capture)

    assert from_elsewhere == EMAILS_PER_ADDRESS
    assert from_the_owner == 1


def test_the_addresses_of_one_ipv6_network_share_a_quota(
    client, affiliate, django_capture_on_commit_callbacks
):
    email = affiliate.user.email
    capture = django_capture_on_commit_callbacks

    first = emails_queued(client, email, "2001:db8:0:7::1", EMAILS_PER_ADDRESS, capture)
    same_network = emails_queued(client, email, "2001:db8:0:7::beef", 1, capture)
    next_network = emails_queued(client, email, "2001:db8:0:8::1", 1, capture)

    assert (first, same_network, next_network) == (EMAILS_PER_ADDRESS, 0, 1)
