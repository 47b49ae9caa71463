"""Celery is wired in config/: a real worker consumes tasks from the configured broker, beat starts."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from portal.tasks import clear_expired_sessions
from tests.processes import celery, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def make_session(expires_in: timedelta) -> str:
    store = SessionStore()
    store["seen"] = True
    store.create()
    Session.objects.filter(pk=store.session_key).update(expire_date=timezone.now() + expires_in)
    return store.session_key


def test_a_real_worker_runs_a_task_sent_through_the_broker():
    expired, live = make_session(timedelta(days=-1)), make_session(timedelta(days=1))
    with celery("worker", "--pool=solo", "--loglevel=INFO", ready_line="ready."):
        clear_expired_sessions.delay()
        assert wait_until(lambda: not Session.objects.filter(pk=expired).exists())
    assert Session.objects.filter(pk=live).exists()


def test_beat_starts_with_the_schedule(tmp_path):
    with celery(
        "beat", "--loglevel=INFO", f"--schedule={tmp_path / 'beat-schedule'}", ready_line="beat: Starting"
    ) as beat:
        assert beat.poll() is None
