from decimal import Decimal

import pytest

from portal.templatetags.portal import amount


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("1.5000"), "1.50"),
        (Decimal("12"), "12.00"),
        (Decimal("0.1250"), "0.125"),
        (Decimal("1000.0001"), "1000.0001"),
        ("not a number", "not a number"),
        (None, None),
    ],
)
def test_amounts_show_at_least_two_decimals_and_no_trailing_zeros_beyond(value, shown):
    assert amount(value) == shown
