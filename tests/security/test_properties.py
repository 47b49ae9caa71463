"""Properties of macro rendering and of the postback URL check, over generated inputs.

Rendering: any values in any template never raise; a value always lands percent-encoded, so it
cannot add a query parameter, a path segment or a fragment, break the line or move the request to
another host; unknown macros stay as they are and are reported; only {rand} differs between two
renderings. The URL check: it never raises, and it refuses a private, loopback or reserved address
however it is written (decimal, octal, hex, short forms, IPv4-mapped, NAT64 and 6to4 IPv6), when
saving and when sending.
"""

import asyncio
import contextlib
import ipaddress
import re
import socket
import uuid
from unittest import mock
from urllib.parse import parse_qsl, unquote, urlsplit

import hypothesis
import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from postbacks import macros, outbound

PROPERTY = hypothesis.settings(max_examples=150, deadline=None, database=None)
PRIVATE = "a private, local or reserved address"
PRIVATE_V4 = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
PRIVATE_V6 = ["::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8"]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

macro_names = st.sampled_from(sorted(macros.KNOWN - {"rand"}))
unknown_names = st.from_regex(r"[A-Za-z0-9_]{1,20}", fullmatch=True).filter(
    lambda name: name not in macros.KNOWN
)
plain = st.from_regex(r"[A-Za-z0-9._~-]{0,8}", fullmatch=True)


def addresses_in(networks):
    network = st.sampled_from(networks).map(ipaddress.ip_network)
    return network.flatmap(lambda net: st.integers(0, net.num_addresses - 1).map(lambda index: net[index]))


@st.composite
def ipv4_spellings(draw, address: ipaddress.IPv4Address) -> str:
    """`address` written the ways inet_aton() and URL parsers read: 1 to 4 parts, the last
    filling the remaining bytes, each decimal, octal or hex, maybe with a trailing dot."""
    count = draw(st.integers(1, 4))
    value = int(address)
    parts = [(value >> (8 * (3 - index))) & 0xFF for index in range(count - 1)]
    parts.append(value & ((1 << (8 * (5 - count))) - 1))
    written = []
    for part in parts:
        radix = draw(st.sampled_from(["dec", "oct", "hex", "HEX"]))
        if radix == "dec":
            written.append(str(part))
        elif radix == "oct":
            written.append("0" * draw(st.integers(1, 3)) + f"{part:o}")
        else:
            written.append(("0x" if radix == "hex" else "0X") + format(part, "x" if radix == "hex" else "X"))
    return ".".join(written) + draw(st.sampled_from(["", "."]))


@st.composite
def private_hosts(draw) -> tuple[str, str]:
    """(host as written in a URL, the address it names as the check reports it)."""
    kind = draw(st.sampled_from(["v4", "mapped", "mapped hex", "nat64", "6to4", "v6"]))
    if kind == "v6":
        address = draw(addresses_in(PRIVATE_V6))
        written = draw(st.sampled_from([address.compressed, address.exploded, address.exploded.upper()]))
        return f"[{written}]", str(address)
    v4 = draw(addresses_in(PRIVATE_V4))
    high, low = int(v4) >> 16, int(v4) & 0xFFFF
    if kind == "v4":
        return draw(ipv4_spellings(v4)), str(v4)
    written = {
        "mapped": f"::ffff:{v4}",
        "mapped hex": f"0:0:0:0:0:FFFF:{high:X}:{low:X}",
        "nat64": f"64:ff9b::{v4}",
        "6to4": f"2002:{high:x}:{low:x}::1",
    }[kind]
    return f"[{written}]", str(ipaddress.ip_address(written))


@contextlib.contextmanager
def numbers_only_dns():
    """Keeps the check offline: names are not looked up (as if nothing resolved yet), while
    numeric hosts are still read by the system's own parser."""
    system_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        return system_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    with mock.patch.object(socket, "getaddrinfo", getaddrinfo):
        yield


@pytest.fixture(scope="module")
def private_server():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request(re.compile(".*")).respond_with_data("private data")
    server.start()
    yield server
    server.stop()


# --- Macro rendering --------------------------------------------------------------------------


@st.composite
def templates_with_values(draw):
    values = draw(st.dictionaries(macro_names, st.text(), min_size=1, max_size=6))
    macro = st.sampled_from(sorted(values)).map("{{{}}}".format)
    host = draw(st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,2}", fullmatch=True))
    path = draw(st.lists(st.one_of(macro, plain), min_size=1, max_size=4))
    query = draw(
        st.lists(st.tuples(st.from_regex(r"[a-z]{1,5}", fullmatch=True), macro), min_size=1, max_size=5)
    )
    template = f"https://{host}/" + "/".join(path) + "?" + "&".join(f"{key}={name}" for key, name in query)
    return template, values, host, path, query


