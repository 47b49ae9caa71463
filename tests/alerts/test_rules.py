"""The rule of alerts.rules, one row per case: when a postback's alert is failing, disabled or
ok, and when an advertiser's postbacks are refused at a high rate."""

from datetime import UTC, datetime

import pytest

from alerts.rules import (
    AdvertiserAlertState,
    PostbackAlertState,
    PostbackMeasure,
    advertiser_condition,
    postback_condition,
)

OK, FAILING, DISABLED = PostbackAlertState.OK, PostbackAlertState.FAILING, PostbackAlertState.DISABLED
STREAK = datetime(2030, 1, 1, tzinfo=UTC)
F, S = False, True


def measure(**values) -> PostbackMeasure:
    return PostbackMeasure(**{"enabled": True, "disabled_reason": "", "failing_since": STREAK, **values})


@pytest.mark.parametrize(
    "case, measured, current, expected, announce",
    [
        ("no streak", measure(failing_since=None), OK, OK, True),
        ("a streak of four failures", measure(last_attempts=(F, F, F, F)), OK, OK, True),
        ("five failures in a row", measure(last_attempts=(F, F, F, F, F)), OK, FAILING, True),
        ("a success among the last five", measure(last_attempts=(F, F, F, F, S)), OK, OK, True),
        (
            "under half of the hour's five succeeded",
            measure(last_attempts=(F, S, F, S, S), window_attempts=5, window_successes=2),
            OK,
            FAILING,
            True,
        ),
        (
            "exactly half of the hour succeeded",
            measure(last_attempts=(F, S), window_attempts=6, window_successes=3),
            OK,
            OK,
            True,
        ),
        (
            "under half of too few attempts",
            measure(last_attempts=(F, F, S), window_attempts=4, window_successes=1),
            OK,
            OK,
            True,
        ),
        ("failing stays failing while the streak lasts", measure(last_attempts=(F,)), FAILING, FAILING, True),
        ("failing recovers with a success", measure(failing_since=None), FAILING, OK, True),
        (
            "disabled by the platform",
            measure(enabled=False, disabled_reason="Disabled on ..."),
            FAILING,
            DISABLED,
            True,
        ),
        ("re-enabled by its affiliate", measure(failing_since=None), DISABLED, OK, True),
        ("turned off by its affiliate, quietly", measure(enabled=False), FAILING, OK, False),
    ],
)
def test_the_postback_rule(case, measured, current, expected, announce):
    condition = postback_condition(measured, current=current)
    assert (condition.state, condition.announce) == (expected, announce), case


def test_a_failing_postback_says_why():
    assert (
        postback_condition(measure(last_attempts=(F,) * 5), current=OK).why == "The last 5 deliveries failed."
    )
    assert (
        postback_condition(measure(window_attempts=10, window_successes=4), current=OK).why
        == "Only 4 of 10 deliveries in the last hour succeeded."
    )


@pytest.mark.parametrize(
    "hits, refused, expected",
    [
        (19, 19, AdvertiserAlertState.OK),  # too few to tell
        (20, 10, AdvertiserAlertState.REFUSED),  # half refused
        (20, 9, AdvertiserAlertState.OK),
        (1000, 999, AdvertiserAlertState.REFUSED),
        (0, 0, AdvertiserAlertState.OK),
    ],
)
def test_the_advertiser_rule(hits, refused, expected):
    assert advertiser_condition(hits=hits, refused=refused).state == expected
