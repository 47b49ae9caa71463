"""Which postbacks fire for a conversion event: every case of the rule, one row each."""

import pytest

from postbacks.firing import Event, select
from postbacks.models import Postback

OFFER, OTHER_OFFER, GOAL, OTHER_GOAL = 10, 11, 100, 101
APPROVED, PENDING, DECLINED, HOLD = 1, 2, 3, 5


def postback(name, *, offer=None, status="any", goal=None, method="default", enabled=True):
    made = Postback(offer_id=offer, status=status, goal_id=goal, integration_method=method, enabled=enabled)
    made.name = name
    return made


def event(*, kind="created", status=PENDING, goal=GOAL, method="default"):
    return Event(offer_id=OFFER, goal_id=goal, integration_method=method, kind=kind, new_status=status)


CHANGED = "status_changed"

STATUS_FILTER_CASES = [
    # (status filter, event kind, resulting status, fires)
    ("any", "created", PENDING, True),
    ("any", CHANGED, APPROVED, True),
    ("created", "created", PENDING, True),
    ("created", "created", APPROVED, True),
    ("created", CHANGED, APPROVED, False),
    ("approved", "created", APPROVED, True),
    ("approved", CHANGED, APPROVED, True),
    ("approved", "created", PENDING, False),
    ("pending", "created", PENDING, True),
    ("pending", CHANGED, DECLINED, False),
    ("declined", CHANGED, DECLINED, True),
    ("declined", CHANGED, APPROVED, False),
    ("hold", "created", HOLD, True),
    ("hold", CHANGED, HOLD, True),
    ("hold", CHANGED, APPROVED, False),
]


@pytest.mark.parametrize(("status_filter", "kind", "status", "fires"), STATUS_FILTER_CASES)
def test_status_filter(status_filter, kind, status, fires):
    local = postback("local", offer=OFFER, status=status_filter)
    assert (select([local], event(kind=kind, status=status), consider_global=False) == [local]) is fires


GOAL_AND_METHOD_CASES = [
    # (postback goal, postback method, event goal, event method, fires)
    (None, "default", GOAL, "default", True),
    (GOAL, "default", GOAL, "default", True),
    (GOAL, "default", OTHER_GOAL, "default", False),
    (None, "probabilistic", GOAL, "probabilistic", True),
    (None, "probabilistic", GOAL, "default", False),
    (None, "default", GOAL, "probabilistic", False),
    (OTHER_GOAL, "probabilistic", OTHER_GOAL, "probabilistic", True),
]


@pytest.mark.parametrize(("goal", "method", "event_goal", "event_method", "fires"), GOAL_AND_METHOD_CASES)
def test_goal_and_integration_method(goal, method, event_goal, event_method, fires):
    local = postback("local", offer=OFFER, goal=goal, method=method)
    chosen = select([local], event(goal=event_goal, method=event_method), consider_global=False)
    assert (chosen == [local]) is fires


# Postbacks of one affiliate, by name; each case lists which exist and which fire.
CATALOGUE = {
    "local": dict(offer=OFFER),
    "local approved only": dict(offer=OFFER, status="approved"),
    "local other goal": dict(offer=OFFER, goal=OTHER_GOAL),
    "local disabled": dict(offer=OFFER, enabled=False),
    "other offer's local": dict(offer=OTHER_OFFER),
    "global": dict(),
    "global approved only": dict(status="approved"),
    "global disabled": dict(enabled=False),
}

SELECTION_CASES = [
    # (postbacks that exist, consider global, event status, postbacks that fire)
    (["global"], False, PENDING, ["global"]),
    (["global", "global approved only"], False, PENDING, ["global"]),
    (["global", "global approved only"], False, APPROVED, ["global", "global approved only"]),
    (["global", "other offer's local"], False, PENDING, ["global"]),
    (["local", "global"], False, PENDING, ["local"]),
    (["local", "global"], True, PENDING, ["local"]),
    (["local approved only", "global"], False, PENDING, []),
    (["local approved only", "global"], True, PENDING, ["global"]),
    (["local approved only", "global"], True, APPROVED, ["local approved only"]),
    (["local other goal", "global"], False, PENDING, []),
    (["local other goal", "global"], True, PENDING, ["global"]),
    (["local other goal", "local", "global"], False, PENDING, ["local"]),
    (["local approved only", "global approved only"], True, PENDING, []),
    (["local disabled", "global"], False, PENDING, ["global"]),
    (["global disabled"], False, PENDING, []),
    (["other offer's local"], True, PENDING, []),
    ([], True, PENDING, []),
]


@pytest.mark.parametrize(("existing", "consider_global", "status", "expected"), SELECTION_CASES)
def test_local_global_and_consider_global(existing, consider_global, status, expected):
    postbacks = [postback(name, **CATALOGUE[name]) for name in existing]
    chosen = select(postbacks, event(status=status), consider_global=consider_global)
    assert [chosen_postback.name for chosen_postback in chosen] == expected
