"""The one module that calls affiliates' servers, and the outbound safety rules it enforces.

Postback URLs come from untrusted users, so a URL is checked twice:
- when it is saved (`url_problem`): http or https only, no credentials, and a host that resolves
  only to public addresses; a host that does not resolve yet is accepted and checked at sending;
- when it is sent, on the address actually connected to: the HTTP client resolves names through
  `PublicAddressResolver`, which hands the connector only allowed addresses, so a name that
  resolves to a public address at saving and to a private one later (DNS rebinding) is refused.
  Address literals, which need no resolving, are checked before connecting.

Requests follow no redirects (a 3xx is a failure), use no proxy from the environment, and time
out after POSTBACK_CONNECT_TIMEOUT (3 s) to connect and POSTBACK_TOTAL_TIMEOUT (10 s) in all.
Only the first 1 KiB of an answer is read.

POSTBACK_ALLOW_PRIVATE_NETWORKS (off by default) allows private addresses, or only the given
networks, for development and tests.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from functools import cache, lru_cache
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver
from django.conf import settings

EXCERPT_BYTES = 1024
NAT64 = ipaddress.ip_network("64:ff9b::/96")
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
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def url_problem(url: str) -> str | None:
    """Why a postback URL is refused, or None. Resolves the host (see the module docstring)."""
    if any(character.isspace() or ord(character) < 32 or ord(character) == 127 for character in url):
        return "The URL contains spaces or control characters: percent-encode them."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "This is not a valid URL."
    if parts.scheme not in ("http", "https"):
        return "Only http:// and https:// URLs are allowed."
    if parts.username is not None or parts.password is not None:
        return "Credentials in the URL (user:password@) are not allowed."
    host = parts.hostname or ""
    if not host:
        return "The URL has no host."
    if "{" in host or "}" in host:
        return "Macros are allowed in the path and query, not in the host."
    literal = _literal_address(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            return None  # not resolvable now: checked again, on the address, when sending
        addresses = [info[4][0] for info in found]
    refused = [address for address in addresses if not address_allowed(address)]
    if refused:
        return (
            f"The host {host} resolves to {refused[0]}, a private, local or reserved address: "
            "postbacks can only be sent to public addresses."
        )
    return None


class PublicAddressResolver(AbstractResolver):
    """Resolves like the system resolver, then keeps only addresses a postback may connect to."""

    def __init__(self):
        self._resolver = ThreadedResolver()

    async def resolve(self, host, port=0, family=socket.AF_INET):
        found = await self._resolver.resolve(host, port, family)
        allowed = [entry for entry in found if address_allowed(entry["host"])]
        if not allowed:
            raise OSError(f"{host} resolves to {found[0]['host']}, which postbacks may not reach")
        return allowed

    async def close(self):
        await self._resolver.close()


# --- Sending ---------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    url: str
    body: str
    headers: dict


@dataclass
class Outcome:
    http_code: int  # 0 when there was no answer
    error: str
    excerpt: str
    duration_ms: int
    retry_after: str = ""

    @property
    def succeeded(self) -> bool:
        return 200 <= self.http_code < 300


def new_session(*, limit_per_host: int = 0) -> aiohttp.ClientSession:
    """The HTTP client of postbacks. Create it inside the event loop that will use it."""
    connector = aiohttp.TCPConnector(
        resolver=PublicAddressResolver(), limit=0, limit_per_host=limit_per_host, ttl_dns_cache=60
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
    problem = _send_problem(request.url)
    if problem:
        return Outcome(0, problem, "", 0)
    try:
        async with session.request(
            request.method,
            request.url,
            data=request.body.encode() if request.method == "POST" else None,
            headers=request.headers,
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
        return Outcome(0, _one_line(f"Could not connect: {exc.os_error or exc}"), "", _since(started))
    except aiohttp.ClientResponseError as exc:  # what came back was not HTTP
        return Outcome(0, _one_line(f"Invalid HTTP answer: {exc.message}"), "", _since(started))
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Outcome(0, _one_line(f"{type(exc).__name__}: {exc}"), "", _since(started))
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
    # The scheme was checked when the postback was saved: what follows "//" up to the next "/"
    # is the address part. Cached: most deliveries go to a few hosts.
    return _address_problem(url.split("/", 3)[2] if url.count("/") >= 2 else "")


@lru_cache(maxsize=4096)
def _address_problem(netloc: str) -> str:
    try:
        host = urlsplit(f"//{netloc}").hostname or ""
    except ValueError:
        return "This is not a valid URL."
    literal = _literal_address(host)
    if literal is not None and not address_allowed(str(literal)):
        return f"Refused: {literal} is a private, local or reserved address"
    return ""


def _error_for(code: int, location: str) -> str:
    if 200 <= code < 300:
        return ""
    if 300 <= code < 400:
        return f"Redirect ({code}) to {location or 'nowhere'} not followed: a postback needs a 2xx answer"[
            :255
        ]
    return f"HTTP {code}: a postback needs a 2xx answer"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:255]


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
