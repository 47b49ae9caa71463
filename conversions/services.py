"""Conversions: recording them from advertiser postbacks and pixels, and changing their status.

Every creation and status change goes through `conversion_events_emit`, inside the transaction
that makes the change, so whatever listens (affiliate postbacks, statistics) sees each change
exactly once.
"""

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote_plus

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.batching import GroupCommit
from config.db import insert_many
from config.text import has_control_characters, printable
from conversions.models import Conversion, ConversionEvent, IntegrationMethod, ServerPostback
from conversions.repeats import foreign_action_id
from conversions.writer import WriterUnreachable, writer_submit
from offers.choices import ConversionStatus
from offers.models import Affiliate, Offer
from offers.selectors import affiliate_can_run_offer
from tracking.client_ip import ip_text
from tracking.lookups import offer_with_goals
from tracking.models import MAX_PARAMETER_LENGTH, SUB_FIELDS, Click
from tracking.params import public_id
from tracking.services import clicks_get

CLICK_ID = re.compile(r"^[0-9a-f]{24}\Z")
CURRENCY = re.compile(r"^[A-Za-z]{3}\Z")
DECIMAL_NUMBER = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")
INVALID_SUM = "Invalid sum: send a number such as 12.50 (digits 0-9, a dot before decimals)"
CLICK_ID_PARAMETERS = ["clickid", "click_id", "afclick"]
STATUS_CODES = {str(status.value): status for status in ConversionStatus}
# What an advertiser may do to an existing conversion; managers may set any status.
ADVERTISER_STATUS_CHANGES = {
    ConversionStatus.PENDING: {ConversionStatus.APPROVED, ConversionStatus.DECLINED, ConversionStatus.HOLD},
    ConversionStatus.HOLD: {ConversionStatus.APPROVED, ConversionStatus.DECLINED},
}
STORED_PARAMETERS = ["comment", "fbclid", "device_type", "user_id", "promo_code"]
EXTRA_PARAMETERS = [f"custom_field{n}" for n in range(1, 16)] + [
    "timestamp",
    "action_timestamp",
    "country",
    "platform",
]
LONG_PARAMETERS = {"referrer": 2048}

# Postbacks per transaction at most: a larger batch would hold its locks, and keep the advertiser
# whose postback came first waiting, for longer.
POSTBACK_BATCH_MAX = 200

_listeners: list[Callable[[list[ConversionEvent]], None]] = []


def conversion_listen(listener: Callable[[list[ConversionEvent]], None]) -> Callable[[], None]:
    """Call `listener(events)` with the conversion events each write emits, inside the
    transaction that emits them. Returns the function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def conversion_event_emit(*, conversion, kind, old_status, source, changed_by=None) -> ConversionEvent:
    return conversion_events_emit([_event(conversion, kind, old_status, source, changed_by)])[0]


def conversion_events_emit(events: list[ConversionEvent]) -> list[ConversionEvent]:
    """Store `events` (in this order) and tell the listeners, in the caller's transaction."""
    return _events_announce(insert_many(events))


def _events_announce(events: list[ConversionEvent]) -> list[ConversionEvent]:
    """Tell the listeners about `events`, which are stored already."""
    if events:
        for listener in _listeners:
            listener(events)
    return events


def _event(conversion, kind, old_status, source, changed_by=None) -> ConversionEvent:
    """The event of `conversion` having just become what it is now."""
    return ConversionEvent(
        conversion=conversion,
        kind=kind,
        old_status=old_status,
        new_status=conversion.status,
        source=source,
        changed_by=changed_by,
    )


def _hold_until(offer: Offer, status: int):
    return (
        timezone.now() + timedelta(days=offer.hold_period_days) if status == ConversionStatus.HOLD else None
    )


@transaction.atomic
def conversion_set_status(*, conversion: Conversion, status: int, source: str, changed_by=None):
    """Set a conversion's status and emit its event. Returns the event, or None when the status
    was already `status` (so concurrent identical changes emit one event)."""
    # Only the conversion's row: FOR UPDATE through the join would also lock the offer's row,
    # which every transaction writing a conversion of the offer needs (its foreign key check).
    conversion = (
        Conversion.objects.select_for_update(of=("self",)).select_related("offer").get(pk=conversion.pk)
    )
    if conversion.status == status:
        return None
    old_status = conversion.status
    conversion.status = status
    conversion.hold_until = _hold_until(conversion.offer, status)
    conversion.save(update_fields=["status", "hold_until", "updated_at"])
    return conversion_event_emit(
        conversion=conversion,
        kind=ConversionEvent.Kind.STATUS_CHANGED,
        old_status=old_status,
        source=source,
        changed_by=changed_by,
    )


