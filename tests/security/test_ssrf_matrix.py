"""Outbound safety (SPEC 5.5), case by case: every unsafe postback URL is refused when it is saved
(service, portal form and API, each with a field error naming why) and when it is sent (the
sender's delivery path and the test postback: the request never leaves, and the attempt is logged
with the reason).

Real local HTTP servers stand in for what an attacker would aim at. Private ones on 127.0.0.1,
127.0.0.3 and [::1] must receive nothing. On 127.0.0.2, the one network these tests allow, a
server stands in for a public tracker. Names under `.ssrf.test` are answered by a test DNS
resolver wrapped around the system's, so that a name can be public when a postback is saved and
private when it is sent.
"""

import ipaddress
import re
import socket

import pytest
from django.core.exceptions import ValidationError
from pytest_httpserver import HTTPServer

from conversions.events import conversion_created_emit
from conversions.models import ConversionEvent
from postbacks import queue, sender
from postbacks.forms import PostbackForm
from postbacks.models import Delivery, Postback
from postbacks.services import postback_save, postback_send_test
from tests.factories import ConversionFactory, PostbackFactory

pytestmark = pytest.mark.django_db

PUBLIC = "127.0.0.2"  # stands in for a public tracker: the only network these tests allow
VICTIMS = ("127.0.0.1", "127.0.0.3", "::1")
PRIVATE = "a private, local or reserved address"
SCHEME = "Only http:// and https:// URLs are allowed."
CREDENTIALS = "Credentials in the URL (user:password@) are not allowed."
TEST_ZONE = {
    "intranet.ssrf.test": ["10.0.0.7"],
    "metadata.ssrf.test": ["169.254.169.254"],
    "loopback.ssrf.test": ["127.0.0.1"],
    "ula.ssrf.test": ["fd00::7"],
}

