"""What came of a postback request, in words (postbacks.explanations): one row per kind of error
text that postbacks.outbound (and postbacks.queue, for an answer it could not store) writes, the
fallback for a text nobody has seen, and the same failures made for real against local servers,
so that a change of wording in outbound cannot leave affiliates with raw errors again."""

import socket

import pytest

from postbacks import sender
from postbacks.explanations import explain
from tests.postbacks.rawhttp import RawServer, http_answer

REFUSED = "a private, local or reserved address: postbacks can only be sent to public addresses"


@pytest.mark.parametrize(
    ("http_code", "error", "url", "title", "advice"),
    [
        (
            0,
            "Could not connect: [Errno 111] Connect call failed ('127.0.0.1', 8399)",
            "http://127.0.0.1:8399/pb",
            "Connection refused",
            "Is your server running and listening on port 8399? Nothing accepted the connection at "
            "127.0.0.1:8399",
        ),
        (
            0,
            "Could not connect: [Errno 111] Connect call failed ('::1', 8399, 0, 0)",
            "http://[::1]:8399/pb",
            "Connection refused",
            "listening on port 8399? Nothing accepted the connection at [::1]:8399",
        ),
        (
            0,
            "Could not connect: [Errno -2] Name or service not known",
            "https://tracker.example.com/pb",
            "Host name not found",
            "Check the domain name in your postback URL: the host tracker.example.com could not be found",
        ),
        (
            0,
            "Could not connect: [Errno -3] Temporary failure in name resolution",
            "",
            "Host name not found",
            "Check the domain name in your postback URL",
        ),
        (
            0,
            "Timed out connecting (after 3 s)",
            "",
            "Timed out connecting",
            "did not accept the connection within 3 seconds",
        ),
        (
            0,
            "Timed out: no complete answer in 10 s",
            "",
            "Timed out waiting for the answer",
            "Your server took longer than 10 seconds to answer",
        ),
        (
            0,
            "Timed out: no complete answer in 1 s",
            "",
            "Timed out waiting for the answer",
            "than 1 second to",
        ),
        (
            0,
            "Could not connect: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
            "self-signed certificate (_ssl.c:1006)",
            "https://tracker.example.com/pb",
            "TLS certificate not accepted",
            "certificate is self-signed",
        ),
        (
            0,
            "Could not connect: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
            "Hostname mismatch, certificate is not valid for 'tracker.example.com'. (_ssl.c:1006)",
            "https://tracker.example.com/pb",
            "TLS certificate not accepted",
            "is not valid for tracker.example.com",
        ),
        (
            0,
            "Could not connect: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
            "certificate has expired (_ssl.c:1006)",
            "",
            "TLS certificate not accepted",
            "has expired",
        ),
        (
            0,
            "Could not connect: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)",
            "https://tracker.example.com:8080/pb",
            "TLS (https) connection failed",
            "if it serves plain http, use an http:// URL",
        ),
        (
            0,
            f"The host 10.0.0.1 resolves to 10.0.0.1, {REFUSED}.",
            "http://10.0.0.1/pb",
            "Address refused by our safety rules",
            "public internet addresses only, and 10.0.0.1 is a private, local or reserved address",
        ),
        (
            0,
            f"Could not connect: tracker.example.com resolves to 192.168.1.5, {REFUSED}",
            "http://tracker.example.com/pb",
            "Address refused by our safety rules",
            "tracker.example.com points to 192.168.1.5, which is a private",
        ),
        (
            0,
            f"Could not connect: 127.0.0.1 is {REFUSED}",
            "http://localhost:8000/pb",
            "Address refused by our safety rules",
            "localhost points to 127.0.0.1",
        ),
        (
            0,
            "Only http:// and https:// URLs are allowed.",
            "ftp://tracker.example.com/pb",
            "Postback URL not accepted",
            "Only http:// and https:// URLs are allowed. Edit the URL of the postback.",
        ),
        (
            0,
            "Credentials in the URL (user:password@) are not allowed.",
            "",
            "Postback URL not accepted",
            "Credentials in the URL",
        ),
        (0, "This is not a valid URL.", "", "Postback URL not accepted", "This is not a valid URL."),
        (
            0,
            "Invalid HTTP answer: Bad status line 'this is not HTTP'",
            "",
            "Answer was not HTTP",
            "the scheme (http:// or https://)",
        ),
        (
            0,
            "ServerDisconnectedError: Server disconnected",
            "",
            "Connection closed without an answer",
            "closed the connection before answering",
        ),
        (
            0,
            "ClientOSError: [Errno 104] Connection reset by peer",
            "",
            "Connection reset",
            "cut the connection",
        ),
        (
            0,
            "ClientPayloadError: Response payload is not completed: <ContentLengthError: 400, "
            "message='Not enough data to satisfy content length header.'>",
            "",
            "Answer cut off",
            "stopped sending before the end of its answer",
        ),
        (
            302,
            "Redirect (302) to https://tracker.example.com/new not followed: a postback needs a 2xx answer",
            "",
            "Redirect (302) not followed",
            "sent us to https://tracker.example.com/new. Postbacks follow no redirects",
        ),
        (
            300,
            "Redirect (300) to nowhere not followed: a postback needs a 2xx answer",
            "",
            "Redirect (300) not followed",
            "answered with a redirect to no address",
        ),
        (
            404,
            "HTTP 404: a postback needs a 2xx answer",
            "",
            "Answered 404 (Not Found)",
            "check the path in your postback URL",
        ),
        (
            429,
            "HTTP 429: a postback needs a 2xx answer",
            "",
            "Answered 429 (Too Many Requests)",
            "asked us to slow down",
        ),
        (
            500,
            "HTTP 500: a postback needs a 2xx answer",
            "",
            "Answered 500 (Internal Server Error)",
            "check its error log",
        ),
        (503, "HTTP 503: a postback needs a 2xx answer", "", "Answered 503 (Service Unavailable)", "running"),
        (418, "HTTP 418: a postback needs a 2xx answer", "", "Answered 418 (I'm a Teapot)", "refused"),
        (599, "HTTP 599: a postback needs a 2xx answer", "", "Answered 599", "check its error log"),
        (
            0,
            "The answer (HTTP 200) could not be stored: DataError",
            "",
            "Answer could not be stored",
            "not a fault of your server",
        ),
    ],
)
def test_each_kind_of_error_is_explained_in_words_with_what_to_check(http_code, error, url, title, advice):
    explanation = explain(http_code=http_code, error=error, url=url)

    assert explanation.title == title
    assert advice in explanation.advice
    assert (explanation.detail, explanation.http_code, explanation.failed) == (error, http_code, True)


