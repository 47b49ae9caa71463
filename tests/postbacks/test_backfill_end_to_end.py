"""Backfill end to end: a real Celery worker makes a backfill's deliveries and sends them to a real
local HTTP server, live deliveries still going out; and a real sender, while backfill requests hang,
sends a live delivery at once and keeps no more backfill requests in flight than its bound."""

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from conversions.models import Conversion
from postbacks import sender
from postbacks.backfill import Period
from postbacks.models import Delivery
from postbacks.services import postback_backfill
from tests.factories import (
    ConversionEventFactory,
    ConversionFactory,
    DeliveryFactory,
    OfferFactory,
    PostbackFactory,
)
from tests.processes import celery, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def last_week() -> Period:
    today = timezone.now().date()
    return Period(today - timedelta(days=6), today)


def test_a_worker_sends_a_backfill_once_and_live_conversions_as_before(httpserver, affiliate, direct_writes):
    offer = OfferFactory()
    postback = PostbackFactory(
        affiliate=affiliate, offer=offer, url=httpserver.url_for("/pb") + "?cid={conversion_id}"
    )
    httpserver.expect_request("/pb").respond_with_data("ok")
    past = []
    for days_ago in (1, 2, 3):
        conversion = ConversionFactory(
            affiliate=affiliate, offer=offer, created_at=timezone.now() - timedelta(days=days_ago)
        )
        ConversionEventFactory(conversion=conversion)
        past.append(conversion)

    with celery("worker", "--pool=solo", "--loglevel=INFO", ready_line="ready."):
        with transaction.atomic():
            assert postback_backfill(postback=postback, period=last_week()) == 3
        assert wait_until(lambda: len(httpserver.log) == 3)

        visitor = Client()
        click = visitor.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()
        answer = visitor.get(f"/postback?clickid={click['click_id']}&status=2").json()
        assert wait_until(lambda: len(httpserver.log) == 4)

        with transaction.atomic():
            assert postback_backfill(postback=postback, period=last_week()) == 0
        time.sleep(0.5)

    assert len(httpserver.log) == 4
    backfilled = {str(d.delivery_id): d for d in Delivery.objects.filter(is_backfill=True)}
    received = {request.headers["X-Postback-Id"]: request.args["cid"] for request, _ in httpserver.log}
    assert {received[delivery_id] for delivery_id in backfilled} == {c.conversion_id for c in past}
    assert all(d.state == "succeeded" for d in backfilled.values())
    live = Delivery.objects.get(is_backfill=False)
    assert live.conversion == Conversion.objects.get(conversion_id=answer["conversion_id"])
    assert received[str(live.delivery_id)] == answer["conversion_id"]


class HoldingServer(ThreadingHTTPServer):
    """Answers /live at once and holds every other request until `release` is set."""

    daemon_threads = True

    def __init__(self):
        self.release = threading.Event()
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.paths.append(self.path)
                if not self.path.startswith("/live"):
                    server.release.wait(10)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


def test_while_the_backfills_requests_hang_its_bound_holds_and_a_live_delivery_goes_out_at_once(
    affiliate, monkeypatch
):
    monkeypatch.setattr(sender, "BACKFILL_IN_FLIGHT", 3)
    monkeypatch.setattr(sender, "BACKFILL_CLAIM_AT", 1)
    server = HoldingServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    backfilled = [
        DeliveryFactory(
            affiliate=affiliate, is_backfill=True, url=server.url(f"/old?n={n}"), host="127.0.0.1"
        )
        for n in range(8)
    ]
    live_sender = sender.Sender()
    backfill_sender = sender.Sender(backfill=True, wake_live=live_sender.wake)
    try:
        backfill_sender.wake()
        assert wait_until(lambda: len(server.paths) == 3, timeout=5)
        time.sleep(0.3)
        assert len(server.paths) == 3  # the bound: no more backfill requests in flight

        live = DeliveryFactory(affiliate=affiliate, url=server.url("/live"), host="127.0.0.1")
        woken = time.monotonic()
        live_sender.wake()
        assert wait_until(lambda: "/live" in server.paths, timeout=5)
        assert time.monotonic() - woken < 1.0
        assert wait_until(lambda: Delivery.objects.get(pk=live.pk).state == "succeeded", timeout=5)

        server.release.set()
        assert wait_until(
            lambda: (
                Delivery.objects.filter(pk__in=[d.pk for d in backfilled], state="succeeded").count() == 8
            ),
            timeout=15,
        )
    finally:
        server.release.set()
        live_sender.stop()
        backfill_sender.stop()
        server.shutdown()
    assert len(server.paths) == 9