# (case, URL, why it is refused: named in the error when saving and when sending). PORT is the
# port every test server listens on, so that a request that got out would be seen.
UNSAFE = [
    ("loopback", "http://127.0.0.1:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("localhost", "http://localhost:PORT/pb", "localhost resolves to 127.0.0.1, " + PRIVATE),
    ("loopback, upper case name", "http://LOCALHOST:PORT/pb", "resolves to 127.0.0.1, " + PRIVATE),
    ("loopback v6", "http://[::1]:PORT/pb", "::1, " + PRIVATE),
    ("other 127.x", "http://127.0.0.3:PORT/pb", "127.0.0.3, " + PRIVATE),
    ("unspecified", "http://0.0.0.0:PORT/pb", "0.0.0.0, " + PRIVATE),
    ("unspecified, short", "http://0:PORT/pb", "0.0.0.0, " + PRIVATE),
    ("unspecified v6", "http://[::]:PORT/pb", "::, " + PRIVATE),
    ("decimal", "http://2130706433:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("octal", "http://0177.0.0.1:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("octal, zero padded", "http://0177.0000.0000.0001:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("hex", "http://0x7f.0.0.1:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("hex integer", "http://0x7F000001:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("short", "http://127.1:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("short, three parts", "http://127.0.1:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("trailing dot", "http://127.0.0.1.:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("full-width dots", "http://127\u30020\u30020\u30021:PORT/pb", "127.0.0.1, " + PRIVATE),
    ("mapped v6, dotted", "http://[::ffff:127.0.0.1]:PORT/pb", "::ffff:7f00:1, " + PRIVATE),
    ("mapped v6, hex", "http://[::ffff:7f00:1]:PORT/pb", "::ffff:7f00:1, " + PRIVATE),
    ("private 10/8", "http://10.1.2.3:PORT/pb", "10.1.2.3, " + PRIVATE),
    ("private 172.16/12", "http://172.16.0.1/pb", "172.16.0.1, " + PRIVATE),
    ("private 172.16/12, top", "http://172.31.255.254/pb", "172.31.255.254, " + PRIVATE),
    ("private 192.168/16", "http://192.168.1.1/pb", "192.168.1.1, " + PRIVATE),
    ("cloud metadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254, " + PRIVATE),
    ("cloud metadata, decimal", "http://2852039166/latest/meta-data/", "169.254.169.254, " + PRIVATE),
    ("cloud metadata, mapped v6", "http://[::ffff:a9fe:a9fe]/latest/", "::ffff:a9fe:a9fe, " + PRIVATE),
    ("cgnat", "http://100.64.0.1/pb", "100.64.0.1, " + PRIVATE),
    ("cgnat, top", "http://100.127.255.254/pb", "100.127.255.254, " + PRIVATE),
    ("multicast", "http://224.0.0.1/pb", "224.0.0.1, " + PRIVATE),
    ("reserved", "http://240.0.0.1/pb", "240.0.0.1, " + PRIVATE),
    ("broadcast", "http://255.255.255.255/pb", "255.255.255.255, " + PRIVATE),
    ("nat64 of a private address", "http://[64:ff9b::a00:1]/pb", "64:ff9b::a00:1, " + PRIVATE),
    ("6to4 of loopback", "http://[2002:7f00:1::]/pb", "2002:7f00:1::, " + PRIVATE),
    ("v6 unique local", "http://[fd12:3456::1]/pb", "fd12:3456::1, " + PRIVATE),
    ("v6 link local", "http://[fe80::1]/pb", "fe80::1, " + PRIVATE),
    ("v6 link local with zone", "http://[fe80::1%25eth0]/pb", PRIVATE),
    ("v6 multicast", "http://[ff02::1]/pb", "ff02::1, " + PRIVATE),
    ("name of a private address", "http://intranet.ssrf.test/pb", "resolves to 10.0.0.7, " + PRIVATE),
    ("name of the metadata address", "http://metadata.ssrf.test/", "resolves to 169.254.169.254, " + PRIVATE),
    ("name of loopback", "http://loopback.ssrf.test:PORT/pb", "resolves to 127.0.0.1, " + PRIVATE),
    ("name of a unique local v6", "http://ula.ssrf.test/pb", "resolves to fd00::7, " + PRIVATE),
    ("file", "file:///etc/passwd", SCHEME),
    ("ftp", "ftp://127.0.0.2:PORT/pb", SCHEME),
    ("gopher", "gopher://127.0.0.2:PORT/_GET%20/pb", SCHEME),
    ("javascript", "javascript:alert(1)", SCHEME),
    ("data", "data:text/plain,pb", SCHEME),
    ("scheme-relative", "//127.0.0.2:PORT/pb", SCHEME),
    ("user and password", "http://user:secret@127.0.0.2:PORT/pb", CREDENTIALS),
    ("user only", "http://user@127.0.0.2:PORT/pb", CREDENTIALS),
    ("password only", "http://:secret@127.0.0.2:PORT/pb", CREDENTIALS),
    ("credentials hiding a private host", "http://127.0.0.2:PORT@127.0.0.1:PORT/pb", CREDENTIALS),
    ("no host", "http:///pb", "The URL has no host."),
]
UNSAFE_CASES = [pytest.param(url, reason, id=case) for case, url, reason in UNSAFE]
NOT_URLS = [pytest.param("http://127.0.0.2:99999/pb", "This is not a valid URL.", id="port out of range")]

# Cases that reach a server of this test once every network is allowed: the refusal, not an
# unreachable address, is what keeps them out.
WOULD_REACH = {
    "loopback": "127.0.0.1",
    "localhost": "127.0.0.1",
    "loopback, upper case name": "127.0.0.1",
    "loopback v6": "::1",
    "other 127.x": "127.0.0.3",
    "unspecified": "127.0.0.1",
    "full-width dots": "127.0.0.1",
    "mapped v6, dotted": "127.0.0.1",
    "mapped v6, hex": "127.0.0.1",
    "name of loopback": "127.0.0.1",
}


@pytest.fixture(scope="module")
def servers():
    """A server on each test address, all on the same port; the private ones answer everything."""
    first = HTTPServer(host=VICTIMS[0], port=0)
    first.start()
    started = {VICTIMS[0]: first}
    for host in (*VICTIMS[1:], PUBLIC):
        server = HTTPServer(host=host, port=first.port)
        server.start()
        started[host] = server
    for host in VICTIMS:
        started[host].expect_request(re.compile(".*")).respond_with_data("private data")
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(autouse=True)
def fresh_servers(servers):
    for server in servers.values():
        server.clear_log()
    yield
    servers[PUBLIC].clear()


@pytest.fixture(autouse=True)
def only_the_stand_in_is_public(settings):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = f"{PUBLIC}/32"


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    """Names under .ssrf.test resolve to what this dict says when they are looked up; a test
    changes an entry the way a DNS-rebinding attacker changes a record. Other names are looked up
    by the system."""
    zone = dict(TEST_ZONE)
    system_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = (host.decode() if isinstance(host, bytes) else host or "").rstrip(".").lower()
        if not name.endswith(".ssrf.test"):
            return system_getaddrinfo(host, port, family, type, proto, flags)
        answers = []
        for address in zone.get(name, []):
            v6 = ipaddress.ip_address(address).version == 6
            found_family = socket.AF_INET6 if v6 else socket.AF_INET
            if family in (0, found_family):
                sockaddr = (address, int(port or 0), 0, 0) if v6 else (address, int(port or 0))
                answers.append((found_family, type or socket.SOCK_STREAM, proto or 6, "", sockaddr))
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return zone


def on_port(url: str, servers) -> str:
    return url.replace("PORT", str(servers[PUBLIC].port))


def received(servers) -> dict:
    return {host: len(server.log) for host, server in servers.items() if server.log}


def form_for(affiliate, url: str) -> PostbackForm:
    data = {"url": url, "status": "any", "integration_method": "default", "method": "GET", "enabled": "on"}
    return PostbackForm(data=data, affiliate=affiliate, offer=None)


def deliver_through_the_sender(postback: Postback) -> Delivery:
    """A conversion event for `postback`, sent as a worker's sender sends it."""
    conversion = ConversionFactory(affiliate=postback.affiliate)
    conversion_created_emit(conversion, source=ConversionEvent.Source.POSTBACK)
    sender.send_claimed(queue.claim())
    return Delivery.objects.get(postback=postback, conversion=conversion)


# --- When a postback is saved ----------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), UNSAFE_CASES + NOT_URLS)
def test_an_unsafe_url_is_refused_when_saved_with_the_reason(servers, affiliate, affiliate_api, url, reason):
    url = on_port(url, servers)

    with pytest.raises(ValidationError) as refused:
        postback_save(Postback(affiliate=affiliate, url=url))
    assert list(refused.value.message_dict) == ["url"] and reason in refused.value.message_dict["url"][0]

    form = form_for(affiliate, url)
    assert not form.is_valid()
    assert list(form.errors) == ["url"] and reason in form.errors["url"][0]

    response = affiliate_api.post("/api/v1/postbacks/", {"url": url}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["url"] and reason in response.json()["url"][0]

    assert not Postback.objects.exists()


def test_a_name_with_a_private_address_among_public_ones_is_refused_when_saved(dns, affiliate):
    dns["mixed.ssrf.test"] = ["93.184.215.14", "10.0.0.7"]
    with pytest.raises(ValidationError) as refused:
        postback_save(Postback(affiliate=affiliate, url="http://mixed.ssrf.test/pb"))
    assert "mixed.ssrf.test resolves to 10.0.0.7, " + PRIVATE in refused.value.message_dict["url"][0]


def test_the_public_stand_in_on_any_port_is_accepted(servers, affiliate):
    """Ports are not restricted: trackers listen on many. A public host is all that is asked."""
    postback = Postback(affiliate=affiliate, url=on_port("http://127.0.0.2:PORT/pb?c={clickid}", servers))
    assert postback_save(postback) == [] and postback.pk is not None


# --- When a postback is sent -----------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), UNSAFE_CASES)
def test_an_unsafe_url_is_refused_when_sent_and_the_attempt_is_logged(servers, affiliate, url, reason):
    # Stored without the checks of saving: as if saved before its host changed.
    postback = PostbackFactory(affiliate=affiliate, url=on_port(url, servers))

    delivery = deliver_through_the_sender(postback)
    tested = postback_send_test(postback)

    assert received(servers) == {}
    attempt = delivery.attempt_log.get()
    assert (delivery.state, delivery.http_code, attempt.http_code) == ("retrying", 0, 0)
    assert reason in delivery.error and attempt.error == delivery.error
    assert (tested.state, tested.http_code, tested.attempts) == ("failed", 0, 1)
    assert reason in tested.error


@pytest.mark.parametrize(("url", "reason"), NOT_URLS)
def test_a_stored_url_that_cannot_be_read_fails_its_delivery_not_the_conversion(
    servers, affiliate, url, reason
):
    postback = PostbackFactory(affiliate=affiliate, url=on_port(url, servers))

    delivery = deliver_through_the_sender(postback)

    assert received(servers) == {}
    assert (delivery.state, delivery.http_code, delivery.error) == ("retrying", 0, reason)


@pytest.mark.parametrize("case", WOULD_REACH)
def test_with_every_network_allowed_those_urls_would_reach_a_private_server(
    settings, servers, affiliate, case
):
    """What the refusals above stop: the same postbacks, sent while private networks are allowed
    (the development setting), reach the private servers."""
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "true"
    url = on_port(next(url for name, url, _ in UNSAFE if name == case), servers)
    postback = PostbackFactory(affiliate=affiliate, url=url)

    delivery = deliver_through_the_sender(postback)

    assert (delivery.state, delivery.http_code) == ("succeeded", 200)
    assert received(servers) == {WOULD_REACH[case]: 1}


def test_a_name_public_when_saved_and_private_when_sent_is_refused_on_the_connected_address(
    dns, servers, affiliate
):
    dns["tracker.ssrf.test"] = ["93.184.215.14"]
    postback = Postback(affiliate=affiliate, url=on_port("http://tracker.ssrf.test:PORT/pb", servers))
    postback_save(postback)
    dns["tracker.ssrf.test"] = ["127.0.0.1"]

    delivery = deliver_through_the_sender(postback)
    tested = postback_send_test(postback)

    assert received(servers) == {}
    for sent in (delivery, tested):
        assert sent.http_code == 0 and "tracker.ssrf.test resolves to 127.0.0.1, " + PRIVATE in sent.error


def test_a_name_that_turns_private_reaches_the_private_server_only_when_allowed(
    settings, dns, servers, affiliate
):
    """The client resolves through the resolver the test controls: the refusal above is real."""
    dns["tracker.ssrf.test"] = ["127.0.0.1"]
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "127.0.0.1/32"
    postback = PostbackFactory(affiliate=affiliate, url=on_port("http://tracker.ssrf.test:PORT/pb", servers))

    assert deliver_through_the_sender(postback).http_code == 200
    assert received(servers) == {"127.0.0.1": 1}


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_to_a_private_address_is_a_failure_and_is_not_followed(servers, affiliate, code):
    target = on_port("http://127.0.0.1:PORT/internal", servers)
    servers[PUBLIC].expect_request("/pb").respond_with_data("", status=code, headers={"Location": target})
    postback = Postback(affiliate=affiliate, url=on_port("http://127.0.0.2:PORT/pb", servers))
    postback_save(postback)  # a public URL: nothing to refuse until it answers

    delivery = deliver_through_the_sender(postback)
    tested = postback_send_test(postback)

    assert received(servers) == {PUBLIC: 2}
    assert (delivery.state, tested.state) == ("retrying", "failed")
    for sent in (delivery, tested):
        assert sent.http_code == code
        assert sent.error.startswith(f"Redirect ({code}) to {target} not followed")