def conversion_approve_expired_holds() -> int:
    """Approve conversions whose hold period has ended (run by beat)."""
    due = Conversion.objects.filter(status=ConversionStatus.HOLD, hold_until__lte=timezone.now())
    approved = 0
    for conversion in due.only("pk").iterator():
        event = conversion_set_status(
            conversion=conversion,
            status=ConversionStatus.APPROVED,
            source=ConversionEvent.Source.HOLD_EXPIRED,
        )
        approved += event is not None
    return approved


# --- Advertiser postbacks and pixels ----------------------------------------------------


class PostbackRejected(Exception):
    def __init__(self, http_status: int, message: str):
        super().__init__(message)
        self.http_status, self.message = http_status, message


@dataclass(frozen=True)
class PostbackAnswer:
    """What the advertiser is told: the HTTP status and the JSON body of SPEC 4.1."""

    http_status: int
    body: dict


@dataclass
class PostbackResult:
    http_status: int
    message: str
    outcome: str
    conversion: Conversion | None = None
    event: ConversionEvent | None = None

    def answer(self) -> PostbackAnswer:
        if self.outcome == ServerPostback.Outcome.REJECTED:
            return PostbackAnswer(self.http_status, {"status": 2, "message": self.message})
        body = {"status": 1, "message": self.message, "conversion_id": self.conversion.conversion_id}
        return PostbackAnswer(self.http_status, body)


@dataclass
class PostbackHit:
    """One advertiser postback or pixel hit as received. `refused` is for a request whose
    parameters could not even be read: it is logged like any other refusal."""

    params: dict[str, str]
    source: str
    method: str
    raw_query: str
    caller_ip: str | None
    refused: PostbackRejected | None = None

    def wire(self) -> dict:
        """The hit as JSON, for the postback writer (conversions.writer)."""
        refused = [self.refused.http_status, self.refused.message] if self.refused else None
        return {**vars(self), "refused": refused}

    @classmethod
    def from_wire(cls, value: dict) -> "PostbackHit":
        refused = value.pop("refused", None)
        return cls(**value, refused=PostbackRejected(*refused) if refused else None)


def postback_receive(
    *,
    params: dict[str, str],
    source: str,
    method: str,
    raw_query: str,
    caller_ip,
    refused: PostbackRejected | None = None,
) -> PostbackResult:
    """Handle one advertiser postback or pixel hit and log it, whatever the outcome.

    Hits that a web process receives at the same time are recorded together (see
    `postbacks_record`); each caller is answered once the transaction holding its hit commits.
    """
    return _group_commit.submit(PostbackHit(params, source, method, raw_query, caller_ip, refused))


def postback_answer(hit: PostbackHit) -> PostbackAnswer:
    """What `postback_receive` does, for the advertiser endpoints: the node's postback writer
    (conversions.writer) records the hit when it is running, else this process does."""
    if settings.POSTBACK_WRITER_SOCKET and not transaction.get_connection().in_atomic_block:
        try:
            return PostbackAnswer(*writer_submit(hit.wire()))
        except WriterUnreachable:
            pass
    return _group_commit.submit(hit).answer()


def postbacks_record_sent(sent: list) -> list:
    """The postback writer's side of `postback_answer`: record the hits sent to it (their wire
    form) together, and answer each with its PostbackAnswer's fields, or the exception that
    stopped it. A hit that cannot be read is refused alone."""
    hits = []
    for value in sent:
        try:
            hits.append(PostbackHit.from_wire(dict(value)))
        except (TypeError, ValueError) as exc:
            hits.append(ValueError(f"unreadable postback: {exc}"))
    recorded = iter(postbacks_record([hit for hit in hits if isinstance(hit, PostbackHit)]))
    outcomes = [next(recorded) if isinstance(hit, PostbackHit) else hit for hit in hits]
    return [outcome if isinstance(outcome, Exception) else _wire(outcome.answer()) for outcome in outcomes]


def _wire(answer: PostbackAnswer) -> list:
    return [answer.http_status, answer.body]


def postbacks_record(hits: list[PostbackHit]) -> list[PostbackResult | Exception]:
    """Record `hits` in one transaction: their conversions, events and log rows commit together,
    in a few statements for the whole batch. Answers each hit's result, in order.

    A hit is judged exactly as if it came alone, after the hits before it: a repeat of a
    conversion created earlier in the batch is its duplicate or status change. Should the batch
    fail as a whole (a deadlock with another process's batch, say), each hit is recorded again
    alone, so one hit's failure is never another's.
    """
    try:
        with transaction.atomic():
            return _record(hits)
    except Exception as exc:
        if len(hits) == 1:
            return [exc]
    return [outcome for hit in hits for outcome in postbacks_record([hit])]


