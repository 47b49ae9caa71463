"""The one module that calls affiliates' servers, and the outbound safety rules it enforces.

Postback URLs come from untrusted users, so a URL is checked twice:
- when it is saved (`url_problem`): http or https only, no credentials, and a host that resolves
  only to public addresses; a host that does not resolve yet is accepted and checked at sending
  (and, before all, no blank of a tracker template such as `<domain>` left to fill in);
- when it is sent: the same checks of the URL (a row may predate them, or its host may have
  changed), then, on the address actually connected to, twice: the HTTP client resolves names
  through `PublicAddressResolver`, which hands the connector only allowed addresses, so a name
  that resolves to a public address at saving and to a private one later (DNS rebinding) is
  refused; and every socket is opened by `_socket_for`, which refuses a private address however
  the URL spelled it.

The host is read as the HTTP client reads it (yarl), and IPv4 addresses are recognised in every
form that URL parsers and inet_aton() accept (2130706433, 0x7f.1, 0177.0.0.1, 127.1,
"127.0.0.1."), so no spelling of a private address passes for a name that does not resolve yet.

Requests follow no redirects (a 3xx is a failure), use no proxy from the environment, and time
out after POSTBACK_CONNECT_TIMEOUT (3 s) to connect and POSTBACK_TOTAL_TIMEOUT (10 s) in all.
Only the first 1 KiB of an answer is read.

A URL goes out in its wire form (`wire_url`), which the HTTP client sends as it is, so the
signature (`signature`), computed here over the request target of the request line, covers
exactly what the affiliate's server receives, and the URL logged is the URL sent. Whatever an
answer holds (any bytes, any header) becomes storable text where every `Outcome` is made.

POSTBACK_ALLOW_PRIVATE_NETWORKS (off by default) allows private addresses, or only the given
networks, for development and tests.
"""

import hashlib
import hmac
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from functools import cache, lru_cache
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver
from django.conf import settings
from yarl import URL

from postbacks.trackers import unfilled_problem

EXCERPT_BYTES = 1024
ERROR_LENGTH = 255  # DeliveryAttempt.error
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
REFUSED = "a private, local or reserved address: postbacks can only be sent to public addresses"
USER_AGENT = "postback-sender/1"


# --- Which addresses may be called ------------------------------------------------------


@cache
def _allowed_networks(setting: str) -> tuple:
    value = setting.strip().lower()
    if value in ("", "false", "off", "no", "0"):
        return ()
    if value in ("true", "on", "yes", "1"):
        return (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in value.split(","))


def _is_public(address) -> bool:
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not _is_public(embedded):
            return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_loopback or address.is_link_local
    )


def address_allowed(address: str) -> bool:
    """Whether a postback may connect to this IP address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id names no other address
    if _is_public(ip):
        return True
    return any(ip in network for network in _allowed_networks(str(settings.POSTBACK_ALLOW_PRIVATE_NETWORKS)))


def _literal_address(host: str):
    """The IP address `host` spells, in any form a client would connect to, or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return _ipv4_any_form(host)


