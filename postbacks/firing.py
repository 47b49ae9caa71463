"""Which of an affiliate's postbacks fire for one conversion event.

1. The enabled local postbacks of the conversion's offer that match the event fire.
2. If the offer has no enabled local postback of this affiliate at all, the affiliate's matching
   global postbacks fire.
3. If it has some but none matched, the global postbacks fire only when the affiliate's
   "Consider global postback" setting is on.

A postback matches when its status filter accepts the event (`any`: every event; `created`: the
creation event whatever its status; a status: any event whose resulting status is that one), its
integration method is the conversion's, and, for a local postback with a goal, the goal is the
conversion's. A disabled postback counts as absent. Test conversions never reach this rule: they
are sent only to the postback under test.
"""

from collections import defaultdict
from dataclasses import dataclass

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


def select(postbacks, event: Event, *, consider_global: bool) -> list:
    """The postbacks of `postbacks` (one affiliate's) that fire for `event`."""
    enabled = [postback for postback in postbacks if postback.enabled]
    local = [postback for postback in enabled if postback.offer_id == event.offer_id]
    global_ = [postback for postback in enabled if postback.offer_id is None]
    matching_local = [postback for postback in local if _matches(postback, event)]
    if matching_local:
        return matching_local
    if not local or consider_global:
        return [postback for postback in global_ if _matches(postback, event)]
    return []


def _matches(postback, event: Event) -> bool:
    if postback.integration_method != event.integration_method:
        return False
    if postback.goal_id is not None and postback.goal_id != event.goal_id:
        return False
    if postback.status == Postback.StatusFilter.ANY:
        return True
    if postback.status == Postback.StatusFilter.CREATED:
        return event.kind == ConversionEvent.Kind.CREATED
    return STATUS_FILTERS[postback.status] == event.new_status


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
    conversion = conversion_event.conversion
    return select(
        candidates,
        Event(
            offer_id=conversion.offer_id,
            # A conversion for a goal the offer lacks has none: it meets only postbacks for any goal.
            goal_id=None if conversion.unknown_goal else conversion.goal_id,
            integration_method=conversion.integration_method,
            kind=conversion_event.kind,
            new_status=conversion_event.new_status,
        ),
        consider_global=candidates[0].affiliate.consider_global_postback,
    )
