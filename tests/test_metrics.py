"""/metrics: the Prometheus text format for operators' scrapers, and no one else.

Counters live in the memory-mapped files of PROMETHEUS_MULTIPROC_DIR, shared by every process of
the machine and by earlier test runs, so the tests compare a counter before and after an event."""

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from deploy import nginx
from postbacks import sender
from postbacks.models import Delivery
from tests.factories import DeliveryFactory, OfferFactory, PostbackFactory
from tests.processes import ROOT, postback_writer, wait_until
from tests.test_deploy_nginx import running_nginx
from tracking.tasks import flush_click_buffer

PUBLIC_ADDRESS = "203.0.113.7"


def scrape(client=None, **request) -> dict:
    response = (client or Client()).get("/metrics", **request)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples_of(response.content.decode())


def samples_of(text: str) -> dict:
    """A page in the Prometheus text format, as {(name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- Who may scrape -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_scrape_from_the_machine_itself_gets_the_metrics_in_prometheus_text_format(client):
    samples = scrape(client)
    assert ("tracker_deliveries_due", (("kind", "live"),)) in samples
    assert ("tracker_postbacks_disabled", (("by", "platform"),)) in samples


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_loopback_may_scrape_by_default_in_either_family(client, address):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


@pytest.mark.django_db
def test_a_scrape_from_an_address_in_metrics_allowed_ips_is_answered(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("token", "authorization"),
    [
        ("", ""),
        ("", "Bearer "),
        ("scrape-token-1", ""),
        ("scrape-token-1", "Bearer scrape-token-2"),
        ("scrape-token-1", "Basic scrape-token-1"),
        ("scrape-token-1", "Bearer scrape-token-1x"),
    ],
)
def test_a_scrape_from_elsewhere_without_the_token_is_told_there_is_no_such_page(
    client, settings, token, authorization
):
    settings.METRICS_TOKEN = token
    response = client.get("/metrics", REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 404
    assert b"tracker_" not in response.content


@pytest.mark.django_db
def test_the_token_lets_a_scrape_in_from_any_address(client, settings):
    settings.METRICS_TOKEN = "scrape-token-1"
    samples = scrape(client, REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION="Bearer scrape-token-1")
    assert ("tracker_deliveries_due", (("kind", "live"),)) in samples


@pytest.mark.django_db
@pytest.mark.parametrize("client_ip_header", ["", "X-Real-IP", "X-Forwarded-For"])
@pytest.mark.parametrize(
    "proxy_header",
    [
        {"HTTP_X_REAL_IP": PUBLIC_ADDRESS},
        {"HTTP_X_FORWARDED_FOR": PUBLIC_ADDRESS},
        {"HTTP_FORWARDED": f"for={PUBLIC_ADDRESS}"},
    ],
)
def test_a_request_passed_on_by_a_proxy_is_never_let_in_by_an_address(
    client, settings, client_ip_header, proxy_header
):
    # Through nginx, the loopback address is nginx's own, not the client's.
    settings.CLIENT_IP_HEADER = client_ip_header
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **proxy_header).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("client_ip_header", "header"),
    [("X-Real-IP", "HTTP_X_REAL_IP"), ("X-Forwarded-For", "HTTP_X_FORWARDED_FOR")],
)
def test_a_client_naming_an_allowed_address_in_the_client_ip_header_is_refused(
    client, settings, client_ip_header, header
):
    # The header the platform reads visitors' addresses from, which any client can write.
    settings.CLIENT_IP_HEADER = client_ip_header
    response = client.get("/metrics", REMOTE_ADDR=PUBLIC_ADDRESS, **{header: "127.0.0.1"})
    assert response.status_code == 404
    assert b"tracker_" not in response.content


@pytest.mark.django_db
def test_the_token_lets_a_scrape_through_a_proxy_in(client, settings):
    settings.CLIENT_IP_HEADER, settings.METRICS_TOKEN = "X-Real-IP", "scrape-token-1"
    scrape(
        client,
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_REAL_IP=PUBLIC_ADDRESS,
        HTTP_AUTHORIZATION="Bearer scrape-token-1",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", ["bearer scrape-token-1", "BEARER  scrape-token-1 "])
def test_the_authorization_scheme_is_read_in_any_case(client, settings, authorization):
    settings.METRICS_TOKEN = "scrape-token-1"
    scrape(client, REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION=authorization)


# --- What is counted ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("direct_writes")
def test_clicks_are_counted_by_outcome_and_refusal_reason(client, affiliate):
    offer = OfferFactory()
    before = scrape()
    assert client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}").status_code == 302
    assert client.get(f"/click?pid={affiliate.pid}&offer_id=99999999").status_code == 404
    assert client.get(f"/click?pid={affiliate.pid}&offer_id=x").status_code == 400
    after = scrape()

    def moved(**labels):
        return value(after, "tracker_clicks_total", **labels) - value(
            before, "tracker_clicks_total", **labels
        )

    assert moved(outcome="accepted", reason="") == 1
    assert moved(outcome="refused", reason="unknown") == 1
    assert moved(outcome="refused", reason="malformed") == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("direct_writes")
def test_a_click_refused_by_the_offers_targeting_is_counted_with_its_rule(client, affiliate):
    offer = OfferFactory(target_countries=["DE"])
    before = scrape()
    assert client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}").status_code == 403
    labels = {"outcome": "refused", "reason": "refused_country"}
    assert (
        value(scrape(), "tracker_clicks_total", **labels) - value(before, "tracker_clicks_total", **labels)
        == 1
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("direct_writes")
def test_advertiser_postbacks_are_counted_by_outcome_refusal_reason_and_advertiser(client, affiliate):
    offer = OfferFactory(advertiser__secure_code="s3cret-code")
    click = client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()
    before = scrape()
    query = urlencode({"clickid": click["click_id"], "action_id": "order-1", "secure": "s3cret-code"})
    assert client.get(f"/postback?{query}").status_code == 200
    assert client.get(f"/postback?{query}").status_code == 200
    assert client.get(f"/postback?clickid={click['click_id']}&secure=guessed").status_code == 403
    assert client.get("/postback?clickid=not-a-click-id").status_code == 400
    assert client.get(f"/postback?clickid={'0' * 24}").status_code == 404
    after = scrape()

    def moved(outcome, reason, advertiser):
        labels = {"source": "postback", "outcome": outcome, "reason": reason, "advertiser": advertiser}
        name = "tracker_advertiser_postbacks_total"
        return value(after, name, **labels) - value(before, name, **labels)

    advertiser = str(offer.advertiser_id)
    assert [
        moved("created", "", advertiser),
        moved("duplicate", "", advertiser),
        moved("rejected", "secure_code", advertiser),
        moved("rejected", "click_id_invalid", "none"),
        moved("rejected", "click_not_found", "none"),
    ] == [1, 1, 1, 1, 1]
    waited = "tracker_advertiser_postback_wait_seconds_count"
    assert value(after, waited, path="process") - value(before, waited, path="process") == 5


# --- State read at scrape time ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_oldest_due_delivery_shows_how_long_it_has_waited(affiliate):
    now = timezone.now()
    DeliveryFactory(affiliate=affiliate, next_attempt_at=now - timedelta(minutes=7))
    DeliveryFactory(affiliate=affiliate, next_attempt_at=now - timedelta(minutes=1))
    DeliveryFactory(affiliate=affiliate, next_attempt_at=now + timedelta(minutes=5))  # not due yet
    DeliveryFactory(affiliate=affiliate, next_attempt_at=now - timedelta(hours=1), state="succeeded")
    DeliveryFactory(affiliate=affiliate, next_attempt_at=now - timedelta(minutes=2), is_backfill=True)
    samples = scrape()
    assert value(samples, "tracker_deliveries_due", kind="live") == 2
    assert value(samples, "tracker_deliveries_due", kind="backfill") == 1
    assert 7 * 60 <= value(samples, "tracker_delivery_oldest_due_age_seconds", kind="live") < 8 * 60
    assert 2 * 60 <= value(samples, "tracker_delivery_oldest_due_age_seconds", kind="backfill") < 3 * 60


@pytest.mark.django_db
def test_nothing_due_reads_as_no_wait():
    samples = scrape()
    assert value(samples, "tracker_deliveries_due", kind="live") == 0
    assert ("tracker_delivery_oldest_due_age_seconds", (("kind", "live"),)) in samples
    assert value(samples, "tracker_delivery_oldest_due_age_seconds", kind="live") == 0


@pytest.mark.django_db
def test_disabled_postbacks_are_told_apart_by_who_disabled_them(affiliate):
    PostbackFactory(
        affiliate=affiliate, enabled=False, disabled_reason="Disabled on ... every delivery failed"
    )
    PostbackFactory(affiliate=affiliate, enabled=False)
    PostbackFactory(affiliate=affiliate, enabled=False)
    PostbackFactory(affiliate=affiliate)
    samples = scrape()
    assert value(samples, "tracker_postbacks_disabled", by="platform") == 1
    assert value(samples, "tracker_postbacks_disabled", by="owner") == 2


@pytest.mark.django_db
def test_the_click_buffer_shows_its_backlog_and_beats_flush_empties_it(client, affiliate, buffered_writes):
    offer = OfferFactory()
    for _ in range(3):
        client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}")
    samples = scrape()
    assert value(samples, "tracker_click_buffer_backlog") == 3
    assert 0 <= value(samples, "tracker_click_buffer_oldest_age_seconds") < 60
    assert ("tracker_click_flush_last_success_timestamp_seconds", ()) not in samples

    flush_click_buffer()
    samples = scrape()
    assert value(samples, "tracker_click_buffer_backlog") == 0
    assert value(samples, "tracker_click_buffer_oldest_age_seconds") == 0
    flushed = value(samples, "tracker_click_flush_last_success_timestamp_seconds")
    assert abs(flushed - timezone.now().timestamp()) < 60


# --- Across processes ---------------------------------------------------------------------------


def test_counts_of_other_processes_of_the_machine_are_added_up(db):
    labels = {"outcome": "refused", "reason": "counted-in-another-process"}
    before = value(scrape(), "tracker_clicks_total", **labels)
    counting = (
        "from config.metrics import clicks_counted; "
        "clicks_counted('refused', 'counted-in-another-process').inc(3)"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", counting], cwd=ROOT, env=os.environ, check=True, timeout=60)
    assert value(scrape(), "tracker_clicks_total", **labels) - before == 6


@contextlib.contextmanager
def in_flight_in_another_process(host: str, requests: int):
    """Another process of the machine with `requests` affiliate postback requests to `host` in
    flight until the block ends, then killed as by SIGKILL or the OOM killer: no exit hook runs."""
    holding = (
        "import time; from config.metrics import POSTBACK_IN_FLIGHT; "
        f"POSTBACK_IN_FLIGHT.labels({host!r}).inc({requests}); print('counted', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holding], cwd=ROOT, env=os.environ, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout.readline() == b"counted\n"
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_killed_processs_requests_in_flight_are_no_longer_counted(db):
    with in_flight_in_another_process("killed.example", 2):
        assert value(scrape(), "tracker_postback_in_flight", host="killed.example") == 2
    assert ("tracker_postback_in_flight", (("host", "killed.example"),)) not in scrape()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("direct_writes")
def test_the_postback_writers_batches_are_seen_by_the_web_process(affiliate, settings):
    # Not under pytest's tmp_path: a Unix socket's path must stay under about 100 characters.
    directory = tempfile.mkdtemp(prefix="metrics-writer-")
    settings.POSTBACK_WRITER_SOCKET = socket_path = os.path.join(directory, "writer.sock")
    offer = OfferFactory()
    click = Client().get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()
    before = scrape()
    batches = "tracker_postback_writer_batch_size_count"
    try:
        with postback_writer(socket_path):
            assert Client().get(f"/postback?clickid={click['click_id']}").status_code == 200
            # The writer counts a batch once it has answered it.
            assert wait_until(lambda: value(scrape(), batches) - value(before, batches) == 1, timeout=5)
            after = scrape()
    finally:
        shutil.rmtree(directory)
    assert (
        value(after, "tracker_postback_writer_batch_size_sum")
        - value(before, "tracker_postback_writer_batch_size_sum")
        == 1
    )
    waited = "tracker_advertiser_postback_wait_seconds_count"
    assert value(after, waited, path="writer") - value(before, waited, path="writer") == 1


class HoldingServer(ThreadingHTTPServer):
    """An affiliate's server that answers 204 once released."""

    def __init__(self):
        self.release = threading.Event()
        release = self.release

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                release.wait(10)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_senders_requests_are_in_flight_per_host_then_counted_by_result(affiliate):
    server = HoldingServer()
    url = f"http://127.0.0.1:{server.server_address[1]}/pb"
    delivery = DeliveryFactory(affiliate=affiliate, url=url, host="127.0.0.1")
    before = scrape()
    the_sender = sender.Sender()
    try:
        the_sender.wake()
        assert wait_until(
            lambda: value(scrape(), "tracker_postback_in_flight", host="127.0.0.1") == 1, timeout=5
        )
        server.release.set()
        assert wait_until(lambda: Delivery.objects.get(pk=delivery.pk).state == "succeeded", timeout=5)
    finally:
        server.release.set()
        the_sender.stop()
        server.shutdown()
    after = scrape()
    assert value(after, "tracker_postback_in_flight", host="127.0.0.1") == 0
    labels = {"result": "success", "kind": "live"}
    name = "tracker_postback_attempts_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