@pytest.mark.parametrize(
    "location",
    [
        "https://ex.example/errors/SSLError",
        "https://ex.example/?reason=Connection refused",
        "https://ex.example/[Errno -2]",
        "https://ex.example/10.0.0.1 is a private, local or reserved address",
    ],
)
def test_words_in_a_redirects_location_never_pass_for_a_failure_to_connect(location):
    error = f"Redirect (302) to {location} not followed: a postback needs a 2xx answer"
    explained = explain(http_code=302, error=error)
    assert explained.title == "Redirect (302) not followed"
    assert explained.detail == error


@pytest.mark.parametrize("code", [404, 500])
def test_an_answer_is_explained_by_its_code_whatever_its_error_text_says(code):
    error = f"HTTP {code}: a postback needs a 2xx answer (SSLError, Connection refused)"
    assert explain(http_code=code, error=error).title.startswith(f"Answered {code}")


def test_an_error_nobody_has_seen_falls_back_to_a_generic_sentence_and_keeps_the_raw_text():
    error = "SomeNewClientError: something unheard of"

    explanation = explain(http_code=0, error=error, url="http://tracker.example.com/pb")

    assert explanation.title == "Not delivered"
    assert "The technical detail says why" in explanation.advice
    assert explanation.detail == error and explanation.failed


def test_a_code_recorded_without_an_error_text_is_explained_by_the_code():
    assert explain(http_code=502, error="").title == "Answered 502 (Bad Gateway)"
    assert explain(http_code=0, error="").title == "No answer"


@pytest.mark.parametrize(
    ("http_code", "code", "answer"),
    [(0, "No answer", "No answer"), (404, "404", "HTTP 404"), (None, "–", "")],
)
def test_no_answer_is_never_shown_as_http_0(http_code, code, answer):
    explanation = explain(http_code=http_code, error="Timed out connecting (after 3 s)")

    assert (explanation.code, explanation.answer) == (code, answer)


def test_a_delivered_postback_and_one_not_sent_yet_are_no_failures():
    delivered = explain(http_code=200, error="", url="http://tracker.example.com/pb")
    waiting = explain(http_code=None, error="")

    assert (delivered.title, delivered.failed, delivered.answer) == ("Delivered", False, "HTTP 200")
    assert (waiting.title, waiting.failed, waiting.answer) == ("Not sent yet", False, "")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed once the probe is


@pytest.fixture
def raw_server():
    started = []

    def start(answer):
        started.append(RawServer(answer))
        return started[-1]

    yield start
    for server in started:
        server.close()


def test_every_failure_outbound_makes_for_real_is_recognised(raw_server, settings):
    port = _closed_port()
    failures = {
        "Connection refused": f"http://127.0.0.1:{port}/pb",
        "Host name not found": "http://no-such-host.invalid/pb",
        "Answer was not HTTP": raw_server(b"\x16\x03\x01 this is not HTTP\r\n\r\n").origin + "/pb",
        "Connection closed without an answer": raw_server(b"").origin + "/pb",
        "Redirect (302) not followed": raw_server(
            http_answer("302 Found", b"", b"Location: https://tracker.example.com/new")
        ).origin
        + "/pb",
        "Answered 404 (Not Found)": raw_server(http_answer("404 Not Found", b"")).origin + "/pb",
        "Postback URL not accepted": "ftp://tracker.example.com/pb",
    }
    seen = {}
    for title, url in failures.items():
        outcome = sender.send_unsaved(method="GET", url=url, body="", signing_secret="")
        seen[title] = explain(http_code=outcome.http_code, error=outcome.error, url=url).title
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"
    refused = sender.send_unsaved(method="GET", url=f"http://127.0.0.1:{port}/pb", body="", signing_secret="")
    seen["Address refused by our safety rules"] = explain(http_code=0, error=refused.error).title

    assert seen == {title: title for title in seen}