@PROPERTY
@given(templates_with_values())
def test_every_value_lands_percent_encoded_and_cannot_change_the_url_around_it(case):
    template, values, host, path, query = case

    rendered = urlsplit(macros.render(template, values))

    assert (rendered.scheme, rendered.hostname, rendered.port, rendered.fragment) == ("https", host, None, "")
    assert not re.search(r"[\s\x00-\x1f\x7f]", rendered.geturl())
    segments = rendered.path.split("/")[1:]
    assert len(segments) == len(path)
    for written, segment in zip(path, segments, strict=True):
        assert unquote(segment) == (values[written[1:-1]] if written.startswith("{") else written)
    assert parse_qsl(rendered.query, keep_blank_values=True) == [
        (key, values[name[1:-1]]) for key, name in query
    ]


@PROPERTY
@given(st.text(), st.dictionaries(st.sampled_from(sorted(macros.KNOWN)), st.text()))
def test_any_template_renders_without_raising_and_keeps_unknown_macros(template, values):
    rendered = macros.render(template, values)
    for name in macros.unknown(template.split("#")[0]):  # a fragment is never sent
        assert f"%7B{name}%7D" in rendered or f"{{{name}}}" in rendered  # braces encoded, but in a host


@PROPERTY
@given(unknown_names, st.text())
def test_an_unknown_macro_is_sent_with_its_braces_encoded_and_reported(name, value):
    template = f"https://tracker.example/pb?x={{{name}}}&c={{clickid}}&again={{{name}}}"
    rendered = macros.render(template, {"clickid": value})
    assert rendered.startswith(f"https://tracker.example/pb?x=%7B{name}%7D&c=")
    assert rendered.endswith(f"&again=%7B{name}%7D")
    assert macros.unknown(template) == [name]


@PROPERTY
@given(st.text(), st.dictionaries(macro_names, st.text()))
def test_rendering_is_the_same_every_time_except_for_rand(template, values):
    first, second = macros.render(template, values), macros.render(template, values)
    if "{rand}" not in template:
        assert first == second
    else:
        assert first != second
        assert UUID.sub("R", first) == UUID.sub("R", second)
        assert all(uuid.UUID(found) for found in UUID.findall(first))


@PROPERTY
@given(st.dictionaries(macro_names, st.text()))
def test_a_post_body_carries_every_value_as_it_is(values):
    body = dict(parse_qsl(macros.form_body(values), keep_blank_values=True))
    assert body == {name: values.get(name, "") for name in macros.MACROS if name != "rand"}


# --- The URL check ------------------------------------------------------------------------------

url_like = st.builds(
    "{}{}{}{}{}".format,
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", "http:", "http:///", ""]),
    st.one_of(st.just(""), st.text(max_size=8).map("{}@".format)),
    st.one_of(st.text(max_size=20), private_hosts().map(lambda host: host[0])),
    st.one_of(st.just(""), st.text(max_size=6).map(":{}".format), st.integers(-5, 70000).map(":{}".format)),
    st.text(max_size=20),
)


@PROPERTY
@given(st.one_of(st.text(), url_like))
def test_the_url_check_never_raises(url):
    with numbers_only_dns(), override_settings(POSTBACK_ALLOW_PRIVATE_NETWORKS="false"):
        problem = outbound.url_problem(url)
    assert problem is None or (isinstance(problem, str) and problem)


@PROPERTY
@given(private_hosts(), st.sampled_from(["", ":80", ":8443"]), st.sampled_from(["http", "https"]))
def test_a_private_address_is_refused_when_saved_however_it_is_written(host, port, scheme):
    written, address = host
    with numbers_only_dns(), override_settings(POSTBACK_ALLOW_PRIVATE_NETWORKS="false"):
        problem = outbound.url_problem(f"{scheme}://{written}{port}/pb?c={{clickid}}")
    assert problem is not None and f"resolves to {address}, {PRIVATE}" in problem


@hypothesis.settings(PROPERTY, max_examples=100)
@given(st.one_of(ipv4_spellings(ipaddress.IPv4Address("127.0.0.1")), addresses_in(["127.0.0.0/8"]).map(str)))
def test_a_loopback_address_is_refused_when_sent_however_it_is_written(private_server, written):
    request = outbound.Request("GET", f"http://{written}:{private_server.port}/pb", "", {})

    async def send():
        async with outbound.new_session() as session:
            return await outbound.send(session, request)

    with override_settings(POSTBACK_ALLOW_PRIVATE_NETWORKS="false"):
        outcome = asyncio.run(send())

    assert outcome.http_code == 0 and PRIVATE in outcome.error
    assert private_server.log == []
