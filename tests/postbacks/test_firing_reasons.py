"""The firing rule's reasons: `decide` says of every postback it is given whether it fires and, when
not, why; `select` is exactly the ones it says fire. One row per reason."""

import pytest

from postbacks.firing import Event, Reason, decide, select
from postbacks.models import Postback

OFFER, OTHER_OFFER, GOAL, OTHER_GOAL = 10, 11, 100, 101
APPROVED, PENDING = 1, 2


def postback(*, offer=None, status="any", goal=None, method="default", enabled=True):
    return Postback(offer_id=offer, status=status, goal_id=goal, integration_method=method, enabled=enabled)


def event(*, kind="created", status=PENDING, is_test=False):
    return Event(
        offer_id=OFFER,
        goal_id=GOAL,
        integration_method="default",
        kind=kind,
        new_status=status,
        is_test=is_test,
    )


CASES = [
    # (the postbacks, the one asked about by index, the event, consider global, its reasons)
    ([postback(offer=OFFER)], 0, event(), False, ()),
    ([postback(offer=OFFER, status="approved")], 0, event(), False, (Reason.STATUS,)),
    ([postback(offer=OFFER, status="created")], 0, event(kind="status_changed"), False, (Reason.STATUS,)),
    ([postback(offer=OFFER, goal=OTHER_GOAL)], 0, event(), False, (Reason.GOAL,)),
    ([postback(offer=OFFER, method="probabilistic")], 0, event(), False, (Reason.INTEGRATION_METHOD,)),
    (
        [postback(offer=OFFER, status="approved", goal=OTHER_GOAL, method="probabilistic")],
        0,
        event(),
        False,
        (Reason.INTEGRATION_METHOD, Reason.GOAL, Reason.STATUS),
    ),
    ([postback(offer=OFFER, enabled=False)], 0, event(), False, (Reason.DISABLED,)),
    ([postback(offer=OTHER_OFFER)], 0, event(), False, (Reason.OTHER_OFFER,)),
    ([postback(offer=OFFER), postback()], 1, event(), True, (Reason.LOCAL_FIRED,)),
    (
        [postback(offer=OFFER, status="approved"), postback()],
        1,
        event(),
        False,
        (Reason.CONSIDER_GLOBAL_OFF,),
    ),
    ([postback(offer=OFFER, status="approved"), postback()], 1, event(), True, ()),
    # A disabled local postback counts as absent: the global one fires.
    ([postback(offer=OFFER, enabled=False), postback()], 1, event(), False, ()),
    ([postback(status="approved")], 0, event(), False, (Reason.STATUS,)),
    ([postback(offer=OFFER), postback()], 0, event(is_test=True), False, (Reason.TEST_CONVERSION,)),
]


@pytest.mark.parametrize(("postbacks", "index", "event", "consider_global", "reasons"), CASES)
def test_each_postback_gets_the_reasons_of_the_rule(postbacks, index, event, consider_global, reasons):
    decisions = decide(postbacks, event, consider_global=consider_global)
    assert [decision.postback for decision in decisions] == postbacks
    assert decisions[index].reasons == reasons
    assert decisions[index].fired is (reasons == ())
    fired = [decision.postback for decision in decisions if decision.fired]
    assert select(postbacks, event, consider_global=consider_global) == fired
