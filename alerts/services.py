"""Writes for alerts: evaluating the rules (alerts.rules) into each postback's and advertiser's
alert, sending the emails due, and dismissing a portal notice.

Run by beat (alerts.tasks), never in the path that records a delivery: a slow or failing mail
server delays an email, never a postback. An email that cannot be sent is logged and tried again
at the next run; nothing here raises it.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from alerts.models import AdvertiserAlert, PostbackAlert
from alerts.rules import advertiser_condition, postback_condition
from alerts.selectors import advertiser_hits, postback_measures, postbacks_to_evaluate
from offers.models import Affiliate
from postbacks.explanations import explain_disabled

logger = logging.getLogger(__name__)

# At most one email per postback in this time, whatever it says (trouble or recovery).
EMAIL_INTERVAL = timedelta(days=1)
EVALUATE_BATCH = 1000


def alerts_evaluate(*, now: datetime) -> None:
    postbacks_evaluate(now=now)
    advertisers_evaluate(now=now)


def postbacks_evaluate(*, now: datetime) -> None:
    """Decide each candidate postback's alert state; a change shows its notice again and makes
    an email due (unless it is no news: a postback its affiliate turned off)."""
    candidates = postbacks_to_evaluate().select_related("alert").order_by("pk")
    last_pk = 0
    while batch := list(candidates.filter(pk__gt=last_pk)[:EVALUATE_BATCH]):
        last_pk = batch[-1].pk
        measures = postback_measures(batch, now=now)
        for postback in batch:
            alert = getattr(postback, "alert", None)
            current = alert.state if alert else PostbackAlert.State.OK
            condition = postback_condition(measures[postback.pk], current=current)
            if condition.state == current:
                continue
            changes = {
                "previous_state": current,
                "state": condition.state,
                "why": condition.why[:255],
                "since": now,
                "notice_shown": condition.announce,
                "email_due": condition.announce,
            }
            if alert is None:
                PostbackAlert.objects.create(postback=postback, **changes)
            else:
                # Only these: what was emailed is the sender's to write.
                PostbackAlert.objects.filter(pk=alert.pk).update(**changes)


def advertisers_evaluate(*, now: datetime) -> None:
    """Open the alert of each advertiser whose postbacks are refused at a high rate, close the
    others'."""
    hits = advertiser_hits(now=now)
    alerts = {alert.advertiser_id: alert for alert in AdvertiserAlert.objects.all()}
    for advertiser_id in set(hits) | {pk for pk, alert in alerts.items() if alert.state != alert.State.OK}:
        measured, refused = hits.get(advertiser_id, (0, 0))
        condition = advertiser_condition(hits=measured, refused=refused)
        alert = alerts.get(advertiser_id) or AdvertiserAlert(advertiser_id=advertiser_id, since=now)
        if alert.pk is None and condition.state == AdvertiserAlert.State.OK:
            continue  # nothing to remember of an advertiser that never was in trouble
        if condition.state != alert.state:
            alert.state, alert.since, alert.email_due = condition.state, now, True
        if condition.why:
            alert.why = condition.why
        alert.hits, alert.refused, alert.measured_at = measured, refused, now
        alert.save()


def alert_emails_send(*, now: datetime) -> int:
    """Send the news that is due, at most one email per postback (to its affiliate) or advertiser
    (to ALERT_MANAGER_EMAILS) per EMAIL_INTERVAL; returns how many were sent. Nothing is emailed
    about a change that is no news any more (back to the state last emailed, or a recovery from
    trouble never emailed), nor to an affiliate who turned alert emails off or has no address.

    Each email is decided, marked sent and sent in one transaction that holds its alert's row
    (`select_for_update(skip_locked=True)`): a run that finds the row held leaves that email to
    the run holding it, and one that comes after reads it sent. So two runs at once (beat's guard
    in alerts.tasks is only as shared as the cache) never send an email twice. An email whose
    sending raises rolls its mark back and stays due.
    """
    due = [
        (model, pk)
        for model in (PostbackAlert, AdvertiserAlert)
        for pk in model.objects.filter(email_due=True).order_by("pk").values_list("pk", flat=True)
    ]
    connection = _LazyConnection()
    sent = 0
    try:
        for position, (model, pk) in enumerate(due):
            try:
                sent += _alert_email_send(model, pk, now=now, connection=connection)
            except _MailServerUnreachable:
                logger.exception(
                    "Alerts: the mail server could not be reached; %d alerts still have an email due",
                    len(due) - position,
                )
                break
    finally:
        connection.close()
    return sent