_group_commit = GroupCommit(postbacks_record, max_batch=POSTBACK_BATCH_MAX)


def _record(hits: list[PostbackHit]) -> list[PostbackResult]:
    click_ids = [_click_id(hit.params) for hit in hits if hit.refused is None]
    clicks = clicks_get([click_id for click_id in click_ids if CLICK_ID.match(click_id)])
    judged: list[tuple[Conversion, ConversionStatus | None] | PostbackResult] = []
    for hit in hits:
        try:
            if hit.refused is not None:
                raise hit.refused
            judged.append(_conversion_for(hit.params, caller_ip=hit.caller_ip, clicks=clicks))
        except PostbackRejected as rejected:
            judged.append(_rejection(rejected))
    results, creations = _create_or_repeat(judged, [hit.source for hit in hits])
    insert_many([_log_entry(hit, result) for hit, result in zip(hits, results, strict=True)])
    # The listeners come last: they update rows that every batch of the same offer and day
    # updates too (its statistics), which stay locked from then until the commit.
    _events_announce(creations)
    return results


def _rejection(rejected: PostbackRejected) -> PostbackResult:
    return PostbackResult(rejected.http_status, rejected.message, ServerPostback.Outcome.REJECTED)


def _log_entry(hit: PostbackHit, result: PostbackResult) -> ServerPostback:
    return ServerPostback(
        source=hit.source,
        method=hit.method,
        query=printable(_secrets_masked(hit.raw_query, hit.params.get("secure", ""))[:8192]),
        ip=hit.caller_ip,
        outcome=result.outcome,
        http_status=result.http_status,
        message=result.message[:255],
        conversion=result.conversion,
        event=result.event,
    )


def _secrets_masked(raw_query: str, secure: str) -> str:
    """`raw_query` with the advertiser's `secure` code shown as ***: the log is read by every
    manager and through the API, and the code is a password. Form-encoded pairs are masked by
    name; any other body (a multipart form) by the value the request carried."""
    masked = "\n".join("&".join(map(_pair_masked, line.split("&"))) for line in raw_query.split("\n"))
    return masked.replace(secure, "***") if secure and secure in masked else masked


