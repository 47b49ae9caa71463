"""Group commit: requests that arrive together in one process are written in one transaction.

A web process (gunicorn's threaded worker) serves many requests at once. When each of them
writes its own short transaction, the database spends most of its time on per-statement and
per-commit work, and rows every request updates (a day's statistics) are locked by one
transaction after another. `GroupCommit` lets one waiting thread write what all waiting threads
have brought, in one call of `write`, while the others wait for their own outcome: nobody is
answered before the transaction holding their item has committed.

There is no timer: while one batch is being written the next one gathers, so a lone request is
written at once and a busy process writes larger batches.
"""

import threading
from collections.abc import Callable

from django.db import transaction

_WAITING = object()


class _Pending:
    __slots__ = ("item", "outcome", "woken")

    def __init__(self, item):
        self.item, self.outcome, self.woken = item, _WAITING, threading.Event()


class GroupCommit:
    """`submit(item)` returns `write(items)`'s outcome for `item`, written together with the items
    other threads submit meanwhile (at most `max_batch` at a time).

    `write(items)` answers one outcome per item, in order; an outcome that is an exception is
    raised in the thread that submitted the item, and an exception `write` raises is raised in
    every thread of that batch.

    A thread already inside a transaction writes its item alone, inside that transaction: other
    requests' items must not be answered on the strength of a transaction that may roll back.
    """

    def __init__(self, write: Callable[[list], list], *, max_batch: int):
        self._write, self._max_batch = write, max_batch
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False

    def submit(self, item):
        pending = _Pending(item)
        if transaction.get_connection().in_atomic_block:
            self._write_batch([pending])
            return _result(pending.outcome)
        with self._lock:
            self._queue.append(pending)
            leading, self._writing = not self._writing, True
        if not leading:
            # Woken with an outcome, or, without one, to write the next batch.
            pending.woken.wait()
        while pending.outcome is _WAITING:
            with self._lock:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            try:
                self._write_batch(batch)
            finally:
                with self._lock:
                    if not self._queue:
                        self._writing = False
                    elif pending.outcome is not _WAITING:
                        # Only the threads of a batch wake up, and one more to write the next.
                        self._queue[0].woken.set()
        return _result(pending.outcome)

    def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            outcomes = self._write([pending.item for pending in batch])
        except BaseException as exc:
            # Even an interruption answers the whole batch, or its other threads would wait forever.
            self._settle(batch, [exc] * len(batch))
            if not isinstance(exc, Exception):
                raise
        else:
            self._settle(batch, outcomes)

    @staticmethod
    def _settle(batch: list[_Pending], outcomes: list) -> None:
        for pending, outcome in zip(batch, outcomes, strict=True):
            pending.outcome = outcome
            pending.woken.set()


def _result(outcome):
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome
