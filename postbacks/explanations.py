"""What came of a postback request, in words an affiliate can act on.

A delivery and each of its attempts record the HTTP code of the answer (0 when there was none,
None before the first attempt) and an error text, written by postbacks.outbound (or by
postbacks.queue when an answer could not be stored). Those texts are exact but technical
("Could not connect: [Errno 111] Connect call failed ('203.0.113.5', 8399)"). `explain` turns
the pair into a short title of what happened, a sentence of what to check, and the raw detail,
which pages keep one click away. Every page that shows a result, the integration test wizard and
the API call it, so they never explain one failure two ways.

Without an answer, the error text decides, tried in the order of RULES (the first that matches
wins: a refused private address is reported inside "Could not connect: ..." too, so it comes
before the connection failures). With one, the HTTP code decides, but for a redirect, whose text
names where it pointed (ANSWERED_RULES); an empty text leaves the HTTP code to decide. A text no
rule recognises (an exception of the HTTP client nobody has seen yet, rows from older versions)
gets a generic sentence, and the raw text stays in the detail.

A postback whose deliveries all failed for days is disabled with a reason (Postback.disabled_reason)
that ends with the last error as recorded: `disabled_reason` writes it, and `explain_disabled`
reads it back as words, that last error explained like any other result.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Explanation:
    title: str  # what happened, in a few words
    advice: str  # what to check, a sentence or two; "" when there is nothing to do
    detail: str  # the error text as recorded, "" when there was none
    http_code: int | None  # as recorded: 0 when there was no answer, None before any attempt
    failed: bool  # an attempt was made and did not succeed

    @property
    def code(self) -> str:
        """The HTTP code for a column of codes: "No answer" for 0, never "0"."""
        if self.http_code is None:
            return "–"
        return str(self.http_code) if self.http_code else "No answer"

    @property
    def answer(self) -> str:
        """The answer in a few words: "HTTP 404", "No answer", or "" before any attempt."""
        if self.http_code is None:
            return ""
        return f"HTTP {self.http_code}" if self.http_code else "No answer"


@dataclass(frozen=True)
class _Result:
    """What a rule may read: the recorded result and the URL it was sent to."""

    http_code: int
    error: str
    host: str
    port: str


def explain(*, http_code: int | None, error: str, url: str = "") -> Explanation:
    """The explanation of one recorded result; `url`, when given, lets the advice name the host."""
    result = _Result(http_code or 0, error or "", *_host_and_port(url))
    if http_code is None and not error:
        return Explanation("Not sent yet", "", "", None, failed=False)
    if 200 <= result.http_code < 300 and not error:
        return Explanation("Delivered", "", "", http_code, failed=False)
    for pattern, advice in ANSWERED_RULES if result.http_code else RULES:
        match = re.search(pattern, result.error)
        if match:
            title, text = advice(result, match)
            return Explanation(title, text, result.error, http_code, failed=True)
    title, text = _by_code(result)
    return Explanation(title, text, result.error, http_code, failed=True)


def _host_and_port(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "", ""
    default = {"http": "80", "https": "443"}.get(parts.scheme, "")
    return parts.hostname or "", str(port) if port else default


def _seconds(value: str) -> str:
    return f"{value} second" if value == "1" else f"{value} seconds"


def _the_host(result: _Result) -> str:
    return f"the host {result.host}" if result.host else "the host"


# --- The rules, by error text -----------------------------------------------------------------


def _unstored(result, match):
    return (
        "Answer could not be stored",
        "Your server answered, but its answer could not be stored on our side, so the postback "
        "counts as not delivered. This is not a fault of your server; if it repeats, send the "
        "technical detail to your manager.",
    )


def _private_address(result, match):
    address = match.group("address") or match.group("connected")
    if result.host and address and result.host != address:
        where = f"{result.host} points to {address}, which is"
    else:
        where = f"{address or result.host or 'the host'} is"
    return (
        "Address refused by our safety rules",
        f"Postbacks are sent to public internet addresses only, and {where} a private, local or "
        "reserved address. Use your server's public domain name or address.",
    )


def _url_refused(result, match):
    return ("Postback URL not accepted", f"{result.error} Edit the URL of the postback.")


def _connect_timeout(result, match):
    # The operating system's own timeout ("[Errno 110]") comes without a length.
    seconds = next(iter(match.groups()), None)
    within = f"within {_seconds(seconds)}" if seconds else "in time"
    return (
        "Timed out connecting",
        f"Your server did not accept the connection {within}. Check that it is running and "
        "reachable from the internet, and that no firewall drops our connections.",
    )


def _answer_timeout(result, match):
    return (
        "Timed out waiting for the answer",
        f"Your server took longer than {_seconds(match.group(1))} to answer. Answer at once (for "
        "example 200 OK) and do any slow work after answering.",
    )


def _host_not_found(result, match):
    return (
        "Host name not found",
        f"Check the domain name in your postback URL: {_the_host(result)} could not be found in "
        "DNS. Check its spelling and that the domain has an A or AAAA record.",
    )


def _certificate(result, match):
    reason = result.error.lower()
    if "self-signed" in reason or "self signed" in reason:
        why = "is self-signed. Use a certificate from a public authority (Let's Encrypt is free)."
    elif "expired" in reason:
        why = "has expired. Renew it."
    elif "hostname mismatch" in reason or "not valid for" in reason:
        why = f"is not valid for {result.host or 'the host in your URL'}. It must name that host."
    elif "local issuer" in reason or "issuer certificate" in reason:
        why = "chain is incomplete. Install the intermediate certificates on your server."
    else:
        why = "was not accepted. Check it with an SSL checker."
    return ("TLS certificate not accepted", f"Your server's https certificate {why}")


def _tls(result, match):
    return (
        "TLS (https) connection failed",
        "We could not set up a secure connection. Check that this port serves https with a "
        "current TLS version; if it serves plain http, use an http:// URL.",
    )


def _refused(result, match):
    address, port = match.group("address"), match.group("port") or result.port
    if address and ":" in address:
        address = f"[{address}]"  # IPv6, written as in a URL
    at = f" at {address}:{port}" if address and port else ""
    port_text = f"port {port}" if port else "the port in your URL"
    return (
        "Connection refused",
        f"Is your server running and listening on {port_text}? Nothing accepted the connection{at}; "
        "a firewall may also refuse it.",
    )


def _unreachable(result, match):
    return (
        "Server unreachable",
        f"No network route reached {_the_host(result)}. Check the address in your postback URL "
        "and that your server is reachable from the internet.",
    )


def _not_http(result, match):
    return (
        "Answer was not HTTP",
        "Something answered, but not in HTTP. Check that the port and the scheme (http:// or "
        "https://) in your URL are those of your web server.",
    )


def _closed(result, match):
    return (
        "Connection closed without an answer",
        "Your server closed the connection before answering. Check its error log: it may have "
        "failed on this request.",
    )


def _reset(result, match):
    return (
        "Connection reset",
        "Your server, or a firewall or proxy in front of it, cut the connection. Check their logs.",
    )


def _cut_off(result, match):
    return (
        "Answer cut off",
        "Your server stopped sending before the end of its answer. Check its error log.",
    )


def _redirect(result, match):
    target = match.group(2)
    sent = f"sent us to {target}" if target != "nowhere" else "answered with a redirect to no address"
    return (
        f"Redirect ({match.group(1)}) not followed",
        f"Your server {sent}. Postbacks follow no redirects: put the final address in the postback URL.",
    )


ERRNO = r"\[Errno (?:{})\]"
# (pattern searched in the error text, advice): the first that matches explains the error.
RULES: list[tuple[str, Callable[[_Result, re.Match], tuple[str, str]]]] = [
    (r"^The answer.* could not be stored", _unstored),
    (
        r"resolves to (?P<address>[^\s,]+), a private|(?P<connected>[^\s,]+) is a private, local or reserved",
        _private_address,
    ),
    (
        r"^(This is not a valid URL|Only http:// and https://|Credentials in the URL|The URL has no host"
        r"|Macros are allowed in the path|The URL contains spaces)",
        _url_refused,
    ),
    (r"^Timed out connecting \(after ([\d.]+) s\)", _connect_timeout),
    (r"^Timed out: no complete answer in ([\d.]+) s", _answer_timeout),
    (
        ERRNO.format(r"-\d+")
        + r"|Name or service not known|No address associated with hostname|nodename nor servname"
        r"|Temporary failure in name resolution|Domain name not found",
        _host_not_found,
    ),
    (r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|CertificateError", _certificate),
    (r"\[SSL|SSLError|TLS/SSL", _tls),
    (
        ERRNO.format("111") + r"(?: Connect call failed \('(?P<address>[^']*)', (?P<port>\d+))?"
        r"|Connection refused",
        _refused,
    ),
    (ERRNO.format("113|101|65|51") + "|No route to host|Network is unreachable", _unreachable),
    (ERRNO.format("110|60"), _connect_timeout),
    (r"^Invalid HTTP answer", _not_http),
    (r"ServerDisconnectedError|Server disconnected", _closed),
    (r"Connection reset|ConnectionResetError|\[Errno 104\]|\[Errno 54\]", _reset),
    (r"ClientPayloadError|payload is not completed", _cut_off),
]
# An answer's error text quotes the server (a redirect names its Location): only this rule reads
# it, so that words in a Location never pass for a failure to connect.
ANSWERED_RULES: list[tuple[str, Callable[[_Result, re.Match], tuple[str, str]]]] = [
    (r"^Redirect \((\d+)\) to (.*) not followed", _redirect),
]


# --- The rules, by HTTP code --------------------------------------------------------------------

# What to check when the server answered with one of these codes.
BY_CODE = {
    400: "Your server refused the request: check the parameters it expects against the macros in "
    "your postback URL. Its answer may say what is wrong.",
    401: "Your server asks for credentials: put the token or key it expects in the postback URL, "
    "or let our requests through without one.",
    403: "Your server refused us access: check any token in the postback URL, and that its "
    "firewall or allowlist lets our requests through.",
    404: "Your server has no page at this address: check the path in your postback URL.",
    405: "Your server does not take this method (GET or POST) at this address: change the "
    "postback's method or your server.",
    410: "Your server says this address no longer exists: update your postback URL.",
    429: "Your server asked us to slow down: raise its rate limit for our requests. Retries wait "
    "for its Retry-After, when it sends one.",
    500: "Your server failed while handling the postback: check its error log.",
    502: "A proxy in front of your server got no valid answer from it: check that the "
    "application behind the proxy is running.",
    503: "Your server is unavailable or overloaded: check that it is running.",
    504: "A proxy in front of your server waited too long for it: make it answer faster, and do "
    "slow work after answering.",
}


def _by_code(result: _Result) -> tuple[str, str]:
    code = result.http_code
    if not code and result.error:
        return (
            "Not delivered",
            "The postback could not be sent. The technical detail says why; if it does not help, "
            "send it to your manager.",
        )
    if not code:
        return "No answer", "Check that your server is running and reachable from the internet."
    title = f"Answered {code} ({_phrase(code)})" if _phrase(code) else f"Answered {code}"
    if code in BY_CODE:
        return title, BY_CODE[code]
    if 300 <= code < 400:
        return f"Redirect ({code}) not followed", (
            "Postbacks follow no redirects: put the final address in the postback URL."
        )
    if 400 <= code < 500:
        return title, "Your server refused the postback: its answer and its log may say why."
    if 500 <= code < 600:
        return title, "Your server failed while handling the postback: check its error log."
    return title, "Postbacks need a 2xx answer (for example 200 OK)."


def _phrase(code: int) -> str:
    """The standard reason phrase ("Not Found"), "" for a code that has none."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


# --- A postback disabled for failing --------------------------------------------------------------


@dataclass(frozen=True)
class DisabledReason:
    summary: str  # when and why it was disabled, in words; a reason written otherwise, as it is
    last_failure: Explanation | None  # the last error explained; None when the reason names none

    @property
    def text(self) -> str:
        """The reason in words alone, for a line of text: without the raw error."""
        if self.last_failure is None:
            return self.summary
        advice = f" {self.last_failure.advice}" if self.last_failure.advice else ""
        return f"{self.summary} Last failure: {self.last_failure.title}.{advice}"


def disabled_reason(*, at: datetime, days: int, error: str) -> str:
    """The reason stored when a postback is disabled because every delivery failed for `days`
    days, `error` the last one as recorded; `explain_disabled` reads it back."""
    return f"Disabled on {at:%Y-%m-%d %H:%M} UTC: every delivery failed for {days} days. Last error: {error}"


_DISABLED = re.compile(
    r"(?P<summary>Disabled on .+? UTC: every delivery failed for \d+ days?\.) Last error: (?P<error>.*)", re.S
)
# The error texts of an answer name its HTTP code (postbacks.outbound), which the reason does not
# keep apart.
_ANSWER_CODE = re.compile(r"HTTP (\d{3}):|Redirect \((\d{3})\)")


def explain_disabled(reason: str, *, url: str = "") -> DisabledReason:
    """Why a postback was disabled, in words, from its stored reason; `url`, the postback's, lets
    the advice name the host. A reason that names no last error is kept as it is."""
    match = _DISABLED.fullmatch(reason)
    if match is None:
        return DisabledReason(reason, None)
    error = match.group("error")
    answered = _ANSWER_CODE.match(error)
    http_code = int(answered.group(1) or answered.group(2)) if answered else 0
    return DisabledReason(match.group("summary"), explain(http_code=http_code, error=error, url=url))
