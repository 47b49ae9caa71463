"""Hostile input on the public tracking endpoints: /click, /postback (GET and POST) and /pixel.

Hypothesis builds query strings of random and known parameter names with arbitrary values:
invalid UTF-8 escapes (%ff), NUL and control characters, broken escapes, very long values, many
and repeated parameters, on top of valid parameters (a real offer, affiliate and click), so that
the deep code paths run, not only the first check. Clicks come with fuzzed user agents,
Accept-Language headers and client addresses (public, private and reserved IPv4 and IPv6, zones,
malformed ones, in the connection and in the proxy's header), so that the visitor context and its
macros run on them. POST bodies are arbitrary bytes in various content types, up to over the
upload limit. The endpoints must never answer a 5xx, must answer
in their documented format, and must not store anything for a request they refuse.

FUZZ_MAX_EXAMPLES raises the number of requests per test (200) for a longer run.
"""

import io
import json
import os
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, quote_from_bytes, urlsplit
from wsgiref.headers import Headers

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.wsgi import application
from conversions.endpoints import EMPTY_PAGE, PIXEL_GIF
from conversions.intake import CLICK_ID_PARAMETERS, EXTRA_PARAMETERS, STORED_PARAMETERS
from conversions.models import Conversion, ConversionEvent, DeclineReason, IntegrationMethod, ServerPostback
from tests.factories import ClickFactory, OfferFactory
from tracking.cookie import COOKIE_NAME
from tracking.models import CLICK_PARAMETERS, Click

pytestmark = pytest.mark.usefixtures("direct_writes", "connection_kept")

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
DESTINATION = (
    "https://advertiser.example/landing?click_id={clickid}&s1={sub1}&ua={ua}&ip={ip}"
    "&geo={geo}&region={region}&city={city}&os={os}&osv={os_version}&dt={device_type}"
    "&model={device_model}&browser={browser}&lang={language}"
)
CLICK_REFUSALS = {400, 403, 404}
POSTBACK_NAMES = [
    *CLICK_ID_PARAMETERS,
    "action_id",
    "goal",
    "sum",
    "status",
    "ip",
    "ua",
    "referrer",
    "secure",
    "currency",
    "offer_id",
    "pid",
    "afstatus",
    *STORED_PARAMETERS,
    *EXTRA_PARAMETERS,
    "sub1",
]
HOSTILE_VALUES = [
    "",
    "\x00",
    "\r\n",
    "\x1b[31m",
    "\u2028",
    "\ufeff",
    "0",
    "-1",
    "1",
    "4",
    "5",
    "9" * 40,
    "١٢٣",
    "²",
    "NaN",
    "sNaN",
    "-Infinity",
    "1e999999999",
    "1E-999999999",
    "99999999999999.99999",
    "-0",
    "fe80::1%eth0",
    "::ffff:203.0.113.9",
    "999.1.1.1",
    "x" * 512,
    "x" * 513,
    "x" * 2049,
    "{clickid}",
    "usd",
    "ＵＳＤ",
    "0" * 24,
    "g" * 24,
    "A" * 24,
    "install",
    "INSTALL",
]
PLAUSIBLE_VALUES = [
    "1",
    "2",
    "3",
    "5",
    "install",
    "sale",
    "SALE",
    "purchase",
    "12.50",
    "0",
    "1e3",
    "USD",
    "eur",
    "203.0.113.9",
    "2001:db8::1",
    "order-1",
    "order-2",
    "s3cret",
]
BROKEN_ESCAPES = [
    b"%",
    b"%f",
    b"%zz",
    b"%%",
    b"%u0041",
    b"%C3",
    b"%ED%A0%80",
    b"%F4%90%80%80",
    b"%C0%80",
    b"+",
]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=no-such-charset",
    "multipart/form-data; boundary=fuzz",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "application/json",
    "text/plain; charset=utf-8",
    "application/octet-stream",
    "",
]


