"""What a scenario achieved, counted from the database rows and from what the affiliates' servers
received, against what the platform answered.

A postback is identified by (behaviour of the affiliate server, conversion id, status): every
postback URL carries `{conversion_id}` and `{status}`, and each conversion event (a creation or a
status change, each to a different status) fires each of the scenario's postbacks once.
"""

import time
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from django.db import close_old_connections

from conversions.models import Conversion, ConversionEvent
from postbacks.models import Delivery, DeliveryAttempt
from tracking.models import Click


@dataclass
class Tally:
    scenario: str
    requests: int = 0
    refused: int = 0  # answered 4xx
    failed: int = 0  # answered 5xx, or not answered: the client knows it failed
    clicks_answered: int = 0
    clicks_stored: int = 0
    conversions_accepted: int = 0
    conversions_stored: int = 0
    duplicated_conversions: int = 0
    expected: int = 0
    delivered: int = 0
    retrying: int = 0
    duplicated: int = 0
    resent: int = 0
    lost: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what happened, for the reader

    @property
    def settled(self) -> bool:
        """Nothing is missing (yet to arrive, or lost)."""
        return not self.lost


def count(
    scenario,
    traffic,
    offer,
    behaviours: dict[int, str],
    servers,
    *,
    failing=(),
) -> Tally:
    """Tally a scenario. `behaviours` maps the scenario's postbacks (pk) to the server behaviour
    they point at; postbacks to a behaviour in `failing` are expected to be retrying, not delivered."""
    close_old_connections()  # the database may have restarted since the last query
    tally = Tally(scenario)
    _count_clicks(tally, traffic)
    _count_requests(tally, traffic)
    events = _count_conversions(tally, traffic, offer)
    _count_postbacks(tally, events, offer, behaviours, servers.arrivals(f"/{scenario}/"), set(failing))
    return tally


