import pytest

from config.celery import app as celery_app


@pytest.fixture
def tasks_run_at_once():
    """Celery tasks run in the test's process as they are queued, instead of going to a worker:
    the password reset email, queued after the commit, lands in mail.outbox at once."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False