def _utf8(text: str) -> bytes:
    return quote(text.encode("utf-8", "surrogatepass"), safe="").encode()


def mostly(usual, unusual, one_in):
    """`usual`, and `unusual` in about one draw out of `one_in`."""
    return st.integers(1, one_in).flatmap(lambda roll: unusual if roll == 1 else usual)


# Values a real integration sends: they get past the first checks, so that later ones run
# (goals, statuses, sums, currencies, repeats and status changes of a conversion).
plausible = st.one_of(
    st.sampled_from(PLAUSIBLE_VALUES),
    st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=16),
).map(_utf8)
# As it appears in a query string: any text, arbitrary bytes percent-encoded (mostly invalid
# UTF-8), bytes sent as they are (NUL and control bytes included), broken escapes, long runs.
hostile = st.one_of(
    st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE_VALUES)).map(_utf8),
    st.binary(max_size=30).map(lambda raw: quote_from_bytes(raw, safe="").encode()),
    st.binary(max_size=20).map(lambda raw: raw.replace(b"&", b"").replace(b"=", b"").replace(b"#", b"")),
    st.sampled_from(BROKEN_ESCAPES),
    st.integers(513, 100_000).map(lambda length: b"x" * length),
)
tokens = mostly(plausible, hostile, one_in=4)


def pairs(names):
    """`name=value` pieces: mostly known names (so values reach their checks), or random ones;
    once in a while more of them than Django reads (DATA_UPLOAD_MAX_NUMBER_FIELDS, 1000)."""
    name = mostly(st.sampled_from(names).map(str.encode), tokens, one_in=3)
    piece = mostly(st.tuples(name, tokens).map(b"=".join), name, one_in=10)
    many = st.integers(900, 2500).map(lambda count: [b"p%d=%d" % (n, n) for n in range(count)])
    return mostly(st.lists(piece, max_size=6), many, one_in=25)


def _as_header(text: str) -> str:
    """A header value as the application gets it: its UTF-8 bytes shown as latin-1 text."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def query_string(base: dict[str, str], extra: list[bytes], base_first: bool) -> str:
    """The raw query as a WSGI server hands it over: bytes shown as latin-1 text. Whichever comes
    last wins for a parameter given twice."""
    valid = [_utf8(name) + b"=" + _utf8(value) for name, value in base.items()]
    pieces = valid + extra if base_first else extra + valid
    return b"&".join(pieces).decode("latin-1")


@dataclass
class Answer:
    status: int
    headers: Headers
    body: bytes

    @property
    def cookies(self) -> SimpleCookie:
        return SimpleCookie("; ".join(self.headers.get_all("Set-Cookie")))


def send(method, path, query, *, body=b"", content_type=None, **headers) -> Answer:
    """One request to the real WSGI application (config.wsgi), as gunicorn would hand it over: what
    Django does before any view or middleware (building the request) is under test too."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "203.0.113.50",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        **({"CONTENT_TYPE": content_type} if content_type is not None else {}),
        **headers,
    }
    started = []
    chunks = application(
        environ, lambda status, header_list, exc_info=None: started.append((status, header_list))
    )
    try:
        content = b"".join(chunks)
    finally:
        chunks.close()
    status, header_list = started[0]
    return Answer(int(status.split()[0]), Headers(header_list), content)


@pytest.fixture
def offer():
    return OfferFactory(
        destination_url=DESTINATION,
        goals=[
            {"value": "install", "title": "Install", "default_status": 2},
            {"value": "sale", "title": "Sale", "default_status": 1},
        ],
    )


@pytest.fixture
def click(offer, affiliate):
    return ClickFactory(offer=offer, affiliate=affiliate, sub1="aff-7")


def counts():
    return {
        "clicks": Click.objects.count(),
        "conversions": Conversion.objects.count(),
        "events": ConversionEvent.objects.count(),
        "log": ServerPostback.objects.count(),
    }


