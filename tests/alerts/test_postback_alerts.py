"""An affiliate hears of their postbacks' trouble (README, "Alerts"): a postback crossing the
failing threshold gets one email and a portal notice, a second evaluation the same day sends no
second email, a disabled postback and a recovery each get a notice, and at most one email per
postback a day goes out, the latest news once the day is over.

Failures are recorded by the platform's own recording path (tests.alerts.conftest.deliver); the
alerts are evaluated and emailed as beat's task does, at a given time."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from alerts.models import PostbackAlert
from alerts.selectors import notices_for
from alerts.services import alert_emails_send, alerts_evaluate
from alerts.tasks import evaluate_alerts
from offers.services import affiliate_update
from postbacks import queue
from postbacks.models import Postback
from postbacks.services import postback_save
from tests.alerts.conftest import FAILED, SUCCEEDED, deliver
from tests.factories import ConversionFactory, DeliveryFactory, OfferFactory, PostbackFactory

pytestmark = pytest.mark.django_db


def run(now=None) -> int:
    """Beat's task at `now`: evaluate, then send the emails due; how many were sent."""
    now = now or timezone.now()
    alerts_evaluate(now=now)
    return alert_emails_send(now=now)


def alert_of(postback) -> PostbackAlert:
    return PostbackAlert.objects.get(postback=postback)


def test_five_failures_in_a_row_send_one_email_and_show_a_notice(affiliate, mailbox):
    offer = OfferFactory(title="Fitness App")
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    deliver(postback, FAILED, times=5)

    assert run() == 1

    [email] = mailbox
    assert email.to == [affiliate.user.email]
    assert email.subject == f"Your postback is failing: offer {offer.offer_id} Fitness App"
    assert "The last 5 deliveries failed." in email.body
    assert f"{settings.PORTAL_BASE_URL}/offers/{offer.offer_id}/postbacks/{postback.pk}/" in email.body
    [notice] = notices_for(affiliate, now=timezone.now())
    assert (notice.postback, notice.state) == (postback, PostbackAlert.State.FAILING)


def test_four_failures_are_no_news(affiliate, mailbox):
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=4)

    assert run() == 0
    assert mailbox == []
    assert notices_for(affiliate, now=timezone.now()) == []


def test_under_half_succeeding_over_the_hour_is_failing(affiliate, mailbox):
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, SUCCEEDED, times=2)
    deliver(postback, FAILED, times=2)
    deliver(postback, SUCCEEDED)
    deliver(postback, FAILED, times=2)  # 3 of 7 succeeded, the last one failed

    run()

    assert alert_of(postback).why == "Only 3 of 7 deliveries in the last hour succeeded."
    assert len(mailbox) == 1


def test_a_second_evaluation_the_same_day_sends_no_second_email(affiliate, mailbox):
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)
    run()
    deliver(postback, FAILED, times=5)

    assert run() == 0
    assert run(timezone.now() + timedelta(hours=3)) == 0
    assert len(mailbox) == 1


def test_a_disabled_postback_shows_a_notice_and_its_email_waits_for_the_day(affiliate, mailbox):
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)
    run()
    # Failing for days: the next failure disables it (postbacks.queue).
    Postback.objects.filter(pk=postback.pk).update(
        failing_since=timezone.now() - timedelta(days=settings.POSTBACK_DISABLE_AFTER_DAYS, minutes=1)
    )
    deliver(postback, FAILED)
    postback.refresh_from_db()
    assert not postback.enabled

    assert run() == 0  # the day's email was the failing one
    [notice] = notices_for(affiliate, now=timezone.now())
    assert notice.state == PostbackAlert.State.DISABLED

    assert run(timezone.now() + timedelta(days=1, minutes=1)) == 1
    assert mailbox[-1].subject == "Your postback was disabled: global postback"
    assert "Disabled on" in mailbox[-1].body


def test_the_disabled_email_says_since_when_why_and_how_to_enable_it_again(affiliate, mailbox):
    offer = OfferFactory(title="Fitness App")
    postback = PostbackFactory(
        affiliate=affiliate, offer=offer, url="https://track.example.com/pb?c={click_id}"
    )
    deliver(postback, FAILED)
    Postback.objects.filter(pk=postback.pk).update(
        failing_since=timezone.now() - timedelta(days=settings.POSTBACK_DISABLE_AFTER_DAYS, minutes=1)
    )
    deliver(postback, FAILED)
    postback.refresh_from_db()
    disabled_at = postback.disabled_reason.split(" UTC")[0].removeprefix("Disabled on ")
    days = settings.POSTBACK_DISABLE_AFTER_DAYS

    assert run() == 1

    [email] = mailbox
    postback_url = f"{settings.PORTAL_BASE_URL}/offers/{offer.offer_id}/postbacks/{postback.pk}/"
    assert email.body.split("\n\n")[1:5] == [
        f"your postback for offer {offer.offer_id} (Fitness App) was disabled: no conversion reaches it "
        "until you enable it again.\n"
        f"Disabled on {disabled_at} UTC: every delivery failed for {days} days.",
        "The last failure: Connection refused.\n"
        "Is your server running and listening on port 443? Nothing accepted the connection at "
        "203.0.113.7:443; a firewall may also refuse it.\n"
        f"The error as recorded: {FAILED.error}",
        "What to do: fix your server or the postback URL, then enable the postback again: open it in "
        'the portal, tick "Enabled" and save.\n' + postback_url,
        f"Postback URL: {postback.url}",
    ]
    assert "Last error:" not in email.body  # the stored reason is not pasted as it is


