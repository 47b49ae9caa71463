import pytest

from tests.stats.rollup import keep_visitors


@pytest.fixture(autouse=True)
def clicks_kept_since_the_traffic_of_these_tests(settings, monkeypatch):
    """The statistics tests' traffic is of fixed days of 2025, whose clicks reports by sub value
    read: kept here for ten years rather than the default retention, and their unique visitors
    too, so that a repeat click of those days is recognised (a test that is about the retention
    sets its own)."""
    settings.CLICK_RETENTION_DAYS = 3650
    keep_visitors(monkeypatch, 3650)