# --- /click -----------------------------------------------------------------------------

USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "' OR 1=1; --",
    "<script>alert(1)</script>",
]
LANGUAGES = ["en-US,en;q=0.9", "de-CH, de;q=0.9", "*", "zh-hant-tw", "en_US", "de-" * 100, ";q=1", ","]
ADDRESSES = [
    "8.8.8.8",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "10.0.0.1",
    "192.168.1.1",
    "fd00::1",
    "127.0.0.1",
    "::1",
    "169.254.1.1",
    "fe80::1",
    "fe80::1%eth0",
    "2a00:1450:4001:80b::200e%1",
    "0.0.0.0",
    "::",
    "100.64.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "224.0.0.1",
    "2001:db8::1",
    "999.1.1.1",
    "1.2.3",
    "08.8.8.8",
    "8.8.8.8%eth0",
    "[::1]",
    "::g",
    "",
]
user_agents = st.one_of(
    st.sampled_from(USER_AGENTS), st.text(max_size=600), st.sampled_from(["\x00", "x" * 5000, "\ud800"])
).map(_as_header)
# Text as a client would send it, or raw bytes as the server hands them over.
raw_header = st.binary(max_size=60).map(lambda raw: raw.decode("latin-1"))
accept_languages = st.one_of(
    st.one_of(st.sampled_from(LANGUAGES), st.text(max_size=100), st.just("x" * 5000)).map(_as_header),
    raw_header,
)
addresses = st.one_of(
    st.sampled_from(ADDRESSES),
    st.ip_addresses().map(str),
    st.text(max_size=50),
)
# What the proxy's header holds: one address or a chain of them, or anything at all.
forwarded = st.one_of(st.lists(addresses, min_size=1, max_size=3).map(", ".join).map(_as_header), raw_header)
COUNTRY = re.compile("[A-Z]{2}|")
# The visitor of the examples that are about the query string.
ANYWHERE = {"accept_language": "", "remote_addr": "203.0.113.50", "forwarded_for": None}


def assert_a_visitor_context(location: str):
    """The landing page URL holds a visitor context the columns and rules allow."""
    values = {
        name: found[0] for name, found in parse_qs(urlsplit(location).query, keep_blank_values=True).items()
    }
    assert COUNTRY.fullmatch(values["geo"]), values["geo"]
    assert values["dt"] in ("", "desktop", "mobile", "tablet", "bot"), values["dt"]
    assert len(values["lang"]) <= 16