def test_a_disabling_reason_of_another_form_is_emailed_as_written(affiliate, mailbox):
    PostbackFactory(affiliate=affiliate, enabled=False, disabled_reason="Disabled by the network.")

    assert run() == 1

    assert "enable it again.\nDisabled by the network.\n\nWhat to do: " in mailbox[0].body


def test_a_recovery_clears_the_trouble_and_is_emailed_once_the_day_is_over(affiliate, mailbox):
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)
    failed_at = timezone.now()
    run(failed_at)
    deliver(postback, SUCCEEDED)

    run(failed_at + timedelta(minutes=5))

    [notice] = notices_for(affiliate, now=failed_at + timedelta(minutes=5))
    assert (notice.state, notice.previous_state) == (PostbackAlert.State.OK, PostbackAlert.State.FAILING)
    assert len(mailbox) == 1
    assert run(failed_at + timedelta(days=1)) == 1
    assert mailbox[-1].subject == "Your postback is working again: global postback"
    # The recovery's notice ends a day after it.
    assert notices_for(affiliate, now=failed_at + timedelta(days=1, minutes=6)) == []


def test_trouble_over_before_the_day_is_no_news_the_next_day(affiliate, mailbox):
    """Failing, emailed; recovered; failing again: the affiliate was told it is failing, and it is."""
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)
    first = timezone.now()
    run(first)
    deliver(postback, SUCCEEDED)
    run(first + timedelta(minutes=1))
    deliver(postback, FAILED, times=5)
    run(first + timedelta(minutes=2))

    assert run(first + timedelta(days=2)) == 0
    assert len(mailbox) == 1
    assert not alert_of(postback).email_due


def test_a_recovery_of_a_postback_never_emailed_about_sends_nothing(affiliate, mailbox):
    affiliate_update(affiliate=affiliate, alert_emails=False)
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)
    run()
    affiliate_update(affiliate=affiliate, alert_emails=True)
    deliver(postback, SUCCEEDED)

    assert run(timezone.now() + timedelta(days=2)) == 0
    assert mailbox == []


def test_with_emails_off_the_notice_shows_but_no_email_goes(affiliate, mailbox):
    affiliate_update(affiliate=affiliate, alert_emails=False)
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)

    assert run() == 0
    assert mailbox == []
    assert [notice.postback for notice in notices_for(affiliate, now=timezone.now())] == [postback]
    assert not alert_of(postback).email_due  # nothing kept to send when emails come back on


def test_an_affiliate_without_an_email_address_gets_the_notice(affiliate, mailbox):
    affiliate.user.email = ""
    affiliate.user.save()
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)

    assert run() == 0
    assert len(notices_for(affiliate, now=timezone.now())) == 1


def test_a_postback_turned_off_by_its_affiliate_closes_its_alert_quietly(affiliate, mailbox):
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)
    run()
    postback.enabled = False
    postback_save(postback)

    run(timezone.now() + timedelta(days=2))

    assert alert_of(postback).state == PostbackAlert.State.OK
    assert notices_for(affiliate, now=timezone.now()) == []
    assert len(mailbox) == 1


def test_enabling_a_disabled_postback_again_reads_as_enabled_again(affiliate, mailbox):
    postback = PostbackFactory(affiliate=affiliate, enabled=False, disabled_reason="Disabled on ...")
    run()
    assert alert_of(postback).state == PostbackAlert.State.DISABLED
    postback.enabled = True
    postback_save(postback)

    run()

    alert = alert_of(postback)
    assert (alert.state, alert.previous_state) == (PostbackAlert.State.OK, PostbackAlert.State.DISABLED)


def test_test_conversions_do_not_count(affiliate, mailbox):
    """A manager's test of a dead endpoint neither starts a streak nor counts in one."""
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=4)
    delivery = DeliveryFactory(
        affiliate=affiliate,
        postback=postback,
        conversion=ConversionFactory(affiliate=affiliate, is_test=True),
    )
    [row] = queue.claim([delivery.pk])
    queue.record([(row, timezone.now().timestamp(), FAILED)])

    assert run() == 0


def test_a_run_while_another_is_still_running_does_nothing(affiliate, mailbox):
    """Beat starts a run a minute; one still sending (a slow mail server) is not overlapped where
    the cache is shared: its work is not done twice (emails never go twice anyway:
    tests/alerts/test_overlapping_runs.py)."""
    postback = PostbackFactory(affiliate=affiliate)
    deliver(postback, FAILED, times=5)
    cache.add("alerts:evaluating", 1, timeout=60)

    evaluate_alerts()
    assert not PostbackAlert.objects.exists()

    cache.delete("alerts:evaluating")
    evaluate_alerts()
    assert len(mailbox) == 1
