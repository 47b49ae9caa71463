import pytest

from tests.portal.screens import Screen


@pytest.fixture
def screen(browser, live_server):
    """Opens a logged-in screen: `screen(user, "desktop")`; all are closed after the test."""
    opened = []

    def open_screen(user, size):
        opened.append(Screen(browser, live_server, user.username, size))
        return opened[-1]

    yield open_screen
    for one in opened:
        one.close()
