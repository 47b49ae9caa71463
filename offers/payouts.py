"""What a conversion pays: its goal's terms applied to the advertiser's order sum.

Each side of a goal, the affiliate's payout and the network's revenue, is one of:
- fixed: the goal's amount, in the goal's currency (Affise's CPA, Everflow's RPA);
- percent: a percent of the order sum, 0 to 100 (CPS, RPS);
- fixed plus percent: both added (CPA + CPS).

A side with a percent is computed in Decimal and rounded to cents, half up (0.005 becomes 0.01,
as people round money); a fixed side is paid exactly as the goal says.

The currency: a goal paying only fixed amounts pays in its own currency. Once either side takes
a percent, the conversion is in the currency of the sum (the advertiser's `currency`, or the
goal's when none is sent), so the percent needs no exchange rate. A fixed amount cannot be added
to a percent of a sum in another currency: a goal with a fixed amount above 0 on either side
beside a percent side refuses a sum in any currency but its own.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from offers.models import Goal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
MAX_PERCENT = HUNDRED
# Conversions store amounts of at most 14 digits, 4 of them decimals.
AMOUNT_LIMIT = Decimal("1e10")
SUM_NEEDED = "This goal pays a percent of the sum: send sum"
SUM_TOO_LARGE = "Invalid sum: the payout it makes is too large"
CURRENCY_NEEDED = (
    "This goal adds a fixed amount in {goal} to a percent of the sum: send the sum in {goal} "
    "(currency={goal}), not in {sent}"
)


class PayoutType(models.TextChoices):
    FIXED = "fixed", "Fixed amount"
    PERCENT = "percent", "Percent of the sum"
    FIXED_PLUS_PERCENT = "fixed_plus_percent", "Fixed amount plus percent of the sum"


WITH_PERCENT = {PayoutType.PERCENT, PayoutType.FIXED_PLUS_PERCENT}
WITH_FIXED = {PayoutType.FIXED, PayoutType.FIXED_PLUS_PERCENT}


class PayoutRefused(Exception):
    """The goal's terms cannot pay on this sum; the message is the advertiser's answer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Amounts:
    payout: Decimal
    revenue: Decimal
    currency: str


def pays_percent(goal: "Goal") -> bool:
    """True when either side of `goal` takes a percent of the order sum."""
    return goal.payout_type in WITH_PERCENT or goal.revenue_type in WITH_PERCENT


def conversion_amounts(goal: "Goal", *, order_sum: Decimal | None, order_currency: str) -> Amounts:
    """The payout, revenue and currency of a conversion of `goal` whose order sum is `order_sum`
    (None when the advertiser sent none) in `order_currency` (the goal's when none was sent).
    Raises PayoutRefused when the terms cannot pay on it."""
    if not pays_percent(goal):
        return Amounts(goal.payout, goal.revenue, goal.currency)
    refusal = payout_refusal(goal, order_sum=order_sum, order_currency=order_currency)
    if refusal:
        raise PayoutRefused(refusal)
    return Amounts(*_sides(goal, order_sum), order_currency)


def payout_refusal(goal: "Goal", *, order_sum: Decimal | None, order_currency: str) -> str | None:
    """Why `goal` cannot pay on this order sum (the advertiser's answer), or None when it can: a
    percent needs a sum; a fixed amount is added only to a sum in the goal's own currency; and the
    amounts must fit a conversion."""
    if not pays_percent(goal):
        return None
    if order_sum is None:
        return SUM_NEEDED
    adds_fixed = any(
        kind in WITH_FIXED and amount > 0
        for kind, amount in [(goal.payout_type, goal.payout), (goal.revenue_type, goal.revenue)]
    )
    if adds_fixed and order_currency != goal.currency:
        return CURRENCY_NEEDED.format(goal=goal.currency, sent=order_currency)
    if max(_sides(goal, order_sum)) >= AMOUNT_LIMIT:
        return SUM_TOO_LARGE
    return None


def amounts_for_new_sum(
    goal: "Goal", *, current: Amounts, order_sum: Decimal, order_currency: str
) -> Amounts:
    """The amounts of a conversion, now `current`, whose status change carries a new order sum.
    A goal with a percent computes them again from it, by its present terms; a fixed-only goal
    keeps those the conversion was made with, which no sum changes. Raises PayoutRefused."""
    if not pays_percent(goal):
        return current
    return conversion_amounts(goal, order_sum=order_sum, order_currency=order_currency)


def _sides(goal: "Goal", order_sum: Decimal) -> tuple[Decimal, Decimal]:
    return (
        _side(goal.payout_type, goal.payout, goal.payout_percent, order_sum),
        _side(goal.revenue_type, goal.revenue, goal.revenue_percent, order_sum),
    )


def _side(kind: str, fixed: Decimal, percent: Decimal, order_sum: Decimal) -> Decimal:
    if kind == PayoutType.FIXED:
        return fixed
    share = order_sum * percent / HUNDRED
    total = share if kind == PayoutType.PERCENT else fixed + share
    return total.quantize(CENT, rounding=ROUND_HALF_UP)


def terms_problems(
    *,
    payout_type: str,
    payout: Decimal | None,
    payout_percent: Decimal | None,
    revenue_type: str,
    revenue: Decimal | None,
    revenue_percent: Decimal | None,
) -> dict[str, str]:
    """Why a goal's payout and revenue terms cannot be, by field name (empty when they can): the
    rule of the goal_*_matches_type database constraints, in words, for the admin and the API. A
    value that is None (refused by its own field's checks already) is not checked again."""
    problems = {}
    sides = {
        "payout": (payout_type, payout, payout_percent),
        "revenue": (revenue_type, revenue, revenue_percent),
    }
    for side, (kind, amount, percent) in sides.items():
        if percent is not None:
            if kind in WITH_PERCENT and percent <= 0:
                problems[f"{side}_percent"] = f"A {side} with a percent needs a percent above 0."
            elif kind == PayoutType.FIXED and percent != 0:
                problems[f"{side}_percent"] = (
                    f"A fixed {side} takes no percent: set 0, or choose a type with a percent."
                )
        if amount is not None:
            if kind == PayoutType.PERCENT and amount != 0:
                problems[side] = f"A percent {side} has no fixed amount: set 0, or choose fixed plus percent."
            elif kind == PayoutType.FIXED_PLUS_PERCENT and amount <= 0:
                problems[side] = f"Fixed plus percent needs a fixed {side} above 0; or choose percent."
    return problems


def payout_terms(goal: "Goal") -> str:
    """The affiliate's payout of `goal` as affiliates are shown it: "2.50 USD",
    "12.5% of the sale", "1.00 USD + 5% of the sale"."""
    fixed = f"{_money(goal.payout)} {goal.currency}"
    share = f"{_number(goal.payout_percent)}% of the sale"
    if goal.payout_type == PayoutType.PERCENT:
        return share
    if goal.payout_type == PayoutType.FIXED_PLUS_PERCENT:
        return f"{fixed} + {share}"
    return fixed


def _money(value: Decimal) -> str:
    """At least two decimals, and no trailing zeros beyond them: 1.50, 0.125."""
    value = Decimal(value)
    return f"{value:.2f}" if value == value.quantize(CENT) else _number(value)


def _number(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"
