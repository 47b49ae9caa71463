"""Who records an advertiser postback (README, "Postbacks arriving together are written together"):
the node's postback writer when one listens on POSTBACK_WRITER_SOCKET, the web process itself
when none does, and always the web process for a postback made inside a transaction."""

import contextlib
import json
import os
import shutil
import socket
import struct
import tempfile
import threading
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client, override_settings

from conversions.intake import AdvertiserHit
from conversions.models import Conversion, ServerPostback
from conversions.recording import advertiser_postback_answer, hits_record_wired
from tests.factories import AffiliateFactory, OfferFactory

HEADER = struct.Struct("!I")


def read_frame(conn):
    data = b""
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return json.loads(data[HEADER.size :])


def write_frame(conn, value):
    payload = json.dumps(value).encode()
    conn.sendall(HEADER.pack(len(payload)) + payload)


class ListeningWriter:
    """A writer on a Unix socket that records each postback it is sent with the writer's own
    recording function, and keeps what it received."""

    def __init__(self, path):
        self.received, self.connections = [], []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            while not self.stopping.is_set():
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    continue
                self.connections.append(conn)
                with conn:
                    while not self.stopping.is_set() and (hit := read_frame(conn)) is not None:
                        self.received.append(hit)
                        write_frame(conn, ["answer", hits_record_wired([hit])[0]])
        finally:
            connection.close()

    def stop(self):
        """Stops like a writer told to: its connections are shut, so web threads connect anew."""
        self.stopping.set()
        for conn in self.connections:
            with contextlib.suppress(OSError):  # closed already
                conn.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=10)
        self.listener.close()


@pytest.fixture
def socket_path():
    directory = tempfile.mkdtemp(prefix="handover-")  # a Unix socket's path must stay short
    path = os.path.join(directory, "writer.sock")
    with override_settings(POSTBACK_WRITER_SOCKET=path):
        yield path
    shutil.rmtree(directory)


@pytest.fixture
def writer(socket_path):
    listening = ListeningWriter(socket_path)
    yield listening
    listening.stop()


@pytest.fixture
def click_id(direct_writes):
    offer, affiliate = OfferFactory(), AffiliateFactory()
    return (
        Client().get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]
    )


@pytest.mark.django_db(transaction=True)
def test_a_listening_writer_records_the_postback_and_its_answer_is_the_advertisers(writer, click_id):
    response = Client().get(
        "/postback?" + urlencode({"clickid": click_id, "sum": "5"}), REMOTE_ADDR="192.0.2.4"
    )

    assert response.status_code == 200
    conversion = Conversion.objects.get()
    assert response.json() == {"status": 1, "message": "ok", "conversion_id": conversion.conversion_id}
    assert [(hit["params"], hit["caller_ip"], hit["method"]) for hit in writer.received] == [
        ({"clickid": click_id, "sum": "5"}, "192.0.2.4", "GET")
    ]
    assert ServerPostback.objects.get().ip == "192.0.2.4"


@pytest.mark.django_db(transaction=True)
def test_a_refusal_comes_back_from_the_writer_as_the_advertisers_answer(writer):
    response = Client().get("/postback?clickid=nope")
    assert (response.status_code, response.json()) == (
        400,
        {"status": 2, "message": "Click_id: invalid format"},
    )
    assert len(writer.received) == 1


@pytest.mark.django_db(transaction=True)
def test_without_a_listening_writer_the_web_process_records_the_postback_itself(socket_path, click_id):
    response = Client().get(f"/postback?clickid={click_id}")
    assert response.json()["message"] == "ok" and Conversion.objects.count() == 1
    assert not os.path.exists(socket_path)


@pytest.mark.django_db
def test_a_postback_made_inside_a_transaction_is_recorded_there_not_by_the_writer(writer, click_id):
    hit = AdvertiserHit({"clickid": click_id}, "postback", "GET", f"clickid={click_id}", "192.0.2.4")
    answer = advertiser_postback_answer(hit)
    assert (answer.http_status, answer.body["message"]) == (200, "ok")
    assert writer.received == [] and Conversion.objects.count() == 1


@pytest.mark.django_db
def test_without_a_writer_socket_the_web_process_records_the_postback(settings, click_id):
    settings.POSTBACK_WRITER_SOCKET = ""
    hit = AdvertiserHit({"clickid": click_id}, "postback", "GET", "", None)
    assert advertiser_postback_answer(hit).body["conversion_id"] == Conversion.objects.get().conversion_id
