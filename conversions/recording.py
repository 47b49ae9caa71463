"""Recording advertiser postbacks and pixel hits: their conversions, status changes and log rows.

Hits are recorded in batches (`hits_record`): those that a web process receives at the same
moment together (config.batching.GroupCommit), or, when the node's postback writer runs
(conversions.writer), those of all its web processes. Either way each caller is answered once
the transaction holding its hit commits, and every hit is judged exactly as if it came alone.

The ways in:
- `advertiser_postback_answer`: the /postback and /pixel endpoints; through the writer when it runs.
- `advertiser_postback_record`: in this process, with the full result (the integration wizard).
- `hits_record_wired`: the writer's side, the hits it was sent in their wire form.
"""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from config.batching import GroupCommit
from config.db import insert_many
from config.metrics import ADVERTISER_POSTBACK_WAIT, advertiser_postbacks_counted
from conversions.events import conversion_event, conversion_events_announce, conversion_events_store
from conversions.intake import AdvertiserHit, HitRejected, Refusal, clicks_of, conversion_for
from conversions.lifecycle import advertiser_status_change_refused, conversion_set_status
from conversions.models import Conversion, ConversionEvent, ServerPostback
from conversions.repeats import foreign_action_id, uniqueness_lookup
from conversions.writer import WriterUnreachable, writer_submit
from offers.access import offer_with_goals
from offers.choices import ConversionStatus
from offers.payouts import PayoutRefused, payout_refusal

logger = logging.getLogger(__name__)

# Hits per transaction at most: a larger batch would hold its locks, and keep the advertiser
# whose hit came first waiting, for longer.
HIT_BATCH_MAX = 200


@dataclass(frozen=True)
class HitAnswer:
    """What the advertiser is told: the HTTP status and the JSON body of SPEC 4.1."""

    http_status: int
    body: dict


@dataclass
class HitResult:
    """`http_status` is the status the hit is answered with, and logged with: a refusal's own,
    or 200 when its advertiser asks for every answer to be a 200."""

    http_status: int
    message: str
    outcome: str
    conversion: Conversion | None = None
    event: ConversionEvent | None = None
    offer_id: int | None = None  # a refused hit's offer, when it was known
    reason: str = ""  # a refused hit's Refusal

    def answer(self) -> HitAnswer:
        if self.outcome == ServerPostback.Outcome.REJECTED:
            return HitAnswer(self.http_status, {"status": 2, "message": self.message})
        body = {"status": 1, "message": self.message, "conversion_id": self.conversion.conversion_id}
        return HitAnswer(self.http_status, body)


def advertiser_postback_answer(hit: AdvertiserHit) -> HitAnswer:
    """Record an advertiser postback or pixel hit and answer it, for the endpoints: the node's
    postback writer records it when it is running, else this process does."""
    started = time.monotonic()
    if settings.POSTBACK_WRITER_SOCKET and not transaction.get_connection().in_atomic_block:
        try:
            answer = HitAnswer(*writer_submit(hit.wire()))
        except WriterUnreachable:
            pass
        else:
            _WRITER_WAIT.observe(time.monotonic() - started)
            return answer
    answer = _group_commit.submit(hit).answer()
    _PROCESS_WAIT.observe(time.monotonic() - started)
    return answer


def advertiser_postback_record(
    *,
    params: dict[str, str],
    source: str,
    method: str,
    raw_query: str,
    caller_ip,
    refused: HitRejected | None = None,
) -> HitResult:
    """Record an advertiser postback or pixel hit in this process, with the hits its other
    threads record meanwhile, and log it, whatever the outcome. Raises what stopped it."""
    return _group_commit.submit(AdvertiserHit(params, source, method, raw_query, caller_ip, refused))


def hits_record_wired(sent: list) -> list:
    """The postback writer's side of `advertiser_postback_answer`: record the hits sent to it
    (their wire form) together, and answer each with its HitAnswer's fields, or the exception
    that stopped it. A hit that cannot be read is refused alone."""
    hits = []
    for value in sent:
        try:
            hits.append(AdvertiserHit.from_wire(dict(value)))
        except (TypeError, ValueError) as exc:
            hits.append(ValueError(f"unreadable postback: {exc}"))
    recorded = iter(hits_record([hit for hit in hits if isinstance(hit, AdvertiserHit)]))
    outcomes = [next(recorded) if isinstance(hit, AdvertiserHit) else hit for hit in hits]
    return [outcome if isinstance(outcome, Exception) else _wire(outcome.answer()) for outcome in outcomes]