def _ipv4_any_form(host: str):
    """1 to 4 parts, each decimal, octal (leading 0) or hex (0x), the last filling the remaining
    bytes; one trailing dot allowed. None when `host` is not written so."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or not all(IPV4_PART.fullmatch(part) for part in parts):
        return None
    numbers = [
        int(part[2:] or "0", 16) if part[:2].lower() == "0x" else int(part, 8 if part[0] == "0" else 10)
        for part in parts
    ]
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def url_problem(url: str) -> str | None:
    """Why a postback URL is refused, or None. Resolves the host (see the module docstring)."""
    if any(character.isspace() or ord(character) < 32 or ord(character) == 127 for character in url):
        return "The URL contains spaces or control characters: percent-encode them."
    if problem := unfilled_problem(url):
        return problem
    problem, host, port = _checked(url)
    if problem or _literal_address(host) is not None:
        return problem or None
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None  # not resolvable now: checked again, on the address, when sending
    refused = [address for address in (info[4][0] for info in found) if not address_allowed(address)]
    if refused:
        return f"The host {host} resolves to {refused[0]}, {REFUSED}."
    return None


def _checked(url: str) -> tuple[str, str, int]:
    """The checks that need no DNS: (why the URL is refused or "", its host, its port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
        client_url = URL(url)  # the host as the HTTP client will read it
    except ValueError:
        return "This is not a valid URL.", "", 0
    if parts.scheme not in ("http", "https"):
        return "Only http:// and https:// URLs are allowed.", "", 0
    if parts.username is not None or parts.password is not None or client_url.user or client_url.password:
        return "Credentials in the URL (user:password@) are not allowed.", "", 0
    if not parts.hostname:
        return "The URL has no host.", "", 0
    if "{" in parts.hostname or "}" in parts.hostname:
        return "Macros are allowed in the path and query, not in the host.", "", 0
    host = client_url.raw_host or ""
    literal = _literal_address(host)
    if literal is not None and not address_allowed(str(literal)):
        return f"The host {host} resolves to {literal}, {REFUSED}.", host, 0
    return "", host, port or client_url.port or 0


class PublicAddressResolver(AbstractResolver):
    """Resolves like the system resolver, then keeps only addresses a postback may connect to."""

    def __init__(self):
        self._resolver = ThreadedResolver()

    async def resolve(self, host, port=0, family=socket.AF_INET):
        found = await self._resolver.resolve(host, port, family)
        allowed = [entry for entry in found if address_allowed(entry["host"])]
        if not allowed:
            raise OSError(f"{host} resolves to {found[0]['host']}, {REFUSED}")
        return allowed

    async def close(self):
        await self._resolver.close()


def _socket_for(addr_info) -> socket.socket:
    """Opens every connection of a postback: the last check, on the address itself, whatever
    the URL or the resolver made of the host."""
    family, kind, proto, _, address = addr_info
    if not address_allowed(address[0]):
        raise OSError(f"{address[0]} is {REFUSED}")
    return socket.socket(family, kind, proto)


# --- Sending ---------------------------------------------------------------------------


# What a request target may hold unencoded (RFC 3986: unreserved characters, sub-delimiters, ":",
# "@" and "/", and "?" in the query), besides the "%" of an escape.
PATH_CHARACTERS = "-._~!$&'()*+,;=:@/"
QUERY_CHARACTERS = PATH_CHARACTERS + "?"
WIRE_READY = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*")
STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and halves of surrogate pairs: no database takes them


def wire_url(url: str) -> str:
    """`url` as it goes on the wire, sent as it is: in the path and query, every character a
    request target cannot hold is percent-encoded (non-ASCII as UTF-8, spaces, the braces of a
    name that is not a macro, a "%" that starts no escape) and escapes already there are kept
    as they are; the path of a URL with a host is at least "/", the host is in its ASCII form,
    the fragment (never sent) is left out. Applying it again changes nothing. A URL too broken
    to read comes back unchanged: sending refuses it with the reason."""
    try:
        parts = urlsplit(url)
        wire = f"{parts.scheme}:" if parts.scheme else ""
        if parts.netloc.isascii():
            wire += f"//{parts.netloc}" if parts.netloc else ""
        else:
            wire += "//" + URL(f"http://{parts.netloc}").raw_authority  # IDNA, as the client reads it
        wire += _encoded(parts.path or ("/" if parts.netloc else ""), PATH_CHARACTERS)
        if parts.query:
            wire += "?" + _encoded(parts.query, QUERY_CHARACTERS)
    except (ValueError, UnicodeError):
        return url
    return wire


def _encoded(text: str, characters: str) -> str:
    if WIRE_READY.fullmatch(text):
        return text
    return quote(STRAY_PERCENT.sub("%25", text), safe=characters + "%")


def signature(secret: str, target: str, body: str, timestamp: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256>` of "<t>.<request target>", or "<t>.<request target>.<body>"
    when there is a body: the request target exactly as in the request line (path and query),
    which an affiliate's server recomputes from the request it received to know that it is ours
    and recent."""
    message = f"{timestamp}.{target}" + (f".{body}" if body else "")
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Request:
    method: str
    url: str
    body: str
    headers: dict
    signing_secret: str = ""  # when set, the request carries X-Postback-Signature


@dataclass
class Outcome:
    """What came of one request. Its text comes from the affiliate's server (any bytes, any
    header, any length), so it is made storable here, where every outcome is made: valid text
    without NUL, the error on one line of at most ERROR_LENGTH characters."""

    http_code: int  # 0 when there was no answer
    error: str
    excerpt: str
    duration_ms: int
    retry_after: str = ""

    def __post_init__(self):
        self.error = _storable(" ".join(self.error.split()))[:ERROR_LENGTH]
        self.excerpt = _storable(self.excerpt[:EXCERPT_BYTES])
        self.retry_after = _storable(self.retry_after[:ERROR_LENGTH])

    @property
    def succeeded(self) -> bool:
        return 200 <= self.http_code < 300


def _storable(text: str) -> str:
    return UNSTORABLE.sub("\ufffd", text)


def new_session(*, limit_per_host: int = 0) -> aiohttp.ClientSession:
    """The HTTP client of postbacks. Create it inside the event loop that will use it."""
    connector = aiohttp.TCPConnector(
        resolver=PublicAddressResolver(),
        socket_factory=_socket_for,
        limit=0,
        limit_per_host=limit_per_host,
        ttl_dns_cache=60,
    )
    timeout = aiohttp.ClientTimeout(
        total=settings.POSTBACK_TOTAL_TIMEOUT, sock_connect=settings.POSTBACK_CONNECT_TIMEOUT
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def send(session: aiohttp.ClientSession, request: Request) -> Outcome:
    """Make one postback request; never raises for what the affiliate's server does."""
    started = time.monotonic()
    url = wire_url(request.url)
    problem = _send_problem(url)
    if problem:
        return Outcome(0, problem, "", 0)
    try:
        sent = URL(url, encoded=True)  # the client sends it as it is: no re-encoding
        headers = request.headers
        if request.signing_secret:
            stamp = signature(request.signing_secret, sent.raw_path_qs, request.body, int(time.time()))
            headers = {**headers, "X-Postback-Signature": stamp}
        async with session.request(
            request.method,
            sent,
            data=request.body.encode() if request.method == "POST" else None,
            headers=headers,
            allow_redirects=False,
        ) as response:
            excerpt = (await _first_bytes(response)).decode("utf-8", "replace")
            code = response.status
            error = _error_for(code, response.headers.get("Location", ""))
            retry_after = response.headers.get("Retry-After", "") if code in (429, 503) else ""
    except aiohttp.ConnectionTimeoutError:
        seconds = settings.POSTBACK_CONNECT_TIMEOUT
        return Outcome(0, f"Timed out connecting (after {seconds} s)", "", _since(started))
    except TimeoutError:
        seconds = settings.POSTBACK_TOTAL_TIMEOUT
        return Outcome(0, f"Timed out: no complete answer in {seconds} s", "", _since(started))
    except aiohttp.ClientConnectorError as exc:
        return Outcome(0, f"Could not connect: {exc.os_error or exc}", "", _since(started))
    except aiohttp.ClientResponseError as exc:  # what came back was not HTTP
        return Outcome(0, f"Invalid HTTP answer: {exc.message}", "", _since(started))
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Outcome(0, f"{type(exc).__name__}: {exc}", "", _since(started))
    return Outcome(code, error, excerpt, _since(started), retry_after)


async def _first_bytes(response) -> bytes:
    """The first EXCERPT_BYTES of the body, however it is split into packets."""
    excerpt = await response.content.read(EXCERPT_BYTES)
    while excerpt and len(excerpt) < EXCERPT_BYTES:
        more = await response.content.read(EXCERPT_BYTES - len(excerpt))
        if not more:
            break
        excerpt += more
    return excerpt


def _send_problem(url: str) -> str:
    # What precedes the path decides; it repeats across deliveries, so its verdict is cached
    # (with the setting it depends on).
    head = "/".join(url.split("/", 3)[:3])
    return _address_problem(head, str(settings.POSTBACK_ALLOW_PRIVATE_NETWORKS))


@lru_cache(maxsize=4096)
def _address_problem(head: str, allowed_networks: str) -> str:
    return _checked(head)[0]


def _error_for(code: int, location: str) -> str:
    if 200 <= code < 300:
        return ""
    if 300 <= code < 400:
        return f"Redirect ({code}) to {location or 'nowhere'} not followed: a postback needs a 2xx answer"
    return f"HTTP {code}: a postback needs a 2xx answer"


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
