"""Conversion events: every creation and status change of a conversion, stored and announced.

Every write of a conversion emits its event inside the transaction that makes the change, so
whatever listens (affiliate postbacks, statistics) sees each change exactly once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from config.db import insert_many
from conversions.models import ConversionEvent

_listeners: list[Callable[[list[ConversionEvent]], None]] = []


@dataclass(frozen=True)
class CountedAs:
    """What a conversion was counted as (its goal and amounts) before a status change that also
    changed them: a status change's event carries it as `counted_before`, for listeners that
    count amounts per goal and status."""

    goal_id: int
    payout: Decimal
    revenue: Decimal
    currency: str


def conversion_listen(listener: Callable[[list[ConversionEvent]], None]) -> Callable[[], None]:
    """Call `listener(events)` with the conversion events each write emits, inside the
    transaction that emits them. Returns the function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def conversion_created_emit(conversion, *, source) -> ConversionEvent:
    """Store and announce the creation of one conversion (a test conversion, say), outside the
    batches of conversions.recording."""
    return conversion_events_emit([conversion_event(conversion, ConversionEvent.Kind.CREATED, None, source)])[
        0
    ]


def conversion_events_emit(events: list[ConversionEvent]) -> list[ConversionEvent]:
    """Store `events` (in this order) and tell the listeners, in the caller's transaction."""
    return conversion_events_announce(conversion_events_store(events))


def conversion_events_store(events: list[ConversionEvent]) -> list[ConversionEvent]:
    """Store `events` (in this order) for `conversion_events_announce` to announce later in the
    same transaction, for a caller that must choose when the listeners' writes happen."""
    return insert_many(events)


def conversion_events_announce(events: list[ConversionEvent]) -> list[ConversionEvent]:
    """Tell the listeners about `events`, stored by `conversion_events_store`."""
    if events:
        for listener in _listeners:
            listener(events)
    return events


def conversion_event(conversion, kind, old_status, source, changed_by=None) -> ConversionEvent:
    """The event, not yet stored, of `conversion` having just become what it is now."""
    return ConversionEvent(
        conversion=conversion,
        kind=kind,
        old_status=old_status,
        new_status=conversion.status,
        source=source,
        changed_by=changed_by,
    )