@FUZZ
@given(
    extra=pairs(["pid", "offer_id", "format", *CLICK_PARAMETERS]),
    base_first=st.booleans(),
    user_agent=user_agents,
    referrer=st.text(max_size=100).map(_as_header),
    accept_language=accept_languages,
    remote_addr=addresses,
    forwarded_for=st.one_of(st.none(), forwarded),
)
@example(extra=[b"sub1=%ff"], base_first=True, user_agent="", referrer="", **ANYWHERE)
@example(extra=[b"sub1=%00"], base_first=True, user_agent="", referrer="", **ANYWHERE)
@example(extra=[b"sub1=" + b"x" * 513], base_first=True, user_agent="", referrer="", **ANYWHERE)
@example(extra=[b"pid=\xff", b"offer_id=%ff"], base_first=True, user_agent="", referrer="", **ANYWHERE)
@example(extra=[b"format=json"], base_first=True, user_agent="\x00", referrer="\x00", **ANYWHERE)
@example(
    extra=[],
    base_first=True,
    user_agent=USER_AGENTS[0],
    referrer="",
    accept_language="en-US",
    remote_addr="127.0.0.1",
    forwarded_for="8.8.8.8",
)
@example(
    extra=[b"format=json"],
    base_first=True,
    user_agent=_as_header("\ud800" * 600),
    referrer="",
    accept_language=_as_header("\x00" * 300),
    remote_addr="fe80::1%eth0",
    forwarded_for="2a00:1450:4001:80b::200e%1, ::g",
)
def test_click_answers_a_redirect_or_a_refusal_and_stores_only_what_it_redirects(
    offer, affiliate, extra, base_first, user_agent, referrer, accept_language, remote_addr, forwarded_for
):
    before = counts()
    query = query_string({"pid": str(affiliate.pid), "offer_id": str(offer.offer_id)}, extra, base_first)
    headers = {
        "HTTP_USER_AGENT": user_agent,
        "HTTP_REFERER": referrer,
        "HTTP_ACCEPT_LANGUAGE": accept_language,
    }
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    # Behind a proxy when it sends its header, so that the header's address is the one looked up.
    with override_settings(CLIENT_IP_HEADER="X-Forwarded-For" if forwarded_for is not None else ""):
        response = send("GET", "/click", query, REMOTE_ADDR=remote_addr, **headers)

    recorded = counts()["clicks"] - before["clicks"]
    if response.status == 302:
        assert response.headers["Location"].startswith("https://advertiser.example/landing?click_id=")
        assert_a_visitor_context(response.headers["Location"])
    elif response.status == 200:
        assert response.headers["Content-Type"] == "application/json"
        redirect_url = json.loads(response.body)["redirect_url"]
        assert redirect_url.startswith("https://advertiser.example/landing?click_id=")
        assert_a_visitor_context(redirect_url)
    else:
        # The error page, or the error as JSON with format=json.
        assert response.status in CLICK_REFUSALS, response.status
        assert response.headers["Content-Type"].split(";")[0] in ("text/html", "application/json")
        assert recorded == 0 and COOKIE_NAME not in response.cookies
        return
    assert recorded == 1
    assert Click.objects.filter(click_id=response.cookies[COOKIE_NAME].value, offer=offer).exists()


# --- /postback --------------------------------------------------------------------------


def assert_postback_answer(response, before):
    """A JSON answer with `status`; an accepted postback names a stored conversion, a refused one
    stores none; each one is logged."""
    assert response.status < 500
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    after = counts()
    assert after["log"] == before["log"] + 1
    if body["status"] == 1:
        reasons = body["message"].removeprefix("declined: ").split("; ")
        declined = body["message"].startswith("declined: ") and set(reasons) <= set(DeclineReason.values)
        assert response.status == 200 and (body["message"] in ("ok", "duplicate") or declined)
        assert Conversion.objects.filter(conversion_id=body["conversion_id"]).exists()
        if body["message"] == "duplicate":
            assert after["conversions"] == before["conversions"]
    else:
        assert body["status"] == 2 and 400 <= response.status < 500 and body["message"]
        assert (after["conversions"], after["events"]) == (before["conversions"], before["events"])


@FUZZ
@given(extra=pairs(POSTBACK_NAMES), base_first=st.booleans())
@example(extra=[b"ip=fe80::1%25eth0"], base_first=True)
@example(extra=[b"sum=99999999999999.99999"], base_first=True)
@example(extra=[b"status=%ff", b"goal=%00"], base_first=True)
@example(extra=[b"clickid=%ff"], base_first=True)
@example(extra=[b"p%d=1" % n for n in range(1500)], base_first=True)
def test_a_fuzzed_get_postback_answers_json_and_refusals_store_nothing(click, extra, base_first):
    before = counts()
    query = query_string({"clickid": click.click_id}, extra, base_first)
    response = send("GET", "/postback", query)
    assert_postback_answer(response, before)


bodies = st.one_of(
    st.binary(max_size=300),
    pairs(POSTBACK_NAMES).map(b"&".join),
    st.lists(st.tuples(st.sampled_from(POSTBACK_NAMES), st.binary(max_size=40)), max_size=6).map(
        lambda fields: (
            b"".join(
                b'--fuzz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name.encode(), value)
                for name, value in fields
            )
            + b"--fuzz--\r\n"
        )
    ),
    # Over the upload limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB).
    st.integers(2_700_000, 3_000_000).map(lambda length: b"comment=" + b"x" * length),
)


