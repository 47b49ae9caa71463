"""The shipped Grafana dashboard (deploy/grafana-dashboard.json), read by a real Prometheus.

Prometheus scrapes the live server's /metrics while the platform works (clicks through the Redis
buffer, advertiser postbacks through the postback writer, a sender with a request in flight), with
the shipped alert rules loaded; then every query of every panel must run and show data. A panel
whose query names a metric or label the tracker does not export, or that does not parse, fails."""

import json
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
    affiliate_server, the_sender, prometheus = HoldingServer(), sender.Sender(), None
    url = f"http://127.0.0.1:{affiliate_server.server_address[1]}/pb"
    offer = OfferFactory(advertiser__secure_code="s3cret-code")
    try:
        with postback_writer(settings.POSTBACK_WRITER_SOCKET):
            # Clicks, one of them refused, through the buffer; beat's flush writes them.
            with urlopen(
                f"{live_server.url}/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
            ) as answer:
                click_id = json.load(answer)["click_id"]
            assert status_of(f"{live_server.url}/click?pid={affiliate.pid}&offer_id=x") == 400
            flush_click_buffer()
            # Advertiser postbacks, one accepted through the writer, one refused.
            accepted = urlencode({"clickid": click_id, "secure": "s3cret-code"})
            assert status_of(f"{live_server.url}/postback?{accepted}") == 200
            assert status_of(f"{live_server.url}/postback?clickid={click_id}&secure=guessed") == 403
            # An affiliate postback sent, and another one in flight while Prometheus scrapes.
            affiliate_server.release.set()
            sent = DeliveryFactory(affiliate=affiliate, url=url, host="127.0.0.1")
            the_sender.wake()
            assert wait_until(lambda: Delivery.objects.get(pk=sent.pk).state == "succeeded", timeout=10)
            affiliate_server.release.clear()
            held = DeliveryFactory(affiliate=affiliate, url=url, host="127.0.0.1")
            the_sender.wake()
            assert wait_until(
                lambda: value(scrape(), "tracker_postback_in_flight", host="127.0.0.1") == 1, timeout=10
            )

            prometheus = Prometheus(tmp_path, live_server.url.removeprefix("http://"))
            # rate() needs two scrapes in its window; the recording rules a first evaluation after them.
            assert wait_until(
                lambda: (
                    prometheus.series('count_over_time(up{job="s2s-tracker"}[1m]) >= 4')
                    and prometheus.series("advertiser:tracker_advertiser_postbacks_refused:ratio_rate10m")
                ),
                timeout=30,
            ), (tmp_path / "prometheus.log").read_text()
            answers = {(title, query): prometheus.query(query) for title, query in panel_queries()}
            affiliate_server.release.set()
            assert wait_until(lambda: Delivery.objects.get(pk=held.pk).state == "succeeded", timeout=10)
    finally:
        affiliate_server.release.set()
        the_sender.stop()
        affiliate_server.shutdown()
        shutil.rmtree(socket_directory)
        if prometheus:
            prometheus.stop()

    failed = [
        (title, query, answer.get("error"))
        for (title, query), answer in answers.items()
        if answer["status"] != "success"
    ]
    assert failed == []
    empty = [(title, query) for (title, query), answer in answers.items() if not answer["data"]["result"]]
    assert empty == []


def status_of(address: str) -> int:
    """The status of a GET that may answer an error."""
    try:
        with urlopen(address) as answer:
            return answer.status
    except OSError as error:
        return error.code
