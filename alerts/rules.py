"""When an alert opens and when it closes: the one home of the thresholds.

An affiliate postback is in one of three alert states:

- **disabled**: the platform disabled it (`Postback.disabled_reason` set by postbacks.queue after
  POSTBACK_DISABLE_AFTER_DAYS of failures).
- **failing**: it is enabled, has a failing streak (`Postback.failing_since`, kept by
  postbacks.queue: the first failure after a success) and the streak crossed a threshold: its last
  FAILURES_IN_A_ROW attempts within the last LOOKBACK all failed, or at least
  MIN_WINDOW_ATTEMPTS attempts were made in the last WINDOW and under MIN_SUCCESS_PERCENT % of
  them succeeded. Once failing, it stays failing until a success ends the streak, so an endpoint
  that fails and answers by turns does not open and close alerts every minute.
- **ok**: anything else, including a streak below the thresholds (one timeout is no news) and a
  postback its affiliate turned off (their choice: its alert closes without a word).

An advertiser's postbacks are **refused** when at least MIN_ADVERTISER_HITS advertiser postbacks
for its offers arrived in the last WINDOW and at least MIN_REFUSED_PERCENT % of them were refused
(a broken integration: a wrong secure code, an IP not on the allowlist, click ids of another
platform); the alert closes when the last WINDOW no longer says so.

The functions decide from measurements; alerts.selectors measures, alerts.services records.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import models

FAILURES_IN_A_ROW = 5
LOOKBACK = timedelta(days=1)
WINDOW = timedelta(hours=1)
MIN_WINDOW_ATTEMPTS = 5
MIN_SUCCESS_PERCENT = 50
MIN_ADVERTISER_HITS = 20
MIN_REFUSED_PERCENT = 50


class PostbackAlertState(models.TextChoices):
    OK = "ok", "OK"
    FAILING = "failing", "Failing"
    DISABLED = "disabled", "Disabled"


class AdvertiserAlertState(models.TextChoices):
    OK = "ok", "OK"
    REFUSED = "refused", "Postbacks refused"


@dataclass(frozen=True)
class PostbackMeasure:
    """What the rule reads of a postback: its settings, and its attempts (test conversions aside)."""

    enabled: bool
    disabled_reason: str
    failing_since: datetime | None
    # Whether each succeeded, newest first: at most FAILURES_IN_A_ROW, within LOOKBACK.
    last_attempts: tuple[bool, ...] = ()
    window_attempts: int = 0
    window_successes: int = 0


@dataclass(frozen=True)
class Condition:
    state: str
    why: str
    # False when the change is no news to the affiliate (they turned the postback off themselves).
    announce: bool = True


def postback_condition(measure: PostbackMeasure, *, current: str) -> Condition:
    if not measure.enabled:
        if measure.disabled_reason:
            return Condition(PostbackAlertState.DISABLED, measure.disabled_reason)
        return Condition(PostbackAlertState.OK, "Turned off by its affiliate.", announce=False)
    if measure.failing_since is None:
        return Condition(PostbackAlertState.OK, "Delivering again.")
    if current == PostbackAlertState.FAILING:
        return Condition(PostbackAlertState.FAILING, "")  # the reason it opened with stays
    last = measure.last_attempts[:FAILURES_IN_A_ROW]
    if len(last) == FAILURES_IN_A_ROW and not any(last):
        return Condition(PostbackAlertState.FAILING, f"The last {FAILURES_IN_A_ROW} deliveries failed.")
    attempts, successes = measure.window_attempts, measure.window_successes
    if attempts >= MIN_WINDOW_ATTEMPTS and successes * 100 < MIN_SUCCESS_PERCENT * attempts:
        return Condition(
            PostbackAlertState.FAILING,
            f"Only {successes} of {attempts} deliveries in the last hour succeeded.",
        )
    return Condition(PostbackAlertState.OK, "")


def advertiser_condition(*, hits: int, refused: int) -> Condition:
    if hits >= MIN_ADVERTISER_HITS and refused * 100 >= MIN_REFUSED_PERCENT * hits:
        return Condition(
            AdvertiserAlertState.REFUSED,
            f"{refused} of {hits} advertiser postbacks in the last hour were refused.",
        )
    return Condition(AdvertiserAlertState.OK, "")
