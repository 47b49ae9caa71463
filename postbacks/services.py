"""Affiliate postbacks: saving them, turning conversion events into deliveries, retrying
deliveries by hand, and sending test postbacks.

Deliveries are created by `deliveries_create_for_events`, which conversions.events calls for
every conversion event inside the transaction that writes the event (see apps.py): a delivery
row exists exactly when its event does. The broker message that follows the commit only wakes a
sender; beat wakes one every few seconds too, so a lost message delays a delivery, no more.
"""

import logging
import time
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from conversions.lifecycle import conversion_create_test
from conversions.models import ConversionEvent
from offers.access import offers_runnable_by
from postbacks import backfill, firing, macros, queue, sender
from postbacks.models import Delivery, Postback
from postbacks.selectors import deliveries_replayable
from tracking.models import new_click_id

logger = logging.getLogger(__name__)


def postback_save(postback: Postback) -> list[str]:
    """Validate and save a postback; returns the unknown macro names to warn about.

    Re-enabling a postback clears the reason it was disabled for.
    """
    if postback.enabled:
        postback.disabled_reason = ""
        postback.failing_since = None
    postback.full_clean()
    postback.save()
    return macros.unknown(postback.url)


def postback_delete(postback: Postback) -> None:
    """Delete a postback. Its deliveries stay in the log, without it: they happened."""
    postback.delete()


def deliveries_create_for_events(events: list[ConversionEvent]) -> list[Delivery]:
    """The conversion listener: a delivery for every postback that fires for each of `events`."""
    # A test conversion reaches only the postback under test.
    events = [event for event in events if not event.conversion.is_test]
    if not events:
        return []
    deliveries = []
    for event, postbacks in zip(events, firing.postbacks_for(events), strict=True):
        if postbacks:
            values = _macro_values(event, postbacks[0].affiliate)
            deliveries += [_new_delivery(postback, event.conversion, event, values) for postback in postbacks]
    if not deliveries:
        return []
    Delivery.objects.bulk_create(deliveries)
    _wake_senders_after_commit()
    return deliveries


def _macro_values(event: ConversionEvent, affiliate) -> dict:
    conversion = event.conversion
    conversion.affiliate = affiliate  # loaded with the postbacks
    return macros.values_for(conversion, event.new_status)


def _new_delivery(postback, conversion, event, values, *, is_backfill: bool = False) -> Delivery:
    url = macros.render(postback.url, values)
    return Delivery(
        is_backfill=is_backfill,
        affiliate_id=conversion.affiliate_id,
        postback=postback,
        conversion=conversion,
        event=event,
        method=postback.method,
        url=url,
        host=_host_of(url),
        body=macros.form_body(values) if postback.method == Postback.Method.POST else "",
        next_attempt_at=timezone.now(),
    )


def _host_of(url: str) -> str:
    """ "host:port", by which the sender sets aside an endpoint that stops answering. A URL too
    broken to read (stored before today's checks) still gets its delivery, which fails at
    sending with the reason, rather than failing the conversion event that made it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url.split("/", 3)[2][:255] if url.count("/") >= 2 else ""
    return (f"{parts.hostname}:{port}" if port else parts.hostname or "")[:255]


def _wake_senders_after_commit(*, live: bool = True, backfill: bool = False) -> None:
    """One wake-up per transaction and kind of sender, however many deliveries it creates: the
    live senders for live deliveries, the backfill's sender (postbacks.sender) for backfill ones."""
    connection = transaction.get_connection()
    for wanted, wake in ((live, wake_senders), (backfill, wake_backfill_sender)):
        if wanted and not any(callback is wake for _, callback, _ in connection.run_on_commit):
            transaction.on_commit(wake)


# After a failed wake-up the broker is left alone for this long: publishing to a broker that is
# down takes seconds (the client's connection retries), which every conversion would wait for.
BROKER_DOWN_SECONDS = 10.0
_broker_down_until: dict[str, float] = {}


def wake_senders() -> None:
    """Have a live sender take the due deliveries."""
    from postbacks.tasks import send_deliveries

    _publish(send_deliveries)


# A backfill's wake-up is dropped unread after this long: while the backfill worker makes a
# backfill it takes no message (the task wakes its sender itself), and a minute of them is enough
# to find what a Retry or a replay made due once it is free.
BACKFILL_WAKE_EXPIRES = 60


