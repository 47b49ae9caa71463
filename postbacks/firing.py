"""Which of an affiliate's postbacks fire for one conversion event.

1. The enabled local postbacks of the conversion's offer that match the event fire.
2. If the offer has no enabled local postback of this affiliate at all, the affiliate's matching
   global postbacks fire.
3. If it has some but none matched, the global postbacks fire only when the affiliate's
   "Consider global postback" setting is on.

A postback matches when its status filter accepts the event (`any`: every event; `created`: the
creation event whatever its status; a status: any event whose resulting status is that one), its
integration method is the conversion's, and, for a local postback with a goal, the goal is the
conversion's. A disabled postback counts as absent. A test conversion fires none: it is sent only
to the postback under test (postbacks.services.postback_send_test, the integration test).

`decide` is the rule: for every postback it is given, whether it fires and, when not, why, as
`Reason` values. The postback writer keeps the ones that fire (`select`); the explain of a
conversion (postbacks.chain) puts the reasons into words, so the two never disagree.
"""

import enum
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from django.db.models import prefetch_related_objects

from config.db import select_models
from conversions.models import ConversionEvent
from offers.choices import ConversionStatus
from postbacks.models import Postback

STATUS_FILTERS = {
    Postback.StatusFilter.APPROVED: ConversionStatus.APPROVED,
    Postback.StatusFilter.PENDING: ConversionStatus.PENDING,
    Postback.StatusFilter.DECLINED: ConversionStatus.DECLINED,
    Postback.StatusFilter.HOLD: ConversionStatus.HOLD,
}


@dataclass(frozen=True)
class Event:
    """What the rule needs to know about a conversion event."""

    offer_id: int
    goal_id: int | None  # None: a goal the offer lacks
    integration_method: str
    kind: str
    new_status: int
    is_test: bool = False


class Reason(enum.Enum):
    """Why a postback did not fire. Kept as values here, where the writer decides thousands of
    events a second; only the explain of a conversion puts them into words."""

    TEST_CONVERSION = "test_conversion"
    DISABLED = "disabled"
    OTHER_OFFER = "other_offer"  # a local postback of another offer
    INTEGRATION_METHOD = "integration_method"
    GOAL = "goal"
    STATUS = "status"  # its status filter does not accept the event
    LOCAL_FIRED = "local_fired"  # a global postback: a local one of the offer fired
    CONSIDER_GLOBAL_OFF = "consider_global_off"  # a global postback: the offer has local ones, none matched


class Decision(NamedTuple):
    postback: Postback
    reasons: tuple[Reason, ...]  # empty: it fires

    @property
    def fired(self) -> bool:
        return not self.reasons


def decide(postbacks, event: Event, *, consider_global: bool) -> list[Decision]:
    """For each of `postbacks` (one affiliate's), in their order: whether it fires for `event`,
    and if not, why. A postback that fails several conditions gets a reason for each; a global
    one set aside by rules 1 and 3 gets that reason alone, since it was not matched at all."""
    if event.is_test:
        return [Decision(postback, (Reason.TEST_CONVERSION,)) for postback in postbacks]
    decided: list[tuple[Postback, tuple[Reason, ...] | None]] = []  # None: a global one, decided last
    has_local = local_fired = False
    for postback in postbacks:
        if not postback.enabled:
            decided.append((postback, (Reason.DISABLED,)))
        elif postback.offer_id is None:
            decided.append((postback, None))
        elif postback.offer_id != event.offer_id:
            decided.append((postback, (Reason.OTHER_OFFER,)))
        else:
            mismatches = _mismatches(postback, event)
            has_local, local_fired = True, local_fired or not mismatches
            decided.append((postback, mismatches))
    if local_fired:
        skipped = (Reason.LOCAL_FIRED,)
    elif has_local and not consider_global:
        skipped = (Reason.CONSIDER_GLOBAL_OFF,)
    else:
        skipped = None
    return [
        Decision(postback, reasons if reasons is not None else skipped or _mismatches(postback, event))
        for postback, reasons in decided
    ]


def select(postbacks, event: Event, *, consider_global: bool) -> list:
    """The postbacks of `postbacks` (one affiliate's) that fire for `event`."""
    return [
        decision.postback
        for decision in decide(postbacks, event, consider_global=consider_global)
        if not decision.reasons
    ]


def _mismatches(postback, event: Event) -> tuple[Reason, ...]:
    reasons = ()
    if postback.integration_method != event.integration_method:
        reasons += (Reason.INTEGRATION_METHOD,)
    if postback.goal_id is not None and postback.goal_id != event.goal_id:
        reasons += (Reason.GOAL,)
    if not _status_accepts(postback.status, event):
        reasons += (Reason.STATUS,)
    return reasons


def _status_accepts(status_filter: str, event: Event) -> bool:
    if status_filter == Postback.StatusFilter.ANY:
        return True
    if status_filter == Postback.StatusFilter.CREATED:
        return event.kind == ConversionEvent.Kind.CREATED
    return STATUS_FILTERS[status_filter] == event.new_status


def event_of(conversion_event) -> Event:
    """The rule's view of a stored conversion event (its conversion loaded)."""
    conversion = conversion_event.conversion
    return Event(
        offer_id=conversion.offer_id,
        # A conversion for a goal the offer lacks has none: it meets only postbacks for any goal.
        goal_id=None if conversion.unknown_goal else conversion.goal_id,
        integration_method=conversion.integration_method,
        kind=conversion_event.kind,
        new_status=conversion_event.new_status,
        is_test=conversion.is_test,
    )


def postbacks_for(conversion_events: list) -> list[list]:
    """The postbacks that fire for each of these stored conversion events, in one query (two
    when some fire), with their affiliates loaded."""
    conversions = [event.conversion for event in conversion_events]
    affiliate_ids = sorted({conversion.affiliate_id for conversion in conversions})
    offer_ids = sorted({conversion.offer_id for conversion in conversions})
    # Not through the ORM: this runs for every batch of conversions, and compiling the ORM's
    # query cost more than running it (config.db.select_models).
    candidates = select_models(
        Postback,
        where={"enabled": True, "affiliate_id": affiliate_ids, "offer_id": [None, *offer_ids]},
        order_by=("affiliate_id", "offer_id", "id"),
    )
    if candidates:
        prefetch_related_objects(candidates, "affiliate")
    by_affiliate = defaultdict(list)
    for postback in candidates:
        by_affiliate[postback.affiliate_id].append(postback)
    return [_firing(by_affiliate[event.conversion.affiliate_id], event) for event in conversion_events]


def _firing(candidates: list, conversion_event) -> list:
    if not candidates:
        return []
    return select(
        candidates,
        event_of(conversion_event),
        consider_global=candidates[0].affiliate.consider_global_postback,
    )
