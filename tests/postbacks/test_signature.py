"""X-Postback-Signature, verified as an affiliate's server verifies it: from the request exactly as
it arrived (the request target of the request line, and the body), with the code the README
shows. The receiving server is a real local one that keeps the raw request line
(tests/postbacks/rawhttp.py); postbacks go through the real chain (rendering, storing, sending,
recording)."""

import hashlib
import hmac
import re
import time
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postbacks import macros, outbound, queue, sender
from postbacks.services import postback_send_test
from tests.factories import DeliveryFactory, OfferFactory, PostbackFactory
from tests.postbacks.rawhttp import RawServer

pytestmark = pytest.mark.django_db

SECRET = "s3cret"

# Path and query templates an affiliate may save: reserved characters, escapes that a client
# could decode (%3A, %2F, %7e), characters a request target cannot hold, a "%" that starts no
# escape, non-ASCII, names that are not macros, and macros among all of these.
TEMPLATES = [
    '/pb/{sub1}/a%3Ab?x=%3A&y={unknown}&z=é&w=%2F&v=a+b&u=%7e&t=[1]&p=%&q=%zz&r=ü{clickid}|^`"<>\\#frag',
    "/ünïcödé/路径?名前={sub1}&emoji=😀&{status}={status}",
    "?a={x}&b={clickid}&c={uagent}",
    "/a;b,c@d:e!f$g'h(i)j*k+l=m?n=o/p?q&r==s&&t={conversion_id}",
    "/plain?cid={conversion_id}&status={status}&sum={sum}",
]


def verify(secret: str, header: str, target: str, body: bytes) -> bool:
    """The README's verification, from the request line's target and the raw body."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    message = f"{fields['t']}.{target}".encode() + (b"." + body if body else b"")
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 300


@pytest.fixture
def server():
    endpoint = RawServer()
    yield endpoint
    endpoint.close()


@pytest.fixture
def signing_affiliate(affiliate):
    affiliate.signing_secret = SECRET
    affiliate.save()
    return affiliate


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_the_signature_verifies_against_the_request_as_received(server, signing_affiliate, template, method):
    OfferFactory()
    url = server.origin + template
    assert outbound.url_problem(url) is None  # a URL the portal and the API accept
    postback = PostbackFactory(affiliate=signing_affiliate, url=url, method=method)

    delivery = postback_send_test(postback)

    [request] = server.requests
    assert request.method == method
    assert verify(SECRET, request.headers["x-postback-signature"], request.target, request.body)
    assert (delivery.state, delivery.url) == ("succeeded", server.origin + request.target)
    assert delivery.attempt_log.get().url == delivery.url  # the URL logged is the URL sent
    if method == "POST":
        assert request.body.decode() == delivery.body


def test_what_the_affiliate_receives_is_the_url_as_saved_with_its_escapes_kept(server, signing_affiliate):
    OfferFactory()
    postback = PostbackFactory(
        affiliate=signing_affiliate, url=server.origin + "/a%3Ab?x=%3A&w=%2F&y={unknown}&z=é&s={status}"
    )

    delivery = postback_send_test(postback)

    [request] = server.requests
    assert request.target == f"/a%3Ab?x=%3A&w=%2F&y=%7Bunknown%7D&z=%C3%A9&s={delivery.conversion.status}"


def test_a_tampered_request_does_not_verify(server, signing_affiliate):
    OfferFactory()
    postback_send_test(PostbackFactory(affiliate=signing_affiliate, url=server.origin + "/pb?s={status}"))

    [request] = server.requests
    header = request.headers["x-postback-signature"]
    assert verify(SECRET, header, request.target, b"")
    assert not verify(SECRET, header, request.target + "&s=1", b"")
    assert not verify("another secret", header, request.target, b"")


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_typed_url_tried_in_the_integration_wizard_is_signed_as_sent(server, signing_affiliate, template):
    url = macros.render(server.origin + template, {"sub1": "a b/ü", "clickid": "c1"})

    outcome = sender.send_unsaved(method="GET", url=url, body="", signing_secret=SECRET)

    [request] = server.requests
    assert outcome.http_code == 200
    assert server.origin + request.target == url  # what the wizard shows as the URL sent
    assert verify(SECRET, request.headers["x-postback-signature"], request.target, b"")


def test_a_url_stored_before_urls_were_stored_as_sent_is_signed_and_logged_as_sent(server, signing_affiliate):
    """Deliveries written before URLs were stored in their wire form go out the same way."""
    postback = PostbackFactory(affiliate=signing_affiliate, url=server.origin + "/pb")
    delivery = DeliveryFactory(
        affiliate=signing_affiliate,
        postback=postback,
        url=server.origin + "/pb?x={kept}&y=é&z=%3A",
        host="raw",
    )

    sender.send_claimed(queue.claim([delivery.pk]))

    [request] = server.requests
    assert request.target == "/pb?x=%7Bkept%7D&y=%C3%A9&z=%3A"
    assert verify(SECRET, request.headers["x-postback-signature"], request.target, b"")
    assert delivery.attempt_log.get().url == server.origin + request.target


def test_rendering_gives_a_url_that_is_its_own_wire_form():
    for template in TEMPLATES:
        rendered = macros.render("https://tracker.example" + template, {"sub1": "ü &?#/%", "status": "1"})
        assert outbound.wire_url(rendered) == rendered
        target = rendered.removeprefix("https://tracker.example")
        assert target.isascii() and not any(character in target for character in ' {}<>"|\\^`#[]')


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_url_in_its_wire_form_stays_so_and_holds_only_what_a_request_target_may(text):
    wire = outbound.wire_url("http://tracker.example/" + text)

    assert outbound.wire_url(wire) == wire
    target = wire.removeprefix("http://tracker.example")
    assert re.fullmatch(r"/([A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*", target), target
    sent_path = ("/" + text).split("#")[0].split("?")[0].translate({ord(c): None for c in "\t\r\n"})
    if "%" not in text:  # nothing but the encoding changed
        assert unquote(target.split("?")[0]) == sent_path