def wake_backfill_sender() -> None:
    """Have the backfill's sender take the due backfill deliveries."""
    from postbacks.tasks import send_backfill_deliveries

    _publish(send_backfill_deliveries, expires=BACKFILL_WAKE_EXPIRES)


def _publish(task, **options) -> None:
    broker = task.app.conf.broker_url
    if time.monotonic() < _broker_down_until.get(broker, 0.0):
        return  # the sweep sends the deliveries once the broker is back
    try:
        task.apply_async(retry=False, **options)
    except Exception:  # the broker is down: beat wakes a sender once it is back
        _broker_down_until[broker] = time.monotonic() + BROKER_DOWN_SECONDS
        logger.warning("Could not wake a postback sender; deliveries go out at the next sweep", exc_info=True)


ALREADY_DELIVERED = "This postback was already delivered: sending it again would send a duplicate."


def delivery_retry(delivery: Delivery) -> Delivery:
    """Send a delivery again now, with the same X-Postback-Id, unless it succeeded: the receiving
    server has it already, and every caller (the portal's Retry, the API, the admin's "Retry
    now") may act on a page or a list read before it succeeded. A refusal the delivery's state
    causes, rather than the request, has the code "conflict" (the API answers it with a 409)."""
    if delivery.postback_id is None:
        raise ValidationError("The postback of this delivery was deleted, so it cannot be sent again.")
    if delivery.state == Delivery.State.SUCCEEDED:
        raise ValidationError(ALREADY_DELIVERED, code="conflict")
    with transaction.atomic():
        taken = _send_again(Delivery.objects.filter(pk=delivery.pk))
        if not taken:
            if Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SUCCEEDED).exists():
                raise ValidationError(ALREADY_DELIVERED, code="conflict")
            raise ValidationError(
                "This delivery is being sent right now; its result will show in a moment.", code="conflict"
            )
        _wake_senders_after_commit(live=not delivery.is_backfill, backfill=delivery.is_backfill)
    delivery.refresh_from_db()
    return delivery


def _send_again(deliveries) -> int:
    """Make `deliveries` due now, each keeping its X-Postback-Id; returns how many. A delivery a
    sender holds is being sent right now: sending it again at the same time would only
    duplicate it. The state is checked in the update itself: a delivery may have succeeded
    since it was read."""
    now = timezone.now()
    return (
        deliveries.exclude(locked_until__gt=now)
        .exclude(state=Delivery.State.SUCCEEDED)
        .update(
            state=Case(
                When(attempts=0, then=Value(Delivery.State.PENDING)), default=Value(Delivery.State.RETRYING)
            ),
            next_attempt_at=now,
        )
    )


# --- Bulk replay of failed deliveries -----------------------------------------------------

# The most failed deliveries one request sends again; more are refused, with the count.
REPLAY_MAX = 10_000
REPLAY_BATCH = 1000


def deliveries_replay_failed(deliveries) -> int:
    """Send again every failed delivery of `deliveries` whose postback is still there (see
    postbacks.selectors.deliveries_replayable), as `delivery_retry` does for one: the same
    X-Postback-Id, since the endpoint never acknowledged it and may de-duplicate on it.
    Returns how many; refuses more than REPLAY_MAX at once, sending none."""
    ids = list(
        deliveries_replayable(deliveries).order_by("pk").values_list("pk", flat=True)[: REPLAY_MAX + 1]
    )
    if len(ids) > REPLAY_MAX:
        raise ValidationError(
            f"More than {REPLAY_MAX:,} failed deliveries match: narrow the filter "
            f"(offer, period, HTTP code) to send at most {REPLAY_MAX:,} at once. Nothing was sent."
        )
    sent = 0
    # Short transactions: a sender recording results never waits long for these rows.
    for start in range(0, len(ids), REPLAY_BATCH):
        with transaction.atomic():
            sent += _send_again(
                Delivery.objects.filter(pk__in=ids[start : start + REPLAY_BATCH], state=Delivery.State.FAILED)
            )
            _wake_senders_after_commit(live=True, backfill=True)
    return sent


# --- Backfill -------------------------------------------------------------------------------


