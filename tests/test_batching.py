"""Group commit (config.batching) with real threads: who writes what, and who gets which answer."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import transaction

from config.batching import GroupCommit


class Recorder:
    """A write function that records its batches; the first batch waits until `release()`, so
    the test can line other threads up behind it."""

    def __init__(self, fail_on=None):
        self.batches: list[list] = []
        self.writing = threading.Event()
        self.released = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items):
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.writing.set()
            assert self.released.wait(10)
        if self.fail_on in items:
            raise RuntimeError(f"batch with {self.fail_on} failed")
        return [ValueError(f"refused {item}") if item < 0 else item * 10 for item in items]

    def release(self):
        self.released.set()


def submit_while_first_is_written(group: GroupCommit, recorder: Recorder, first, others) -> dict:
    """Submit `first`, then `others` from their own threads while `first` is being written."""
    outcomes = {}

    def submit(item):
        try:
            outcomes[item] = group.submit(item)
        except Exception as exc:
            outcomes[item] = exc

    with ThreadPoolExecutor(max_workers=len(others) + 1) as pool:
        pool.submit(submit, first)
        assert recorder.writing.wait(10)
        futures = [pool.submit(submit, item) for item in others]
        _wait_until(lambda: len(group._queue) == len(others))
        recorder.release()
        for future in futures:
            future.result(10)
    return outcomes


def _wait_until(condition, seconds=10.0):
    done = threading.Event()
    for _ in range(int(seconds * 100)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not met in time")


def test_items_submitted_while_a_batch_is_written_form_the_next_batch_and_each_gets_its_outcome():
    recorder = Recorder()
    group = GroupCommit(recorder, max_batch=100)
    outcomes = submit_while_first_is_written(group, recorder, 1, [2, 3, 4, 5])
    assert recorder.batches[0] == [1]
    assert sorted(recorder.batches[1]) == [2, 3, 4, 5] and len(recorder.batches) == 2
    assert outcomes == {1: 10, 2: 20, 3: 30, 4: 40, 5: 50}


def test_batches_are_no_larger_than_max_batch():
    recorder = Recorder()
    group = GroupCommit(recorder, max_batch=2)
    outcomes = submit_while_first_is_written(group, recorder, 1, [2, 3, 4, 5, 6])
    assert [len(batch) for batch in recorder.batches] == [1, 2, 2, 1]
    assert outcomes == {item: item * 10 for item in range(1, 7)}


def test_an_exception_as_outcome_is_raised_in_its_own_thread_only():
    recorder = Recorder()
    group = GroupCommit(recorder, max_batch=100)
    outcomes = submit_while_first_is_written(group, recorder, 1, [2, -3, 4])
    assert isinstance(outcomes[-3], ValueError) and str(outcomes[-3]) == "refused -3"
    assert {item: outcomes[item] for item in (1, 2, 4)} == {1: 10, 2: 20, 4: 40}


def test_a_failed_write_fails_its_batch_only_and_later_items_are_written():
    recorder = Recorder(fail_on=3)
    group = GroupCommit(recorder, max_batch=100)
    outcomes = submit_while_first_is_written(group, recorder, 1, [2, 3])
    assert outcomes[1] == 10
    assert all(isinstance(outcomes[item], RuntimeError) for item in (2, 3))
    assert group.submit(7) == 70 and recorder.batches[-1] == [7]


@pytest.mark.django_db
def test_inside_a_transaction_an_item_is_written_alone_at_once():
    recorder = Recorder()
    recorder.released.set()
    group = GroupCommit(recorder, max_batch=100)
    with transaction.atomic():
        assert group.submit(4) == 40
    assert recorder.batches == [[4]]
