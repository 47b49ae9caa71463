"""A test conversion: the sample values it is made of, its creation event, and the listeners that
leave it out (affiliate postbacks, statistics)."""

from decimal import Decimal

import pytest

from conversions.lifecycle import TEST_IP, conversion_create_test
from conversions.models import ConversionEvent
from offers.choices import ConversionStatus
from postbacks.models import Delivery
from stats.models import DailyStat
from tests.factories import GoalFactory, PostbackFactory
from tracking.models import SUB_FIELDS

pytestmark = pytest.mark.django_db


def test_a_test_conversion_carries_sample_values_and_its_goals_amounts(affiliate):
    goal = GoalFactory(payout=Decimal("3.5"), revenue=Decimal("7"), currency="EUR")

    event = conversion_create_test(
        offer=goal.offer,
        affiliate=affiliate,
        goal=goal,
        status=ConversionStatus.HOLD,
        integration_method="probabilistic",
    )

    conversion = event.conversion
    conversion.refresh_from_db()
    assert conversion.is_test and conversion.ip == TEST_IP and conversion.comment == "Test postback"
    assert conversion.action_id.startswith("test-") and len(conversion.action_id) == len("test-") + 12
    assert [getattr(conversion, name) for name in SUB_FIELDS] == [f"test_{name}" for name in SUB_FIELDS]
    assert (conversion.payout, conversion.revenue, conversion.currency) == (
        Decimal("3.5"),
        Decimal("7"),
        "EUR",
    )
    assert (conversion.order_sum, conversion.order_currency) == (Decimal("7"), "EUR")
    assert (conversion.status, conversion.integration_method) == (ConversionStatus.HOLD, "probabilistic")


def test_a_test_conversion_emits_its_creation_event_which_no_listener_takes_up(affiliate):
    goal = GoalFactory()
    PostbackFactory(affiliate=affiliate)  # global, on any status: it would fire for a real conversion

    event = conversion_create_test(
        offer=goal.offer,
        affiliate=affiliate,
        goal=goal,
        status=ConversionStatus.APPROVED,
        integration_method="default",
    )

    assert ConversionEvent.objects.get(conversion=event.conversion) == event
    assert (event.kind, event.source, event.old_status, event.new_status) == (
        ConversionEvent.Kind.CREATED,
        ConversionEvent.Source.TEST,
        None,
        ConversionStatus.APPROVED,
    )
    assert not Delivery.objects.exists()
    assert not DailyStat.objects.exists()
