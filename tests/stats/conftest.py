import pytest


@pytest.fixture(autouse=True)
def clicks_kept_since_the_traffic_of_these_tests(settings):
    """The statistics tests' traffic is of fixed days of 2025, whose clicks reports by sub value
    read: kept here for ten years rather than the default retention (a test that is about the
    retention sets its own)."""
    settings.CLICK_RETENTION_DAYS = 3650