def _alert_email_send(model, pk: int, *, now: datetime, connection: "_LazyConnection") -> bool:
    email = EMAILS[model]
    with transaction.atomic():
        alert = (
            model.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related(*email.related)
            .filter(pk=pk, email_due=True)
            .first()
        )
        if alert is None:
            return False  # sent meanwhile, or being sent by another run
        no_news = alert.state == (alert.emailed_state or alert.State.OK)
        if no_news or not email.wanted(alert):
            model.objects.filter(pk=pk).update(email_due=False)
            return False
        if alert.emailed_at is not None and alert.emailed_at > now - EMAIL_INTERVAL:
            return False  # the day's email went: this one waits for the day to end
        opened = connection.opened()
        # Marked before it is sent, so that a mark that fails sends nothing; the row stays held
        # until both are done.
        model.objects.filter(pk=pk).update(email_due=False, emailed_state=alert.state, emailed_at=now)
        try:
            email.make(alert, connection=opened).send()
        except Exception:
            logger.exception("Alerts: the email about %s could not be sent", alert)
            transaction.set_rollback(True)  # the mark with it: the email stays due
            return False
    return True


class _MailServerUnreachable(Exception):
    pass


class _LazyConnection:
    """One connection to the mail server for a run, opened for its first email: a run with
    nothing to send never calls the server."""

    def __init__(self):
        self._connection = None

    def opened(self):
        if self._connection is None:
            connection = mail.get_connection()
            try:
                connection.open()
            except Exception as error:
                raise _MailServerUnreachable from error
            self._connection = connection
        return self._connection

    def close(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.close()
        except Exception:
            logger.exception("Alerts: closing the mail connection failed")


def _advertiser_email(alert: AdvertiserAlert, *, connection) -> mail.EmailMessage:
    refused = alert.state == AdvertiserAlert.State.REFUSED
    subject = "Advertiser postbacks refused" if refused else "Advertiser postbacks accepted again"
    context = {
        "alert": alert,
        "work_queue_url": settings.PORTAL_BASE_URL + reverse("admin-work-queue") + "#advertiser-alerts",
    }
    return mail.EmailMessage(
        subject=f"{subject}: {alert.advertiser.name}"[:200],
        body=render_to_string("alerts/email/advertiser.txt", context),
        to=settings.ALERT_MANAGER_EMAILS,
        connection=connection,
    )


SUBJECTS = {
    PostbackAlert.State.FAILING: "Your postback is failing",
    PostbackAlert.State.DISABLED: "Your postback was disabled",
    PostbackAlert.State.OK: "Your postback is working again",
}


def _postback_email(alert: PostbackAlert, *, connection) -> mail.EmailMessage:
    postback = alert.postback
    context = {
        "alert": alert,
        "postback": postback,
        "affiliate": postback.affiliate,
        "disable_after_days": settings.POSTBACK_DISABLE_AFTER_DAYS,
    }
    if alert.state == PostbackAlert.State.DISABLED:
        # The reason as recorded (postbacks.queue) is read back in words, its last error explained
        # as every page of the portal explains it.
        context["disabled"] = explain_disabled(alert.why, url=postback.url)
    # An email is read away from the portal: its links name the portal's address in full.
    context["postback_url"] = settings.PORTAL_BASE_URL + postback_path(postback)
    context["log_url"] = settings.PORTAL_BASE_URL + reverse("postbacks:log")
    context["settings_url"] = settings.PORTAL_BASE_URL + reverse("alerts:settings")
    return mail.EmailMessage(
        subject=f"{SUBJECTS[alert.state]}: {postback_where(postback)}",
        body=render_to_string("alerts/email/postback.txt", context),
        to=[postback.affiliate.user.email],
        connection=connection,
    )


@dataclass(frozen=True)
class _AlertEmail:
    related: tuple[str, ...]  # what the email reads besides the alert, fetched with it
    wanted: Callable[[PostbackAlert | AdvertiserAlert], bool]  # False: nobody to tell
    make: Callable[..., mail.EmailMessage]


def _affiliate_wants_email(alert: PostbackAlert) -> bool:
    affiliate: Affiliate = alert.postback.affiliate
    return affiliate.alert_emails and bool(affiliate.user.email)


def _managers_named(alert: AdvertiserAlert) -> bool:
    return bool(settings.ALERT_MANAGER_EMAILS)


EMAILS = {
    PostbackAlert: _AlertEmail(
        ("postback__affiliate__user", "postback__offer"), _affiliate_wants_email, _postback_email
    ),
    AdvertiserAlert: _AlertEmail(("advertiser",), _managers_named, _advertiser_email),
}


def postback_where(postback) -> str:
    """A postback named in a sentence: its offer, or "global"."""
    if postback.offer_id is None:
        return "global postback"
    return f"offer {postback.offer.offer_id} {postback.offer.title}"[:120]


def postback_path(postback) -> str:
    if postback.offer_id is None:
        return reverse("postbacks:global-edit", kwargs={"pk": postback.pk})
    return reverse("postbacks:offer-edit", kwargs={"offer_id": postback.offer.offer_id, "pk": postback.pk})


@transaction.atomic
def notice_dismiss(*, affiliate: Affiliate, alert_id: int) -> bool:
    """Hide the notice of one of the affiliate's postback alerts until its next change; False
    when it is not theirs (or gone)."""
    return bool(
        PostbackAlert.objects.filter(pk=alert_id, postback__affiliate=affiliate).update(notice_shown=False)
    )
