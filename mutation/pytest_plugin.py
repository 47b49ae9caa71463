"""Loaded into every pytest session that mutmut starts (`-p mutation.pytest_plugin`).

mutmut runs up to two mutants at a time, each in its own forked pytest session. Each session
takes a free worker slot (a lock file held until the process exits) and uses that slot's own
test database, migrated by the first session after a migration changed and then only emptied,
so that no mutant pays for the migrations.
Tests that need the Redis click buffer are left out: the buffer is not mutated, and concurrent
sessions would share one Redis database.
mutmut stops a session after a limit of CPU time, which a test waiting on a socket or a sleep never
reaches: a mutant that drops a timeout would hold its worker slot for ever. So each test also gets a
limit of wall time, far above what any test here takes; a test past it ends the session as mutmut's
own timeout does (the mutant changed what a caller sees: the call never returns).
"""

import fcntl
import hashlib
import os
import signal
import tempfile
from pathlib import Path

import pytest

SLOTS = 8
WALL_SECONDS_PER_TEST = 60  # the slowest test of the selection takes a few seconds
TIMEOUT_EXIT_CODE = 36  # what mutmut records for a mutant whose tests did not finish
ROOT = Path(__file__).resolve().parent.parent
# Outside the tree: mutmut's copy of it (mutants/) and the tree itself name the same databases.
LOCK_DIR = Path(tempfile.gettempdir()) / f"mutation-slots-{os.getuid()}"
_slot = None  # (process id, slot, open lock file): a forked process must take its own


def _take_slot() -> int:
    global _slot
    if _slot is not None and _slot[0] == os.getpid():
        return _slot[1]
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for slot in range(SLOTS):
        handle = open(LOCK_DIR / f"{slot}.lock", "w")  # noqa: SIM115 - held until the process exits
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _slot = (os.getpid(), slot, handle)
        return slot
    raise RuntimeError(f"More than {SLOTS} concurrent mutation test sessions")


def _uses_redis(item) -> bool:
    """A test of the Redis click buffer: it asks for `buffered_writes`, or is the buffered run
    of a test parametrized over both write paths (`either_write_path`), which asks at run time.
    Such tests share one Redis database with every other session on the machine."""
    if "buffered_writes" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "buffered_writes" in callspec.params.values()


def pytest_collection_modifyitems(config, items):
    buffered = [item for item in items if _uses_redis(item)]
    if buffered:
        config.hook.pytest_deselected(items=buffered)
        items[:] = [item for item in items if item not in buffered]


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """Before the first test sets the test database up: this session's own database."""
    if session.config.option.collectonly:
        return
    from django.conf import settings
    from django.db import connections

    slot = _take_slot()
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        name = str(ROOT / "var" / f"test-mutation{slot}.sqlite3")
    else:
        name = f"test_{database['NAME']}_mutation{slot}"
    database.setdefault("TEST", {})["NAME"] = name
    # Never speak on a connection inherited from the process this one was forked from.
    for connection in connections.all(initialized_only=True):
        connection.connection = None


def _out_of_time(signum, frame):
    os._exit(TIMEOUT_EXIT_CODE)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    previous = signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(WALL_SECONDS_PER_TEST)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class _Fixtures:
    """Registered after pytest-django's plugin, so that its fixture of this name is replaced."""

    @pytest.fixture(scope="session")
    def django_db_setup(self, django_test_environment, django_db_blocker):
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        database = settings.DATABASES["default"]
        # One marker per slot and database: two runs at once (another DATABASE_URL, another
        # checkout) may take turns on a slot without migrating each other's database again.
        ready = LOCK_DIR / f"{_take_slot()}-{database['TEST']['NAME']}.ready"
        # The slot's database as migrated last: which one (sessions with another DATABASE_URL take
        # the same slots) and with which migrations. Trusting another database's marker would make
        # every test error out, and each mutant count as killed.
        migrated = f"{database['ENGINE']}|{database['TEST']['NAME']}|{_migrations_fingerprint()}"
        with django_db_blocker.unblock():
            if ready.exists() and ready.read_text() == migrated:
                database["NAME"] = database["TEST"]["NAME"]
            else:
                connection.creation.create_test_db(
                    verbosity=0, autoclobber=True, keepdb=True, serialize=False
                )
                ready.write_text(migrated)
            # Empty, as a transactional test leaves it: a session stopped inside one (a mutant
            # past its time limit) leaves its rows behind, and the next session on this slot,
            # whatever its mutant, would fail on them and count that mutant as killed.
            call_command("flush", interactive=False, verbosity=0)
        yield


def _migrations_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.pluginmanager.register(_Fixtures(), "mutation-database")
