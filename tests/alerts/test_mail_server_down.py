"""A mail server that refuses connections (SMTP to a closed port on the loopback) never reaches
anything else: beat's task returns, the email stays due and goes once the server is back, and
deliveries go on being recorded meanwhile."""

import socket

import pytest
from django.core import mail

from alerts.models import PostbackAlert
from alerts.tasks import evaluate_alerts
from postbacks.models import Delivery
from tests.alerts.conftest import FAILED, SUCCEEDED, deliver
from tests.factories import PostbackFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_mail_server_that_refuses_connections_fails_neither_the_task_nor_deliveries(
    affiliate, settings, closed_port, caplog
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)

    evaluate_alerts()

    alert = PostbackAlert.objects.get(postback=postback)
    assert (alert.state, alert.email_due, alert.emailed_at) == (PostbackAlert.State.FAILING, True, None)
    assert "the mail server could not be reached" in caplog.text
    deliver(postback, SUCCEEDED)
    assert Delivery.objects.filter(postback=postback, state=Delivery.State.SUCCEEDED).count() == 1

    # The server is back: the news due is sent, and it is the latest (working again is no news
    # to an affiliate never told of the trouble).
    deliver(postback, FAILED, times=5)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    evaluate_alerts()
    assert [message.subject for message in mail.outbox] == ["Your postback is failing: global postback"]
    assert PostbackAlert.objects.get(postback=postback).email_due is False


def test_a_message_the_server_refuses_is_logged_and_sent_at_the_next_run(affiliate, mailbox, caplog):
    """One address the backend cannot send to (a line break in it) does not stop the others."""
    refused = PostbackFactory(affiliate=affiliate)
    affiliate.user.email = "someone@example.com\nBcc: everyone@example.com"
    affiliate.user.save()
    other = PostbackFactory()
    deliver(refused, FAILED, times=5)
    deliver(other, FAILED, times=5)

    evaluate_alerts()

    assert [message.to for message in mailbox] == [[other.affiliate.user.email]]
    assert PostbackAlert.objects.get(postback=refused).email_due is True
    assert f"the email about postback {refused.pk} (failing) could not be sent" in caplog.text