# --- Settings and the shipped alert rules ---------------------------------------------------------


def test_allowed_networks_may_be_listed_with_spaces_after_the_commas():
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.METRICS_ALLOWED_IPS)"],
        cwd=ROOT,
        env={
            **os.environ,
            "DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "METRICS_ALLOWED_IPS": "10.0.0.0/8, 192.168.0.0/16,",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "['10.0.0.0/8', '192.168.0.0/16']", result.stderr


def test_a_malformed_allowed_network_stops_the_process_at_start_naming_the_variable():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", "METRICS_ALLOWED_IPS": "10.0.0.0/8,localhost"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Environment variable METRICS_ALLOWED_IPS" in result.stderr and "'localhost'" in result.stderr


ALERT_RULES = ROOT / "deploy" / "prometheus-alerts.yml"


def test_the_alert_rules_name_only_metrics_the_tracker_exports():
    exported = {
        "tracker_clicks_total",
        "tracker_advertiser_postbacks_total",
        "tracker_postback_attempts_total",
        "tracker_postback_in_flight",
        "tracker_deliveries_due",
        "tracker_delivery_oldest_due_age_seconds",
        "tracker_postbacks_disabled",
        "tracker_click_buffer_backlog",
        "tracker_click_buffer_oldest_age_seconds",
        "tracker_click_flush_last_success_timestamp_seconds",
        "tracker_partition_weeks_ahead",
        "tracker_partitions_past_retention",
    }
    rules = [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]]
    # Recorded series (advertiser:tracker_...:ratio_rate10m) are the rules' own.
    named = {name for rule in rules for name in re.findall(r"(?<![\w:])tracker_\w+(?![\w:])", rule["expr"])}
    assert named and named <= exported
    defined = (ROOT / "config" / "metrics.py").read_text() + (ROOT / "ops" / "collector.py").read_text()
    assert all(f'"{name.removesuffix("_total")}"' in defined for name in exported)
    assert {"AffiliatePostbacksDelayed", "ClickBufferBehind", "BeatNotSeen", "AdvertiserRefusalsSpiking"} <= {
        rule.get("alert") for rule in rules
    }


def test_the_alert_rules_pass_promtools_check_and_their_unit_tests():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    for command in (["check", "rules", ALERT_RULES.name], ["test", "rules", "prometheus-alerts.test.yml"]):
        result = subprocess.run(
            [promtool, *command], cwd=ALERT_RULES.parent, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_shipped_nginx_site_never_passes_metrics_on_to_gunicorn(tmp_path):
    if not Path(nginx.NGINX).exists() or not shutil.which("openssl"):
        pytest.skip("needs Debian's nginx and openssl (apt-get install nginx openssl)")
    with running_nginx(tmp_path, static_root=str(tmp_path)) as proxy:
        assert proxy.get("/metrics").status == 404
        assert proxy.get("/metrics", {"Authorization": "Bearer anything"}, tls=True).status == 404
        assert proxy.upstream.requests == []
