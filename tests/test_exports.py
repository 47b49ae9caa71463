"""The portal's CSV files write text cells so that a spreadsheet shows them and never runs them."""

import pytest

from config.exports import csv_text


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("Fitness app", "Fitness app"),
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcell", "'\tcell"),
        ("\rcell", "'\rcell"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_a_text_cell_that_would_start_a_formula_is_written_as_text(value, written):
    assert csv_text(value) == written