def _wire(answer: HitAnswer) -> list:
    return [answer.http_status, answer.body]


def hits_record(hits: list[AdvertiserHit]) -> list[HitResult | Exception]:
    """Record `hits` in one transaction: their conversions, events and log rows commit together,
    in a few statements for the whole batch. Answers each hit's result, in order.

    A hit is judged exactly as if it came alone, after the hits before it: a repeat of a
    conversion created earlier in the batch is its duplicate or status change. Should the batch
    fail as a whole (a deadlock with another process's batch, say), each hit is recorded again
    alone, so one hit's failure is never another's.
    """
    try:
        with transaction.atomic():
            results = _batch_write(hits)
    except Exception as exc:
        if len(hits) == 1:
            return [exc]
        return [outcome for hit in hits for outcome in hits_record([hit])]
    _count(hits, results)
    return results


def _count(hits: list[AdvertiserHit], results: list[HitResult]) -> None:
    """Count the committed hits in /metrics, by advertiser: a batch that failed and was recorded
    again hit by hit is counted once, by the calls that recorded it. The hits are committed: a
    failure here (an offer deleted meanwhile, the database gone) costs a count, never an answer."""
    try:
        for hit, result in zip(hits, results, strict=True):
            offer_id = result.conversion.offer_id if result.conversion else result.offer_id
            # Cached for the click path and the intake: the batch has just read these offers.
            advertiser = str(offer_with_goals(offer_id).advertiser_id) if offer_id else "none"
            advertiser_postbacks_counted(hit.source, result.outcome, result.reason, advertiser).inc()
    except Exception:
        logger.exception("Advertiser postbacks recorded but not counted in the metrics")


_group_commit = GroupCommit(hits_record, max_batch=HIT_BATCH_MAX)
_WRITER_WAIT = ADVERTISER_POSTBACK_WAIT.labels("writer")
_PROCESS_WAIT = ADVERTISER_POSTBACK_WAIT.labels("process")


def _batch_write(hits: list[AdvertiserHit]) -> list[HitResult]:
    clicks = clicks_of(hits)
    judged: list[tuple[Conversion, ConversionStatus | None] | HitResult] = []
    for hit in hits:
        try:
            judged.append(conversion_for(hit, clicks=clicks))
        except HitRejected as rejected:
            judged.append(_rejection(rejected))
    results, creations = _create_or_repeat(judged, [hit.source for hit in hits])
    insert_many([_log_entry(hit, result) for hit, result in zip(hits, results, strict=True)])
    # The listeners come last: they update rows that every batch of the same offer and day
    # updates too (its statistics), which stay locked from then until the commit.
    conversion_events_announce(creations)
    return results


def _rejection(rejected: HitRejected) -> HitResult:
    http_status = 200 if rejected.answer_200 else rejected.http_status
    return HitResult(
        http_status,
        rejected.message,
        ServerPostback.Outcome.REJECTED,
        offer_id=rejected.offer_id,
        reason=rejected.reason,
    )


def _log_entry(hit: AdvertiserHit, result: HitResult) -> ServerPostback:
    return ServerPostback(
        source=hit.source,
        method=hit.method,
        query=hit.logged_query(),
        ip=hit.caller_ip,
        outcome=result.outcome,
        http_status=result.http_status,
        message=result.message[:255],
        conversion=result.conversion,
        event=result.event,
        offer_id=result.conversion.offer_id if result.conversion else result.offer_id,
        click_id=hit.logged_click_id(),
    )


def _lock_order(conversion: Conversion) -> tuple:
    # Every batch inserts its rows in this order, so two batches holding twins of each other's
    # conversions wait for one another in one direction, never crosswise (a deadlock). The order
    # is that of the unique keys alone: twins keep their arrival order (the sort is stable), so
    # the first of them is the one inserted, whichever click each came on.
    click_id = 0 if conversion.action_id else conversion.click_id or 0
    return conversion.offer_id, conversion.goal_id, conversion.action_id, conversion.unknown_goal, click_id