@FUZZ
@given(
    query_extra=pairs(POSTBACK_NAMES),
    body=bodies,
    content_type=st.sampled_from(CONTENT_TYPES),
    click_id_in_body=st.booleans(),
)
@example(query_extra=[], body=b"\xff\xfe=\x00", content_type=CONTENT_TYPES[0], click_id_in_body=False)
@example(query_extra=[], body=b"--fuzz\r\n", content_type=CONTENT_TYPES[3], click_id_in_body=False)
@example(query_extra=[], body=b"x" * 3_000_000, content_type=CONTENT_TYPES[0], click_id_in_body=False)
@example(
    query_extra=[], body=b"&".join([b"f=1"] * 1500), content_type=CONTENT_TYPES[0], click_id_in_body=False
)
# A charset makes Django parse the query string while it builds the request, before any view.
@example(
    query_extra=[b"p%d=1" % n for n in range(1500)],
    body=b"",
    content_type="text/plain; charset=utf-8",
    click_id_in_body=False,
)
@example(query_extra=[], body=b"sum=1", content_type=CONTENT_TYPES[1], click_id_in_body=True)
def test_a_fuzzed_post_postback_answers_json_and_refusals_store_nothing(
    click, query_extra, body, content_type, click_id_in_body
):
    before = counts()
    if click_id_in_body and content_type.startswith("application/x-www-form-urlencoded"):
        body = b"clickid=" + click.click_id.encode() + b"&" + body
        query = query_string({}, query_extra, True)
    else:
        query = query_string({"clickid": click.click_id}, query_extra, True)
    response = send("POST", "/postback", query, body=body, content_type=content_type)
    assert_postback_answer(response, before)


# --- /pixel -----------------------------------------------------------------------------


cookies = st.one_of(
    st.just("real"),
    st.sampled_from(HOSTILE_VALUES),
    st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),
)


@FUZZ
@given(
    extra=pairs(["offer_id", "goal", "sum", "afstatus", *POSTBACK_NAMES]),
    base_first=st.booleans(),
    cookie=cookies,
)
@example(extra=[b"afstatus=%ff"], base_first=True, cookie="real")
@example(extra=[b"p%d=1" % n for n in range(1500)], base_first=True, cookie="real")
@example(extra=[], base_first=True, cookie="\x00;afclick=%ff")
@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/pixel", ("image/gif", PIXEL_GIF)),
        ("/success.jpg", ("image/gif", PIXEL_GIF)),
        ("/success.php", ("text/html; charset=utf-8", EMPTY_PAGE.encode())),
    ],
)
def test_the_pixels_always_answer_their_image_or_page_and_refusals_store_nothing(
    offer, click, path, answer, extra, base_first, cookie
):
    before = counts()
    cookie_value = click.click_id if cookie == "real" else _as_header(cookie)
    query = query_string({"offer_id": str(offer.offer_id), "goal": "sale"}, extra, base_first)
    response = send("GET", path, query, HTTP_COOKIE=f"{COOKIE_NAME}={cookie_value}")

    assert response.status == 200 and (response.headers["Content-Type"], response.body) == answer
    after = counts()
    assert after["log"] == before["log"] + 1
    logged = ServerPostback.objects.order_by("-pk").first()
    if logged.outcome == ServerPostback.Outcome.REJECTED:
        assert (after["conversions"], after["events"]) == (before["conversions"], before["events"])
    elif logged.conversion.integration_method == IntegrationMethod.PROBABILISTIC:
        # The fuzzed parameters named an affiliate (pid) beside the offer: a pixel then records a
        # probabilistic conversion, linked to a click only by the visitor's address.
        assert logged.conversion.click in (None, click)
    else:
        assert logged.conversion.click == click
