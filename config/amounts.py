"""How the portal writes a money amount, on its pages and in its CSV exports alike."""

from decimal import Decimal

CENT = Decimal("0.01")


def amount_text(value) -> str:
    """A money amount as people write it: 1.50, 12.00, 0.125 (two decimals, more only where a
    percent payout left them). Amounts are stored with four decimals; a file that says 8.0000
    where the page says 8.00 looks like a different number. A plain dot and no thousands
    separator, so that a spreadsheet reads it as a number."""
    number = Decimal(value)
    if number == number.quantize(CENT):
        return f"{number:.2f}"
    return f"{number.normalize():f}"
