"""Two runs of beat's task at once send each email once, whatever the cache: worker processes
with a cache of their own each (Django's local-memory cache, without REDIS_URL) do not see each
other's guard in alerts.tasks, so each email is claimed in the database.

Each run here is a thread with its own database connection, as a worker process would be. The
first run to send is held inside the email backend (Django's local-memory one, which fills
`mail.outbox`) while the other runs from start to end."""

import threading
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.db import connection
from django.utils import timezone

from alerts.models import AdvertiserAlert, PostbackAlert
from alerts.services import alert_emails_send, alerts_evaluate
from tests.alerts.conftest import FAILED, deliver
from tests.factories import AdvertiserFactory, PostbackFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # SQLite (development only) has no row locks: its IMMEDIATE transactions queue every writer
    # behind the one sending, so the second run would wait for the first, held here on purpose.
    pytest.mark.skipif(connection.vendor == "sqlite", reason="runs queue behind the database-wide lock"),
]
WAIT = 10  # seconds: far more than any step here takes, and a failing test still ends


@dataclass
class Gate:
    """Holds the first message sent until released; any later one goes at once."""

    entered: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    first: threading.Lock = field(default_factory=threading.Lock)


class FirstSendWaitsBackend(locmem.EmailBackend):
    gate: Gate

    def send_messages(self, messages):
        if self.gate.first.acquire(blocking=False):
            self.gate.entered.set()
            self.gate.released.wait(WAIT)
        return super().send_messages(messages)


@pytest.fixture
def gate(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FirstSendWaitsBackend"
    FirstSendWaitsBackend.gate = Gate()
    mail.outbox = []
    yield FirstSendWaitsBackend.gate
    FirstSendWaitsBackend.gate.released.set()


class Run(threading.Thread):
    """Beat's task in a process of its own: evaluate, then send the emails due."""

    def __init__(self, now):
        super().__init__(daemon=True)
        self.now, self.sent, self.error = now, None, None

    def run(self):
        try:
            alerts_evaluate(now=self.now)
            self.sent = alert_emails_send(now=self.now)
        except Exception as error:  # reported by the test, not lost in the thread
            self.error = error
        finally:
            connection.close()

    def finished(self) -> int:
        self.join(WAIT)
        assert not self.is_alive() and self.error is None, self.error
        return self.sent


def test_two_runs_at_once_send_the_failing_email_once(affiliate, gate):
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)
    now = timezone.now()

    first = Run(now)
    first.start()
    assert gate.entered.wait(WAIT), "the first run never sent"
    second = Run(now + timedelta(seconds=1))
    second.start()
    assert second.finished() == 0  # the email is the first run's
    gate.released.set()
    assert first.finished() == 1

    assert [message.subject for message in mail.outbox] == ["Your postback is failing: global postback"]
    alert = PostbackAlert.objects.get(postback=postback)
    assert (alert.email_due, alert.emailed_state, alert.emailed_at) == (False, "failing", now)


def test_two_runs_at_once_send_the_managers_email_once(settings, gate):
    settings.ALERT_MANAGER_EMAILS = ["ops@example.com"]
    advertiser = AdvertiserFactory(name="Acme")
    now = timezone.now()
    AdvertiserAlert.objects.create(
        advertiser=advertiser,
        state=AdvertiserAlert.State.REFUSED,
        why="20 of 20 advertiser postbacks in the last hour were refused.",
        since=now,
        hits=20,
        refused=20,
        measured_at=now,
        email_due=True,
    )

    first = threading.Thread(target=lambda: _send_and_close(now))
    first.start()
    assert gate.entered.wait(WAIT)
    assert alert_emails_send(now=now) == 0
    gate.released.set()
    first.join(WAIT)

    assert [message.subject for message in mail.outbox] == ["Advertiser postbacks refused: Acme"]


def _send_and_close(now):
    try:
        alert_emails_send(now=now)
    finally:
        connection.close()
