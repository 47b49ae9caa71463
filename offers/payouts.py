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

Payouts by country: a goal may pay the visitors of some countries other amounts (its
GoalCountryPayout rows). A conversion is paid by the terms of its country (its click's): that
country's fixed amounts and percents in place of the goal's, under the goal's payout and revenue
types and in its currency; a country without a row, or no country, is paid the goal's own.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.db import models

from config.amounts import amount_text
from offers.targeting import country_name

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


# A goal's terms, as the fields of a goal name them; a country's row has the amounts among them.
TERMS = ["payout_type", "payout", "payout_percent", "revenue_type", "revenue", "revenue_percent"]
COUNTRY_AMOUNTS = ["payout", "payout_percent", "revenue", "revenue_percent"]


@dataclass(frozen=True)
class Terms:
    """What a conversion of a goal in a country is paid by (`terms_for`)."""

    payout_type: str
    payout: Decimal
    payout_percent: Decimal
    revenue_type: str
    revenue: Decimal
    revenue_percent: Decimal
    currency: str


def terms_for(goal: "Goal", country: str) -> Terms:
    """The terms of `goal` for a visitor of `country` (an ISO code, "" when unknown): the goal's
    types and currency with its row for that country's amounts, or its own without one. Reads
    `goal.country_payouts.all()`, so prefetched rows cost no query."""
    row = _country_row(goal, country)
    return _terms(goal, row if row is not None else goal)


def _country_row(goal: "Goal", country: str):
    if not country or goal.pk is None:
        return None
    return next((row for row in goal.country_payouts.all() if row.country == country), None)


def _terms(goal: "Goal", amounts) -> Terms:
    """The goal's types and currency with the fixed amounts and percents of `amounts`."""
    return Terms(
        payout_type=goal.payout_type,
        payout=amounts.payout,
        payout_percent=amounts.payout_percent,
        revenue_type=goal.revenue_type,
        revenue=amounts.revenue,
        revenue_percent=amounts.revenue_percent,
        currency=goal.currency,
    )


def pays_percent(goal: "Goal | Terms") -> bool:
    """True when either side of `goal` takes a percent of the order sum (in every country alike:
    the types are the goal's)."""
    return goal.payout_type in WITH_PERCENT or goal.revenue_type in WITH_PERCENT


def conversion_amounts(
    goal: "Goal", *, country: str, order_sum: Decimal | None, order_currency: str
) -> Amounts:
    """The payout, revenue and currency of a conversion of `goal` by a visitor of `country` ("" when
    unknown) whose order sum is `order_sum` (None when the advertiser sent none) in
    `order_currency` (the goal's when none was sent). Raises PayoutRefused when the terms cannot
    pay on it."""
    terms = terms_for(goal, country)
    if not pays_percent(terms):
        return Amounts(terms.payout, terms.revenue, terms.currency)
    refusal = _refusal(terms, order_sum, order_currency)
    if refusal:
        raise PayoutRefused(refusal)
    return Amounts(*_sides(terms, order_sum), order_currency)


def payout_refusal(
    goal: "Goal", *, country: str, order_sum: Decimal | None, order_currency: str
) -> str | None:
    """Why `goal` cannot pay a conversion in `country` on this order sum (the advertiser's answer),
    or None when it can: a percent needs a sum; a fixed amount is added only to a sum in the goal's
    own currency; and the amounts must fit a conversion."""
    if not pays_percent(goal):
        return None
    return _refusal(terms_for(goal, country), order_sum, order_currency)


def _refusal(terms: Terms, order_sum: Decimal | None, order_currency: str) -> str | None:
    if order_sum is None:
        return SUM_NEEDED
    adds_fixed = any(
        kind in WITH_FIXED and amount > 0
        for kind, amount in [(terms.payout_type, terms.payout), (terms.revenue_type, terms.revenue)]
    )
    if adds_fixed and order_currency != terms.currency:
        return CURRENCY_NEEDED.format(goal=terms.currency, sent=order_currency)
    if max(_sides(terms, order_sum)) >= AMOUNT_LIMIT:
        return SUM_TOO_LARGE
    return None


def amounts_for_new_sum(
    goal: "Goal", *, country: str, current: Amounts, order_sum: Decimal, order_currency: str
) -> Amounts:
    """The amounts of a conversion in `country`, now `current`, whose status change carries a new
    order sum. A goal with a percent computes them again from it, by its present terms for that
    country; a fixed-only goal keeps those the conversion was made with, which no sum changes.
    Raises PayoutRefused."""
    if not pays_percent(goal):
        return current
    return conversion_amounts(goal, country=country, order_sum=order_sum, order_currency=order_currency)


def _sides(terms: Terms, order_sum: Decimal) -> tuple[Decimal, Decimal]:
    return (
        _side(terms.payout_type, terms.payout, terms.payout_percent, order_sum),
        _side(terms.revenue_type, terms.revenue, terms.revenue_percent, order_sum),
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


def country_payouts_problems(terms: Mapping, rows: list[Mapping]) -> list[dict[str, str]]:
    """Why each of a goal's payouts by country cannot be, by field name (an empty dict for a row
    that can), for a goal with `terms` (TERMS by name): a row's amounts, under the goal's types,
    follow terms_problems, and a country has one row. A row's country is an ISO code already."""
    problems, seen = [], set()
    for row in rows:
        found = terms_problems(**{**{name: terms[name] for name in TERMS}, **_amounts_of(row)})
        country = row.get("country")
        if country and country in seen:
            found["country"] = f"{country} is listed twice: give each country once."
        seen.add(country)
        problems.append(found)
    return problems


def _amounts_of(row: Mapping) -> dict:
    return {name: row[name] for name in COUNTRY_AMOUNTS if name in row}


@dataclass(frozen=True)
class CountryPayout:
    """A line of the payouts of a goal by country as affiliates are shown them: `country` is ""
    for every country without its own (the goal's payout)."""

    country: str
    country_name: str
    payout: Decimal
    payout_percent: Decimal
    payout_terms: str


OTHER_COUNTRIES, ALL_COUNTRIES = "Other countries", "All countries"


def payouts_by_country(goal: "Goal") -> list[CountryPayout]:
    """The affiliate's payout of `goal` in each country that has its own, by country code, then
    "Other countries" with the goal's own; the payout only, never the network's revenue. A goal
    without payouts by country has the one line, "All countries". Reads
    `goal.country_payouts.all()`, so prefetched rows cost no query."""
    lines = [
        CountryPayout(
            row.country,
            country_name(row.country),
            row.payout,
            row.payout_percent,
            payout_terms(_terms(goal, row)),
        )
        for row in goal.country_payouts.all()
    ]
    name = OTHER_COUNTRIES if lines else ALL_COUNTRIES
    own = CountryPayout("", name, goal.payout, goal.payout_percent, payout_terms(goal))
    return [*lines, own]


def payout_terms(goal: "Goal | Terms") -> str:
    """The affiliate's payout of `goal` (or of its terms in a country) as affiliates are shown it:
    "2.50 USD", "12.5% of the sale", "1.00 USD + 5% of the sale"."""
    fixed = f"{amount_text(goal.payout)} {goal.currency}"
    share = f"{_number(goal.payout_percent)}% of the sale"
    if goal.payout_type == PayoutType.PERCENT:
        return share
    if goal.payout_type == PayoutType.FIXED_PLUS_PERCENT:
        return f"{fixed} + {share}"
    return fixed


def _number(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"
