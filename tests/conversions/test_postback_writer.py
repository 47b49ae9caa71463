"""The postback writer (conversions.writer) as production runs it: a real process that records the
postbacks of the web processes. Without it, the web processes record them themselves."""

import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import transaction
from django.test import Client, override_settings

from conversions.models import Conversion, ServerPostback
from offers.models import Offer
from tests.factories import OfferFactory
from tests.processes import postback_writer, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("direct_writes"),
]


@pytest.fixture
def socket_path():
    # Not under pytest's tmp_path: a Unix socket's path must stay under about 100 characters.
    directory = tempfile.mkdtemp(prefix="writer-")
    path = os.path.join(directory, "writer.sock")
    with override_settings(POSTBACK_WRITER_SOCKET=path):
        yield path
    shutil.rmtree(directory)


@pytest.fixture
def click_ids(affiliate):
    offer = OfferFactory()
    url = f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json"
    return [Client().get(url).json()["click_id"] for _ in range(5)]


def postback(query: str):
    return Client().get(f"/postback?{query}")


def recorded_by(writer) -> int:
    """The postbacks the writer says it recorded, once it has stopped."""
    writer.send_signal(signal.SIGTERM)
    writer.wait(timeout=20)
    assert wait_until(lambda: any("writer stopped" in line for line in writer.output), timeout=5)
    line = next(line for line in writer.output if "writer stopped" in line)
    return int(re.search(r"(\d+) postbacks recorded", line).group(1))


def test_the_writer_records_concurrent_postbacks_and_answers_each_caller(socket_path, click_ids):
    queries = [f"clickid={click_id}&action_id=order-{n}" for n, click_id in enumerate(click_ids)] * 4
    queries.append("clickid=not-a-click-id")
    with postback_writer(socket_path) as writer, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(postback, queries))
        assert recorded_by(writer) == len(queries)

    assert answers[-1].status_code == 400
    assert answers[-1].json() == {"status": 2, "message": "Click_id: invalid format"}
    by_order = {}
    for query, answer in zip(queries, answers[:-1], strict=False):
        assert answer.status_code == 200
        by_order.setdefault(query, []).append(answer.json())
    for bodies in by_order.values():
        assert sorted(body["message"] for body in bodies) == ["duplicate", "duplicate", "duplicate", "ok"]
        assert len({body["conversion_id"] for body in bodies}) == 1
        assert Conversion.objects.filter(conversion_id=bodies[0]["conversion_id"]).exists()
    assert Conversion.objects.count() == len(click_ids)
    assert ServerPostback.objects.count() == len(queries)


def test_a_pixel_hit_goes_through_the_writer_and_answers_its_gif(socket_path, click_ids):
    visitor = Client()
    visitor.cookies["afclick"] = click_ids[0]
    with postback_writer(socket_path) as writer:
        answer = visitor.get("/pixel?afstatus=1")
        assert recorded_by(writer) == 1
    assert answer.status_code == 200 and answer["Content-Type"] == "image/gif"
    conversion = Conversion.objects.get()
    assert (conversion.click.click_id, conversion.status) == (click_ids[0], 1)
    assert ServerPostback.objects.get().source == ServerPostback.Source.PIXEL


def test_without_a_writer_the_web_process_records_postbacks_itself(socket_path, click_ids):
    assert postback(f"clickid={click_ids[0]}").json()["message"] == "ok"  # no socket at all
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(socket_path)  # a socket file nobody listens on, as a crashed writer leaves it
    stale.close()
    assert postback(f"clickid={click_ids[1]}").json()["message"] == "ok"
    assert Conversion.objects.count() == 2


def test_a_web_thread_reconnects_to_a_restarted_writer(socket_path, click_ids):
    with postback_writer(socket_path) as writer:
        assert postback(f"clickid={click_ids[0]}").json()["message"] == "ok"
        assert recorded_by(writer) == 1
    with postback_writer(socket_path) as writer:
        # The same thread, whose connection went to the writer that stopped.
        assert postback(f"clickid={click_ids[1]}").json()["message"] == "ok"
        assert recorded_by(writer) == 1


