"""Managers see the network's alerts in the work queue (`/admin/work/`): an advertiser whose
postbacks are refused at a high rate (alerts.rules: at least 20 in the last hour, half or more
refused), and, beside each affiliate postback in trouble, whether it crossed the alert threshold
and what its affiliate was told."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import AdvertiserAlert
from alerts.rules import MIN_ADVERTISER_HITS
from alerts.services import alert_emails_send, alerts_evaluate
from conversions.models import ServerPostback
from offers.services import affiliate_update
from tests.alerts.conftest import FAILED, deliver
from tests.factories import AdvertiserFactory, OfferFactory, PostbackFactory, ServerPostbackFactory

pytestmark = pytest.mark.django_db

QUEUE = "/admin/work/"
REFUSED = ServerPostback.Outcome.REJECTED


@pytest.fixture
def staff(client, manager):
    client.force_login(manager)
    return client


def advertiser_postbacks(offer, *, refused: int, accepted: int = 0, received_at=None) -> None:
    for _ in range(refused):
        ServerPostbackFactory(
            offer=offer, outcome=REFUSED, http_status=403, message="Access denied", received_at=received_at
        )
    for _ in range(accepted):
        ServerPostbackFactory(offer=offer, conversion__offer=offer, received_at=received_at)


def alerts_section(staff) -> str:
    html = staff.get(QUEUE).content.decode()
    return html[html.index('id="advertiser-alerts"') :]


def test_an_advertiser_whose_postbacks_are_mostly_refused_is_in_the_work_queue(staff):
    broken = OfferFactory(advertiser=AdvertiserFactory(name="Broken Integration Ltd"))
    healthy = OfferFactory(advertiser=AdvertiserFactory(name="Healthy Ltd"))
    advertiser_postbacks(broken, refused=15, accepted=5)
    advertiser_postbacks(healthy, refused=5, accepted=15)

    alerts_evaluate(now=timezone.now())

    section = alerts_section(staff)
    assert "Advertiser alerts: postbacks refused at a high rate (1)" in section
    assert "Broken Integration Ltd" in section and "15 of 20" in section
    assert "Healthy Ltd" not in section


def test_too_few_advertiser_postbacks_say_nothing(staff):
    advertiser_postbacks(OfferFactory(), refused=MIN_ADVERTISER_HITS - 1)

    alerts_evaluate(now=timezone.now())

    assert 'id="advertiser-alerts-empty"' in alerts_section(staff)


def test_the_advertiser_alert_closes_when_the_last_hour_is_healthy(staff):
    offer = OfferFactory()
    advertiser_postbacks(offer, refused=30, received_at=timezone.now() - timedelta(minutes=50))
    alerts_evaluate(now=timezone.now())
    assert AdvertiserAlert.objects.get(advertiser=offer.advertiser).state == AdvertiserAlert.State.REFUSED

    alerts_evaluate(now=timezone.now() + timedelta(minutes=11))

    assert AdvertiserAlert.objects.get(advertiser=offer.advertiser).state == AdvertiserAlert.State.OK
    assert 'id="advertiser-alerts-empty"' in alerts_section(staff)


def test_a_refused_postback_without_an_offer_names_no_advertiser(staff):
    for _ in range(MIN_ADVERTISER_HITS * 2):
        ServerPostbackFactory(outcome=REFUSED, message="Click not found", conversion=None)

    alerts_evaluate(now=timezone.now())

    assert not AdvertiserAlert.objects.exists()


def test_a_troubled_postback_shows_its_alert_and_what_the_affiliate_was_told(staff, affiliate, mailbox):
    emailed = PostbackFactory(affiliate=affiliate, url="http://emailed.example/pb")
    below = PostbackFactory(affiliate=affiliate, url="http://below.example/pb")
    quiet = PostbackFactory(url="http://quiet.example/pb")
    affiliate_update(affiliate=quiet.affiliate, alert_emails=False)
    deliver(emailed, FAILED, times=5)
    deliver(below, FAILED, times=2)
    deliver(quiet, FAILED, times=5)
    now = timezone.now()
    alerts_evaluate(now=now)
    alert_emails_send(now=now)

    html = staff.get(QUEUE).content.decode()

    rows = {
        host: html[html.index(f">{host}<") :].split("</tr>")[0]
        for host in ["emailed.example", "below.example", "quiet.example"]
    }
    assert "The last 5 deliveries failed." in rows["emailed.example"]
    assert "Affiliate emailed" in rows["emailed.example"]
    assert "Below the alert threshold" in rows["below.example"]
    assert "Affiliate turned alert emails off" in rows["quiet.example"]


def test_managers_listed_in_the_settings_are_emailed_once_a_day(settings, mailbox):
    settings.ALERT_MANAGER_EMAILS = ["ops@example-network.com", "lead@example-network.com"]
    offer = OfferFactory(advertiser=AdvertiserFactory(name="Broken Integration Ltd"))
    advertiser_postbacks(offer, refused=30, received_at=timezone.now() - timedelta(minutes=50))
    now = timezone.now()
    alerts_evaluate(now=now)

    assert alert_emails_send(now=now) == 1
    [email] = mailbox
    assert email.to == settings.ALERT_MANAGER_EMAILS
    assert email.subject == "Advertiser postbacks refused: Broken Integration Ltd"
    assert "30 of 30 advertiser postbacks in the last hour were refused." in email.body
    assert "/admin/work/#advertiser-alerts" in email.body

    later = now + timedelta(minutes=11)  # the refusals are out of the hour: accepted again
    alerts_evaluate(now=later)
    assert alert_emails_send(now=later) == 0
    assert alert_emails_send(now=now + timedelta(days=1)) == 1
    assert mailbox[-1].subject == "Advertiser postbacks accepted again: Broken Integration Ltd"


def test_without_manager_addresses_no_email_goes(settings, mailbox):
    settings.ALERT_MANAGER_EMAILS = []
    advertiser_postbacks(OfferFactory(), refused=30)
    now = timezone.now()
    alerts_evaluate(now=now)

    assert alert_emails_send(now=now) == 0
    assert mailbox == []
    assert AdvertiserAlert.objects.get().email_due is False