def postback_backfill(*, postback: Postback, period: backfill.Period) -> int:
    """Queue a backfill of `postback` over `period` (postbacks.backfill says which conversions)
    and return how many deliveries it makes. They are made after the answer, BATCH at a time
    (`postback_backfill_run`, in a worker), and sent only when no live delivery is due."""
    if problem := backfill.period_problem(period):
        raise ValidationError({"date_to": problem})
    if not postback.enabled:
        raise ValidationError("This postback is disabled: enable it before sending it for past conversions.")
    count = backfill.backfill_count(postback, period)
    if problem := backfill.count_problem(count):
        raise ValidationError(problem)
    if count:
        from postbacks.tasks import backfill_postback

        arguments = (postback.pk, period.date_from.isoformat(), period.date_to.isoformat())
        transaction.on_commit(lambda: backfill_postback.delay(*arguments))
    return count


def postback_backfill_run(*, postback_id: int, period: backfill.Period, made_some=lambda: None) -> int:
    """Make the deliveries of a backfill, backfill.BATCH conversions per transaction, resting
    between them (backfill.rest_after_batch); returns how many. Each transaction holds the
    postback's row, so two backfills of one postback at once take turns, and the second finds
    the first's deliveries and skips them. A postback deleted or disabled meanwhile stops the
    backfill. `made_some` is called once each transaction that made deliveries commits: the task
    wakes its process's backfill sender with it (postbacks.tasks); otherwise beat's sweep finds
    them."""
    postback = Postback.objects.select_related("affiliate").filter(pk=postback_id).first()
    if postback is None:
        return 0
    rule, after, made = backfill.Rule(postback), 0, 0
    while True:
        started = time.monotonic()
        with transaction.atomic():
            # No key update: the live writer's foreign-key checks on the postback do not wait for it.
            locked = Postback.objects.select_for_update(no_key=True).filter(pk=postback_id, enabled=True)
            if not locked.exists():
                return made
            events, after = backfill.backfill_batch(postback, period, rule=rule, after=after)
            if after is None:
                return made
            deliveries = [
                _new_delivery(
                    postback,
                    event.conversion,
                    event,
                    _macro_values(event, postback.affiliate),
                    is_backfill=True,
                )
                for event in events
            ]
            if deliveries:
                Delivery.objects.bulk_create(deliveries)
                transaction.on_commit(made_some)
        made += len(deliveries)
        time.sleep(backfill.rest_after_batch(time.monotonic() - started, len(deliveries)))


# --- Test postbacks ---------------------------------------------------------------------


def postback_send_test(postback: Postback) -> Delivery:
    """Send a test conversion with sample values to this one postback, now, through the real
    delivery path (same rendering, safety checks, headers and attempt log), and return the
    delivery with its result. A failed test is not retried."""
    offer = postback.offer or offers_runnable_by(postback.affiliate).order_by("offer_id").first()
    if offer is None:
        raise ValidationError("There is no offer you can run to send a test conversion for.")
    goal = postback.goal or offer.goal_for()
    event = conversion_create_test(
        offer=offer,
        affiliate=postback.affiliate,
        goal=goal,
        status=_test_status(postback, goal),
        integration_method=postback.integration_method,
    )
    # The test conversion has no click: a click id and a visitor are made up for it.
    values = macros.values_for(event.conversion, event.new_status) | {
        "clickid": new_click_id(),
        **macros.SAMPLE_VISITOR,
        "device_type": macros.SAMPLE_VISITOR["click_device_type"],
    }
    return postback_send_one(postback=postback, event=event, values=values)


def postback_send_one(*, postback: Postback, event: ConversionEvent, values: dict | None = None) -> Delivery:
    """Deliver a conversion event to this one postback, now, from the calling thread, and return
    the delivery with its result (test postbacks and the integration test wizard)."""
    conversion = event.conversion
    if values is None:
        values = macros.values_for(conversion, event.new_status)
    with transaction.atomic():
        delivery = _new_delivery(postback, conversion, event, values)
        delivery.save()
        # Taken by this request before it is committed, so no worker sends it meanwhile.
        claimed = queue.claim([delivery.pk])
    sender.send_claimed(claimed)
    delivery.refresh_from_db()
    return delivery


def _test_status(postback: Postback, goal) -> int:
    """A status the postback's filter lets through."""
    return firing.STATUS_FILTERS.get(postback.status, goal.default_status)
