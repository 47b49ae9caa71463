"""A click's user agent and referrer are stored as the text the visitor's browser sent, whatever
bytes arrive, and reach the destination and the affiliate's postback as that text."""

import json
import re
import socket
from urllib.parse import quote, urlsplit

import pytest

from conversions.models import Conversion
from postbacks import macros
from tests.factories import AffiliateFactory, OfferFactory
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

USER_AGENT = "Ünï 😀 Mozilla/5.0"
REFERRER = "https://exämple.test/päge?q=ü"


def as_wsgi_gives_it(raw: bytes) -> str:
    """A header value as a WSGI server hands it over: the bytes decoded as latin-1 (PEP 3333)."""
    return raw.decode("latin-1")


@pytest.fixture
def offer():
    return OfferFactory(destination_url="https://adv.example/land?cid={clickid}&ua={ua}")


def test_a_utf8_user_agent_and_referrer_are_stored_as_sent(client, offer, affiliate):
    response = client.get(
        f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}",
        HTTP_USER_AGENT=as_wsgi_gives_it(USER_AGENT.encode()),
        HTTP_REFERER=as_wsgi_gives_it(REFERRER.encode()),
    )

    assert response.status_code == 302
    assert response["Location"].endswith("&ua=" + quote(USER_AGENT, safe=""))
    row = Click.objects.get()
    assert (row.user_agent, row.referrer) == (USER_AGENT, REFERRER)


@pytest.mark.parametrize(
    "raw, stored",
    [
        (b"bad \xff\xfe agent", "bad \ufffd\ufffd agent"),
        (b"line\r\nX-Forged: 1", "lineX-Forged: 1"),
        (b"nul\x00 esc\x1b[31m del\x7f", "nul esc[31m del"),
        ("c1 \u0085 next line".encode(), "c1  next line"),
        (b"cut at a multibyte \xc3", "cut at a multibyte \ufffd"),
    ],
)
def test_invalid_bytes_are_replaced_and_control_characters_dropped(client, offer, affiliate, raw, stored):
    client.get(
        f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}",
        HTTP_USER_AGENT=as_wsgi_gives_it(raw),
        HTTP_REFERER=as_wsgi_gives_it(raw),
    )
    row = Click.objects.get()
    assert (row.user_agent, row.referrer) == (stored, stored)


def test_the_length_limit_counts_characters_as_sent(client, offer, affiliate):
    client.get(
        f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}",
        HTTP_USER_AGENT=as_wsgi_gives_it(("é" * 600).encode()),
    )
    assert Click.objects.get().user_agent == "é" * 512


@pytest.mark.django_db(transaction=True)
def test_raw_header_bytes_sent_to_a_real_server_reach_the_affiliate_postback_as_text(live_server):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    address = urlsplit(live_server.url)
    request = b"".join(
        [
            f"GET /click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json HTTP/1.1\r\n".encode(),
            f"Host: {address.netloc}\r\n".encode(),
            b"User-Agent: " + USER_AGENT.encode() + b"\x07\r\n",
            b"Referer: " + REFERRER.encode() + b"\r\n",
            b"Connection: close\r\n\r\n",
        ]
    )
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(request)
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    click_id = json.loads(answer.partition(b"\r\n\r\n")[2])["click_id"]

    secure = offer.secure_code or offer.advertiser.secure_code
    postback = live_server.url + f"/postback?clickid={click_id}&secure={quote(secure)}"
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(
            f"GET {urlsplit(postback).path}?{urlsplit(postback).query} HTTP/1.1\r\n"
            f"Host: {address.netloc}\r\nConnection: close\r\n\r\n".encode()
        )
        assert re.match(rb"HTTP/1\.[01] 200", b"".join(iter(lambda: connection.recv(65536), b"")))

    values = macros.values_for(Conversion.objects.get(), status=2)
    assert (values["uagent"], values["referrer"]) == (USER_AGENT, REFERRER)
