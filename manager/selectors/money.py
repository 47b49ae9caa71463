"""What the manager console's money means, as the portal's statistics name it:
- Earned money is the approved conversions': "revenue" is the advertisers' approved revenue,
  "payout" the affiliates' approved payout (the portal's "payout"), profit = revenue - payout and
  margin = profit / revenue in percent (none without revenue).
- "Expected" is the pending and hold conversions' money, still to be decided; declined
  conversions count in neither.
- EPC is the approved revenue per click: what a click has earned the network, before payout.
- Currencies are never added together: every amount is of one currency.
"""

from dataclasses import dataclass
from decimal import Decimal

from stats.selectors import Figures

EARNED = "approved"
EXPECTED = ("pending", "hold")


@dataclass(frozen=True)
class Earnings:
    """The money of one currency in a report's figures (see the module's docstring)."""

    currency: str
    revenue: Decimal
    payout: Decimal
    expected_revenue: Decimal
    expected_payout: Decimal

    @property
    def profit(self) -> Decimal:
        return self.revenue - self.payout

    @property
    def margin(self) -> Decimal | None:
        """Profit per 100 of revenue, one decimal; None without revenue."""
        if not self.revenue:
            return None
        return (self.profit * 100 / self.revenue).quantize(Decimal("0.1"))


def earnings(figures: Figures, currency: str) -> Earnings:
    """`figures`' money in `currency`, all zero where it has none."""
    money = figures.money.get(currency)
    if money is None:
        return Earnings(currency, *(Decimal(0),) * 4)
    return Earnings(
        currency,
        revenue=money.revenue[EARNED],
        payout=money.payout[EARNED],
        expected_revenue=sum((money.revenue[name] for name in EXPECTED), Decimal(0)),
        expected_payout=sum((money.payout[name] for name in EXPECTED), Decimal(0)),
    )


def epc(revenue: Decimal, clicks: int | None) -> Decimal | None:
    """Approved revenue per click, four decimals; None without clicks."""
    if not clicks:
        return None
    return (revenue / clicks).quantize(Decimal("0.0001"))


def amounts_of(figures: Figures) -> list[Earnings]:
    """The money of each currency of `figures`, in the order of the currencies' codes."""
    return [earnings(figures, currency) for currency in sorted(figures.money)]
