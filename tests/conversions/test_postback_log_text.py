"""The log of advertiser postbacks and pixel hits shows a query string as the text it was sent in,
even when its bytes arrive unencoded."""

import pytest

from conversions.models import ServerPostback

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]


def as_wsgi_gives_it(raw: bytes) -> str:
    """A query string as a WSGI server hands it over: the bytes decoded as latin-1 (PEP 3333)."""
    return raw.decode("latin-1")


@pytest.mark.parametrize("endpoint", ["/postback", "/pixel"])
def test_raw_utf8_bytes_in_the_query_are_logged_as_the_text_sent(client, endpoint):
    client.get(endpoint, QUERY_STRING=as_wsgi_gives_it("clickid=x&comment=Ünï 😀&bad=".encode() + b"\xff"))

    logged = ServerPostback.objects.get()
    assert logged.query == "clickid=x&comment=Ünï 😀&bad=\ufffd"