def _pair_masked(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    return f"{name}=***" if equals and unquote_plus(name).lower() == "secure" else pair


def _click_id(params) -> str:
    return next((params[name] for name in CLICK_ID_PARAMETERS if params.get(name)), "")


def _conversion_for(params, *, caller_ip, clicks) -> tuple[Conversion, ConversionStatus | None]:
    """The checks of an advertiser postback, in the order advertisers' integrations expect, and
    the conversion it would create, with the status it asks for (None when it names none).
    `clicks` are the clicks of the batch's click ids (tracking.services.clicks_get)."""
    _check_lengths(params)
    click_id = _click_id(params)
    if click_id:
        click, offer, affiliate_id, method = _click_attribution(click_id, params, clicks)
    elif params.get("offer_id") and params.get("pid"):
        offer, affiliate_id = _probabilistic_offer_and_affiliate(params)
        click, method = None, IntegrationMethod.PROBABILISTIC
    else:
        raise PostbackRejected(400, "Missing mandatory parameter clickid")
    if not offer.is_active:
        raise PostbackRejected(403, "Offer disabled")
    expected_code = offer.secure_code or offer.advertiser.secure_code
    if expected_code and params.get("secure", "") != expected_code:
        raise PostbackRejected(403, "Access denied")
    if offer.advertiser.ip_allowlist and not _ip_allowed(caller_ip, offer.advertiser.ip_allowlist):
        raise PostbackRejected(403, "Current IP-address is denied")
    goal = _goal(offer, params.get("goal", ""))
    requested_status = _status(params.get("status", ""))
    order_sum = _sum(params.get("sum", ""))
    order_currency = _currency(params.get("currency", ""))
    if method == IntegrationMethod.PROBABILISTIC and params.get("ip"):
        click = _latest_click_from_ip(offer, affiliate_id, params["ip"], params.get("ua", ""))

    status = requested_status or goal.default_status
    fields = {
        "click": click,
        "offer": offer,
        "affiliate_id": affiliate_id,
        "goal": goal,
        "status": status,
        "integration_method": method,
        "action_id": params.get("action_id", ""),
        "payout": goal.payout,
        "revenue": goal.revenue,
        "currency": goal.currency,
        "order_sum": order_sum,
        "order_currency": order_currency,
        "ip": ip_text(params.get("ip", "")),
        "referrer": params.get("referrer", ""),
        "extra": {name: params[name] for name in EXTRA_PARAMETERS if params.get(name)},
        "hold_until": _hold_until(offer, status),
        # A conversion of a test click is a test conversion: no statistics, no affiliate postbacks.
        "is_test": click is not None and click.is_test,
        **{name: params.get(name, "") for name in STORED_PARAMETERS},
        **_sub_values(click, params),
    }
    return Conversion(**fields), requested_status


def _check_lengths(params):
    for name, value in params.items():
        limit = LONG_PARAMETERS.get(name, MAX_PARAMETER_LENGTH)
        if len(value) > limit:
            raise PostbackRejected(400, f"Parameter {printable(name[:32])} is longer than {limit} characters")
        if has_control_characters(value):
            raise PostbackRejected(400, f"Parameter {printable(name[:32])} contains control characters")


def _click_attribution(click_id, params, clicks):
    if not CLICK_ID.match(click_id):
        raise PostbackRejected(400, "Click_id: invalid format")
    if click_id not in clicks:
        # The click may be in the click buffer, which is unreachable: a 404 would make the
        # advertiser drop a conversion that a retry will record.
        raise PostbackRejected(503, "Click lookup temporarily unavailable, retry later")
    click = clicks[click_id]
    if click is None:
        raise PostbackRejected(404, "Click not found")
    offer = offer_with_goals(click.offer_id)
    if click.created_at < timezone.now() - timedelta(days=offer.click_lifetime_days):
        raise PostbackRejected(410, "Click session expired")
    if params.get("offer_id") and params["offer_id"] != str(offer.offer_id):
        raise PostbackRejected(400, "Offer does not match the click")
    return click, offer, click.affiliate_id, IntegrationMethod.DEFAULT


def _probabilistic_offer_and_affiliate(params):
    offer_id, pid = public_id(params["offer_id"]), public_id(params["pid"])
    offer = Offer.objects.select_related("advertiser").filter(offer_id=offer_id).first() if offer_id else None
    if offer is None:
        raise PostbackRejected(404, "Offer not found")
    affiliate = Affiliate.objects.filter(pid=pid).first() if pid else None
    if affiliate is None:
        raise PostbackRejected(404, "Affiliate not found")
    # A paused offer is reported as "Offer disabled" by the next check, like for clicks.
    if offer.is_active and not affiliate_can_run_offer(affiliate=affiliate, offer=offer):
        raise PostbackRejected(403, "Affiliate has no access to this offer")
    return offer, affiliate.pk


def _ip_allowed(caller_ip, allowlist) -> bool:
    if not caller_ip:
        return False
    address = ipaddress.ip_address(caller_ip)
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowlist)


def _goal(offer, value):
    goals = list(offer.goals.all())
    if not value:
        return goals[0]
    for goal in goals:
        if goal.value.lower() == value.lower():
            return goal
    raise PostbackRejected(404, "Goal not found")


def _status(value):
    if not value:
        return None
    if value not in STATUS_CODES:
        raise PostbackRejected(400, "Unknown status")
    return STATUS_CODES[value]


def _sum(value):
    if not value:
        return None
    # Decimal() alone would also take other scripts' digits (١٢, １２), `1_000`, exponents,
    # signs and surrounding spaces: an amount is a plain ASCII decimal number.
    if not DECIMAL_NUMBER.match(value):
        raise PostbackRejected(400, INVALID_SUM)
    try:
        # Rounded before the range check: 99999999999999.99999 rounds up to 1e14, too large to store.
        amount = Decimal(value).quantize(Decimal("0.0001"))
    except InvalidOperation:  # too many digits to round
        raise PostbackRejected(400, INVALID_SUM) from None
    if amount >= Decimal("1e14"):
        raise PostbackRejected(400, INVALID_SUM)
    return amount


def _currency(value):
    if not value:
        return ""
    if not CURRENCY.match(value):
        raise PostbackRejected(400, "Invalid currency: send a three-letter code such as USD")
    return value.upper()