def _create_or_repeat(judged: list, sources: list[str]) -> tuple[list[HitResult], list[ConversionEvent]]:
    """Insert first, look second: a batch's new conversions cost one statement, and the unique
    constraints, not a check-then-insert, decide between twins arriving at the same time, in
    one batch or in two. `judged` holds, per hit, its rejection or its conversion and the status
    it asks for. Answers the hits' results and the creation events that are stored but not yet
    announced to the listeners: a status change is announced at once, after the creations
    before it (it may change a conversion that the batch has just created)."""
    # A conversion whose goal cannot pay on its sum (offers.payouts) has no amounts and is not
    # inserted: its hit may still repeat a stored conversion, and is refused only if it would not.
    new = [item[0] for item in judged if not isinstance(item, HitResult) and item[0].payout is not None]
    inserted = {
        id(conversion)
        for conversion in insert_many(sorted(new, key=_lock_order), skip_conflicts_by="conversion_id")
    }
    creations = conversion_events_store(
        [
            conversion_event(conversion, ConversionEvent.Kind.CREATED, None, source)
            for item, source in zip(judged, sources, strict=True)
            if not isinstance(item, HitResult) and id(conversion := item[0]) in inserted
        ]
    )
    created_by = {id(event.conversion): event for event in creations}
    # Which hit of the batch created each new conversion: a hit may repeat only those before it.
    creators = {
        item[0].pk: position
        for position, item in enumerate(judged)
        if not isinstance(item, HitResult) and id(item[0]) in created_by
    }
    results = []
    for position, (item, source) in enumerate(zip(judged, sources, strict=True)):
        if isinstance(item, HitResult):
            results.append(item)
            continue
        conversion, requested_status = item
        if id(conversion) in created_by:
            # A conversion declined on arrival is recorded, so the advertiser has nothing to retry.
            message = f"declined: {conversion.decline_reason}" if conversion.decline_reason else "ok"
            event = created_by[id(conversion)]
            results.append(HitResult(200, message, ServerPostback.Outcome.CREATED, conversion, event))
            continue
        lookup = uniqueness_lookup(conversion)
        if lookup is None and conversion.payout is not None:
            # Only the random conversion id can have collided: vanishingly rare.
            raise IntegrityError(f"conversion id {conversion.conversion_id} already exists")
        conversion_events_announce(creations)
        creations = []
        try:
            stored = _repeated(conversion, lookup, creators, position)
            results.append(_repeat(stored, conversion, requested_status, source))
        except HitRejected as rejected:
            rejected.offer_id = conversion.offer_id
            results.append(_rejection(rejected))
    return results, creations


def _repeated(conversion: Conversion, lookup: dict | None, creators: dict, position: int) -> Conversion:
    """The stored conversion that the hit at `position` of the batch, which would have created
    `conversion`, repeats. One without amounts (its goal cannot pay on its sum) was not inserted:
    the hit is refused with the reason unless it repeats a conversion stored before it, not one
    that a later hit of the batch created (`creators`: the position of each new conversion's hit)."""
    if conversion.payout is not None:
        return Conversion.objects.get(**lookup)
    stored = Conversion.objects.filter(**lookup).first() if lookup else None
    if stored is None or creators.get(stored.pk, position) > position:
        refusal = payout_refusal(
            conversion.goal,
            country=conversion.country,
            order_sum=conversion.order_sum,
            order_currency=conversion.order_currency,
        )
        raise HitRejected(
            400, Refusal.PAYOUT_REFUSED, refusal, conversion.offer.advertiser.refusals_answer_200
        )
    return stored


def _repeat(conversion, repeat: Conversion, requested_status, source) -> HitResult:
    """A hit for a conversion that exists (`repeat` is the conversion it would have created):
    a status change, or a harmless replay. Refused when it comes for another click."""
    answer_200 = repeat.offer.advertiser.refusals_answer_200
    refusal = foreign_action_id(stored=conversion, repeat=repeat)
    if refusal:
        raise HitRejected(409, Refusal.ACTION_ID_CONFLICT, refusal, answer_200)
    if requested_status is None or requested_status == conversion.status:
        return HitResult(200, "duplicate", ServerPostback.Outcome.DUPLICATE, conversion)
    refusal = advertiser_status_change_refused(current=conversion.status, requested=requested_status)
    if refusal:
        raise HitRejected(409, Refusal.STATUS_CHANGE_REFUSED, refusal, answer_200)
    try:
        # A status change carrying a sum computes the amounts again from it.
        event = conversion_set_status(
            conversion=conversion,
            status=requested_status,
            source=source,
            order_sum=repeat.order_sum,
            order_currency=repeat.order_currency,
        )
    except PayoutRefused as refused:
        raise HitRejected(400, Refusal.PAYOUT_REFUSED, refused.message, answer_200) from None
    if event is None:
        return HitResult(200, "duplicate", ServerPostback.Outcome.DUPLICATE, conversion)
    conversion.refresh_from_db()
    return HitResult(200, "ok", ServerPostback.Outcome.STATUS_CHANGED, conversion, event)
