"""The shipped Grafana dashboard (deploy/grafana-dashboard.json), read by a real Prometheus.

Prometheus scrapes the live server's /metrics while the platform works (clicks through the Redis
buffer, advertiser postbacks through the postback writer, a sender with a request in flight), with
the shipped alert rules loaded; then every query of every panel must run and show data. A panel
whose query names a metric or label the tracker does not export, or that does not parse, fails."""

import json
import math
import os
import shutil
import subprocess
import tempfile
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
import yaml

from postbacks import sender
from postbacks.models import Delivery
from tests.factories import DeliveryFactory, OfferFactory
from tests.processes import ROOT, free_port, postback_writer, wait_until
from tests.test_metrics import ALERT_RULES, HoldingServer, scrape, value
from tracking.tasks import flush_click_buffer

DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
# Grafana's own variable for the window of rate(): a few scrape intervals. This Prometheus scrapes
# every second.
RATE_INTERVAL = "30s"


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard, Grafana's variables filled in."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [
        (panel["title"], target["expr"].replace("$__rate_interval", RATE_INTERVAL))
        for panel in panels
        for target in panel.get("targets", [])
    ]


def test_every_panel_queries_prometheus_through_the_dashboards_data_source_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert [variable["name"] for variable in dashboard["templating"]["list"]] == ["datasource"]
    charts = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len(charts) >= 20
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in charts)
    assert all(panel["targets"] and panel.get("description") for panel in charts)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


class Prometheus:
    """Debian's Prometheus as its own process, scraping `target` every second under the job name
    the README's scrape configuration uses, with the shipped alert rules."""

    def __init__(self, directory, target: str):
        self.port = free_port()
        config = directory / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(ALERT_RULES)],
                    "scrape_configs": [
                        {"job_name": "s2s-tracker", "static_configs": [{"targets": [target]}]}
                    ],
                }
            )
        )
        self.log = (directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                shutil.which("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def query(self, promql: str) -> dict:
        with urlopen(
            f"http://127.0.0.1:{self.port}/api/v1/query?{urlencode({'query': promql})}", timeout=10
        ) as answer:
            return json.load(answer)

    def series(self, promql: str) -> list:
        try:
            return self.query(promql)["data"]["result"]
        except OSError:  # not listening yet
            return []

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_every_panel_shows_data_from_a_real_prometheus_scraping_the_platform_at_work(
    live_server, affiliate, buffered_writes, settings, tmp_path
):
    if shutil.which("prometheus") is None:
        pytest.skip("Prometheus is not installed (Debian: apt-get install prometheus)")
    # Not under pytest's tmp_path: a Unix socket's path must stay under about 100 characters.
    socket_directory = tempfile.mkdtemp(prefix="dashboard-writer-")
    settings.POSTBACK_WRITER_SOCKET = os.path.join(socket_directory, "writer.sock")
    platform = PlatformAtWork(live_server.url, affiliate)
    prometheus = None
    try:
        with postback_writer(settings.POSTBACK_WRITER_SOCKET):
            platform.work()  # every series there before the first scrape
            prometheus = Prometheus(tmp_path, live_server.url.removeprefix("http://"))
            assert wait_until(
                lambda: prometheus.series('count_over_time(up{job="s2s-tracker"}[1m]) >= 2'), timeout=30
            ), (tmp_path / "prometheus.log").read_text()
            # Work between scrapes, so that rates, quantiles and shares have something to show.
            platform.work()
            platform.hold_a_request()
            answers = {}

            def every_query_shows_a_number():
                answers.update({panel: prometheus.query(panel[1]) for panel in panel_queries()})
                return not without_a_number(answers)

            wait_until(every_query_shows_a_number, timeout=30, interval=1)
    finally:
        platform.stop()
        shutil.rmtree(socket_directory)
        if prometheus:
            prometheus.stop()

    assert without_a_number(answers) == []


def without_a_number(answers: dict) -> list:
    """The panels whose query failed, or gave no series with a number (NaN: a rate of nothing)."""
    return [
        (title, query, answer.get("error") or answer["data"]["result"])
        for (title, query), answer in answers.items()
        if answer["status"] != "success"
        or not any(math.isfinite(float(series["value"][1])) for series in answer["data"]["result"])
    ]


class PlatformAtWork:
    """Clicks, advertiser postbacks and affiliate postbacks through a live server, its postback
    writer and a sender, as a network's traffic goes through them."""

    def __init__(self, base_url: str, affiliate):
        self.base_url, self.affiliate = base_url, affiliate
        self.offer = OfferFactory(advertiser__secure_code="s3cret-code")
        self.affiliate_server, self.sender = HoldingServer(), sender.Sender()
        self.affiliate_server.release.set()
        self.url = f"http://127.0.0.1:{self.affiliate_server.server_address[1]}/pb"
        self.held = None

    def work(self):
        # Clicks, one of them refused, through the buffer; beat's flush writes them.
        link = f"{self.base_url}/click?pid={self.affiliate.pid}&offer_id={self.offer.offer_id}&format=json"
        with urlopen(link) as answer:
            click_id = json.load(answer)["click_id"]
        assert status_of(f"{self.base_url}/click?pid={self.affiliate.pid}&offer_id=x") == 400
        flush_click_buffer()
        # Advertiser postbacks, one accepted through the writer, one refused.
        accepted = urlencode({"clickid": click_id, "secure": "s3cret-code"})
        assert status_of(f"{self.base_url}/postback?{accepted}") == 200
        assert status_of(f"{self.base_url}/postback?clickid={click_id}&secure=guessed") == 403
        # An affiliate postback sent.
        sent = DeliveryFactory(affiliate=self.affiliate, url=self.url, host="127.0.0.1")
        self.sender.wake()
        assert wait_until(lambda: Delivery.objects.get(pk=sent.pk).state == "succeeded", timeout=10)

    def hold_a_request(self):
        """An affiliate postback in flight until `stop`."""
        self.affiliate_server.release.clear()
        self.held = DeliveryFactory(affiliate=self.affiliate, url=self.url, host="127.0.0.1")
        self.sender.wake()
        assert wait_until(
            lambda: value(scrape(), "tracker_postback_in_flight", host="127.0.0.1") == 1, timeout=10
        )

    def stop(self):
        self.affiliate_server.release.set()
        if self.held is not None:
            # Recorded before the sender stops, which then has no database work left.
            wait_until(lambda: Delivery.objects.get(pk=self.held.pk).state == "succeeded", timeout=10)
        self.sender.stop()
        self.affiliate_server.shutdown()


def status_of(address: str) -> int:
    """The status of a GET that may answer an error."""
    try:
        with urlopen(address) as answer:
            return answer.status
    except OSError as error:
        return error.code
