import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest
from django.test import override_settings

from offers.models import Advertiser, Affiliate, Offer
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=True)
def test_demo_data_builds_a_small_network_and_prints_the_logins(capsys, client):
    call_command("demo_data")
    output = capsys.readouterr().out
    assert "manager / manager-demo-pass" in output and "partner1 / partner1-demo-pass" in output
    assert Offer.objects.count() == 4 and Offer.objects.filter(visibility="private").count() == 1
    assert str(Offer.objects.get(offer_id=4).goal_for().payout_percent) == "8.0000"
    assert all(offer.goals.exists() for offer in Offer.objects.all())
    assert Affiliate.objects.count() == 2
    # Made as a manager's would be: its postbacks need the generated secure code.
    assert not any(offer.takes_postbacks_from_anyone for offer in Offer.objects.all())
    # Login attempts are counted per address, so authenticate() is given a request.
    assert client.login(request=HttpRequest(), username="partner1", password="partner1-demo-pass")
    assert client.login(request=HttpRequest(), username="manager", password="manager-demo-pass")


@override_settings(DEBUG=True)
def test_demo_data_can_run_again_without_duplicating_anything(capsys, django_user_model):
    call_command("demo_data")
    partner = django_user_model.objects.get(username="partner1")
    partner.set_password(PASSWORD)
    partner.save()
    call_command("demo_data")
    assert Offer.objects.count() == 4 and Advertiser.objects.count() == 1 and Affiliate.objects.count() == 2
    partner.refresh_from_db()
    assert partner.check_password("partner1-demo-pass")


def test_demo_data_refuses_to_run_in_production_unless_forced():
    with pytest.raises(CommandError, match="--force"):
        call_command("demo_data")
    assert not Offer.objects.exists()