def test_an_old_writer_stopping_leaves_the_socket_of_the_new_one_alone(socket_path, click_ids):
    with postback_writer(socket_path) as old, postback_writer(socket_path) as new:
        old.send_signal(signal.SIGTERM)
        old.wait(timeout=20)
        assert os.path.exists(socket_path)
        assert postback(f"clickid={click_ids[0]}").json()["message"] == "ok"
        assert recorded_by(new) == 1


def test_a_writer_lost_while_holding_a_postback_asks_for_a_retry(socket_path, click_ids):
    query = f"clickid={click_ids[0]}&action_id=A-1"
    with postback_writer(socket_path) as writer:
        os.kill(writer.pid, signal.SIGSTOP)  # it accepts the postback but never records it
        answered = []
        sender = threading.Thread(target=lambda: answered.append(postback(query)))
        sender.start()
        assert wait_until(lambda: _connected(socket_path), timeout=10)
        os.kill(writer.pid, signal.SIGKILL)
        sender.join(timeout=30)

    [answer] = answered
    assert answer.status_code == 503 and answer["Retry-After"]
    assert answer.json()["status"] == 2
    assert not Conversion.objects.exists()
    # The advertiser's retry, once a writer is back, records the conversion once.
    with postback_writer(socket_path):
        assert postback(query).json()["message"] == "ok"
        assert postback(query).json()["message"] == "duplicate"
    assert Conversion.objects.count() == 1


def test_a_writer_stopped_while_busy_records_and_answers_what_it_was_sent(socket_path, click_ids):
    offer = Offer.objects.get()
    answered = {}

    def send(name, query):
        answered[name] = postback(query)

    with postback_writer(socket_path) as writer:
        with transaction.atomic():
            # Holds the offer's row (SQLite: the whole database), so the writer's batch waits.
            Offer.objects.select_for_update().get(pk=offer.pk)
            first = threading.Thread(target=send, args=("first", f"clickid={click_ids[0]}"))
            first.start()
            assert wait_until(lambda: _connected(socket_path, clients=1), timeout=10)
            time.sleep(0.5)  # read by now, and stuck on the lock
            second = threading.Thread(target=send, args=("second", f"clickid={click_ids[1]}"))
            second.start()
            assert wait_until(lambda: _connected(socket_path, clients=2), timeout=10)
            time.sleep(0.5)  # sent by now, and not read: the writer is still on the first
            writer.send_signal(signal.SIGTERM)
        first.join(timeout=30)
        second.join(timeout=30)
        writer.wait(timeout=20)

    assert answered["first"].json()["message"] == "ok"
    assert answered["second"].json()["message"] == "ok"
    assert Conversion.objects.count() == 2
    assert any("2 postbacks recorded" in line for line in writer.output)


def _connected(socket_path: str, clients: int = 1) -> bool:
    """True once `clients` clients have connected to the writer's socket (accepted or not): the
    kernel lists each connection's end with the socket's path, beside the listening socket."""
    with open("/proc/net/unix") as sockets:
        return sum(line.rstrip("\n").endswith(f" {socket_path}") for line in sockets) >= clients + 1


def test_through_the_writer_a_refusal_keeps_its_advertisers_choice_of_a_200(socket_path, click_ids):
    offer = Offer.objects.get()
    offer.advertiser.refusals_answer_200 = True
    offer.advertiser.save()
    with postback_writer(socket_path) as writer:
        answer = postback(f"clickid={click_ids[0]}&status=9")
        assert recorded_by(writer) == 1
    assert (answer.status_code, answer.json()) == (200, {"status": 2, "message": "Unknown status"})
    assert ServerPostback.objects.get().http_status == 200