def wait(counting, timeout: float, *, until=lambda result: result.settled, interval: float = 1.0):
    """Tally with `counting()` until `until(tally)` holds or time is up; returns the last tally."""
    deadline = time.monotonic() + timeout
    while True:
        result = counting()
        if until(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def _count_requests(tally, traffic):
    tally.requests = len(traffic.answers)
    tally.refused = sum(1 for answer in traffic.answers if 400 <= answer.status < 500)
    tally.failed = sum(1 for answer in traffic.answers if answer.status == 0 or answer.status >= 500)
    for answer in traffic.answers:
        if 400 <= answer.status < 500:
            tally.problems.append(f"{answer.kind} refused with {answer.status} {answer.message!r}")
            break


def _count_clicks(tally, traffic):
    answered = {
        answer.message for answer in traffic.answers if answer.kind == "click" and answer.status == 302
    }
    stored = set(Click.objects.filter(click_id__in=answered).values_list("click_id", flat=True))
    tally.clicks_answered, tally.clicks_stored = len(answered), len(stored)
    if missing := answered - stored:
        tally.lost += len(missing)
        tally.problems.append(f"{len(missing)} answered clicks not stored, e.g. {min(missing)}")


def _count_conversions(tally, traffic, offer) -> dict:
    """Conversions accepted against conversions stored; returns the conversion events, as
    {conversion id: [statuses in event order]}, those stored and those the platform answered "ok" for."""
    accepted_keys = {key for key, _, _, _ in traffic.accepted}
    accepted_ids = {conversion_id for _, _, _, conversion_id in traffic.accepted}
    stored = list(
        Conversion.objects.filter(offer=offer).values_list("conversion_id", "action_id", "click__click_id")
    )
    stored_ids = {conversion_id for conversion_id, _, _ in stored}
    stored_keys = [action_id or click_id for _, action_id, click_id in stored]
    tally.conversions_accepted, tally.conversions_stored = len(accepted_keys), len(stored)
    # Two conversions for one key, or a conversion for a key the platform never accepted.
    tally.duplicated_conversions = (
        len(stored_keys) - len(set(stored_keys)) + len(set(stored_keys) - accepted_keys)
    )
    if tally.duplicated_conversions:
        tally.problems.append(
            f"{len(stored)} conversions stored for {len(accepted_keys)} distinct keys accepted"
        )
    if missing := accepted_ids - stored_ids:
        tally.lost += len(missing)
        tally.problems.append(f"{len(missing)} accepted conversions not stored, e.g. {min(missing)!r}")

    events = defaultdict(list)
    for conversion_id, status in (
        ConversionEvent.objects.filter(conversion__offer=offer)
        .order_by("pk")
        .values_list("conversion__conversion_id", "new_status")
    ):
        events[conversion_id].append(status)
    answered_ok = {
        (conversion_id, status) for _, status, message, conversion_id in traffic.accepted if message == "ok"
    }
    if missing := {pair for pair in answered_ok if pair[1] not in events.get(pair[0], [])}:
        tally.lost += len(missing)
        tally.problems.append(f"{len(missing)} accepted status changes without their conversion event")
        for conversion_id, status in missing:
            events[conversion_id].append(status)
    return events


def _count_postbacks(tally, events, offer, behaviours, arrivals, failing):
    expected = {
        (behaviour, conversion_id, status)
        for conversion_id, statuses in events.items()
        for status in statuses
        for behaviour in behaviours.values()
    }
    rows = defaultdict(list)
    for delivery_id, postback_id, conversion_id, status, state in Delivery.objects.filter(
        conversion__offer=offer
    ).values_list("delivery_id", "postback_id", "conversion__conversion_id", "event__new_status", "state"):
        rows[(behaviours.get(postback_id), conversion_id, status)].append((str(delivery_id), state))
    received, lost = defaultdict(list), []
    for at, behaviour, target, delivery_id, answered in arrivals:
        query = parse_qs(urlsplit(target).query)
        key = (behaviour, query.get("cid", [""])[0], int(query.get("status", ["0"])[0]))
        received[key].append((at, delivery_id, answered))

    tally.expected = len(expected)
    for key in expected:
        deliveries, requests = rows.get(key, []), received.get(key, [])
        ids = {delivery_id for delivery_id, _ in deliveries} | {delivery_id for _, delivery_id, _ in requests}
        answered_2xx = [delivery_id for _, delivery_id, code in requests if 200 <= code < 300]
        tally.resent += max(0, len(answered_2xx) - 1)
        state = deliveries[0][1] if len(deliveries) == 1 else None
        if len(ids) > 1:
            tally.duplicated += 1
        elif key[0] in failing and state in Delivery.UNFINISHED and not answered_2xx:
            tally.retrying += 1
        elif key[0] not in failing and state == Delivery.State.SUCCEEDED and answered_2xx:
            tally.delivered += 1
        else:
            tally.lost += 1
            lost.append(key)
    if tally.duplicated:
        tally.problems.append(f"{tally.duplicated} postbacks sent with more than one X-Postback-Id")
    if lost:
        tally.problems.append(
            f"{len(lost)} postbacks neither delivered nor scheduled for a retry, e.g. {min(lost)}"
        )
    if unexpected := set(received) - expected:
        tally.problems.append(
            f"{len(unexpected)} postbacks received for no conversion event, e.g. {min(unexpected)}"
        )
    _check_order(tally, events, received)
    if failing:
        _check_attempt_log(tally, offer, behaviours, failing)


def _check_order(tally, events, received):
    """Deliveries of one postback for one conversion arrive in event order: a later event's first
    request comes after the earlier event's successful one."""
    behaviours = {key[0] for key in received}
    out_of_order = 0
    for conversion_id, statuses in events.items():
        for earlier, later in zip(statuses, statuses[1:], strict=False):
            for behaviour in behaviours:
                done = [
                    at
                    for at, _, code in received.get((behaviour, conversion_id, earlier), [])
                    if 200 <= code < 300
                ]
                started = [at for at, _, _ in received.get((behaviour, conversion_id, later), [])]
                if started and (not done or min(started) < min(done)):
                    out_of_order += 1
    if out_of_order:
        tally.problems.append(f"{out_of_order} postbacks arrived before the postback of the previous event")


def _check_attempt_log(tally, offer, behaviours, failing):
    """Each delivery to a failing server logged its failed attempts, with a reason."""
    failing_postbacks = [pk for pk, behaviour in behaviours.items() if behaviour in failing]
    deliveries = Delivery.objects.filter(conversion__offer=offer, postback__in=failing_postbacks)
    unlogged = deliveries.exclude(
        pk__in=DeliveryAttempt.objects.exclude(error="").values("delivery_id")
    ).count()
    succeeded = DeliveryAttempt.objects.filter(
        delivery__in=deliveries, http_code__gte=200, http_code__lt=300
    ).count()
    if unlogged:
        tally.problems.append(f"{unlogged} deliveries to failing servers without a logged failed attempt")
    if succeeded:
        tally.problems.append(f"{succeeded} attempts to failing servers logged as succeeded")