def _latest_click_from_ip(offer, affiliate_id, ip, user_agent):
    """Probabilistic attribution: the affiliate's latest click on the offer from this IP (and
    user agent, when given) inside the click lifetime, so its sub values reach the postback."""
    address = ip_text(ip)
    if address is None:
        return None
    since = timezone.now() - timedelta(days=offer.click_lifetime_days)
    clicks = Click.objects.filter(
        affiliate_id=affiliate_id, offer=offer, ip=address, created_at__gte=since, is_test=False
    )
    if user_agent:
        clicks = clicks.filter(user_agent=user_agent[:512])
    return clicks.order_by("-created_at").first()


def _sub_values(click, params):
    if click is not None:
        return click.sub_values()
    return {name: params.get(name, "") for name in SUB_FIELDS}


def _uniqueness(conversion: Conversion) -> dict | None:
    """The lookup of the stored conversion that `conversion` repeats under the unique constraints."""
    if conversion.action_id:
        return {
            "offer_id": conversion.offer_id,
            "goal_id": conversion.goal_id,
            "action_id": conversion.action_id,
        }
    if conversion.integration_method == IntegrationMethod.DEFAULT:
        return {
            "offer_id": conversion.offer_id,
            "goal_id": conversion.goal_id,
            "click_id": conversion.click_id,
            "action_id": "",
        }
    return None


def _lock_order(conversion: Conversion) -> tuple:
    # Every batch inserts its rows in this order, so two batches holding twins of each other's
    # conversions wait for one another in one direction, never crosswise (a deadlock). The order
    # is that of the unique keys alone: twins keep their arrival order (the sort is stable), so
    # the first of them is the one inserted, whichever click each came on.
    click_id = 0 if conversion.action_id else conversion.click_id or 0
    return conversion.offer_id, conversion.goal_id, conversion.action_id, click_id


def _create_or_repeat(judged: list, sources: list[str]) -> tuple[list[PostbackResult], list[ConversionEvent]]:
    """Insert first, look second: a batch's new conversions cost one statement, and the unique
    constraints, not a check-then-insert, decide between twins arriving at the same time, in
    one batch or in two. `judged` holds, per hit, its rejection or its conversion and the status
    it asks for. Answers the hits' results and the creation events that are stored but not yet
    announced to the listeners: a status change is announced at once, after the creations
    before it (it may change a conversion that the batch has just created)."""
    new = [item[0] for item in judged if not isinstance(item, PostbackResult)]
    inserted = {
        id(conversion)
        for conversion in insert_many(sorted(new, key=_lock_order), skip_conflicts_by="conversion_id")
    }
    creations = insert_many(
        [
            _event(conversion, ConversionEvent.Kind.CREATED, None, source)
            for item, source in zip(judged, sources, strict=True)
            if not isinstance(item, PostbackResult) and id(conversion := item[0]) in inserted
        ]
    )
    created_by = {id(event.conversion): event for event in creations}
    results = []
    for item, source in zip(judged, sources, strict=True):
        if isinstance(item, PostbackResult):
            results.append(item)
            continue
        conversion, requested_status = item
        if id(conversion) in created_by:
            results.append(
                PostbackResult(
                    200, "ok", ServerPostback.Outcome.CREATED, conversion, created_by[id(conversion)]
                )
            )
            continue
        lookup = _uniqueness(conversion)
        if lookup is None:  # only the random conversion id can have collided: vanishingly rare
            raise IntegrityError(f"conversion id {conversion.conversion_id} already exists")
        _events_announce(creations)
        creations = []
        try:
            results.append(_repeat(Conversion.objects.get(**lookup), conversion, requested_status, source))
        except PostbackRejected as rejected:
            results.append(_rejection(rejected))
    return results, creations


def _repeat(conversion, repeat: Conversion, requested_status, source) -> PostbackResult:
    """A postback for a conversion that exists (`repeat` is the conversion it would have
    created): a status change, or a harmless replay. Refused when it comes for another click."""
    refusal = foreign_action_id(stored=conversion, repeat=repeat)
    if refusal:
        raise PostbackRejected(409, refusal)
    if requested_status is None or requested_status == conversion.status:
        return PostbackResult(200, "duplicate", ServerPostback.Outcome.DUPLICATE, conversion)
    if requested_status not in ADVERTISER_STATUS_CHANGES.get(conversion.status, set()):
        old, new = ConversionStatus(conversion.status).label, requested_status.label
        raise PostbackRejected(409, f"Status change not allowed: {old} to {new}")
    event = conversion_set_status(conversion=conversion, status=requested_status, source=source)
    if event is None:
        return PostbackResult(200, "duplicate", ServerPostback.Outcome.DUPLICATE, conversion)
    conversion.refresh_from_db()
    return PostbackResult(200, "ok", ServerPostback.Outcome.STATUS_CHANGED, conversion, event)
