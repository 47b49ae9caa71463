"""The per-key rate limit holds under parallel requests, and its window slides."""

import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework.test import APIClient

from api.services import api_key_issue
from api.throttling import ApiKeyRateThrottle, parse_rate

CLIENTS = 32
REQUESTS_PER_CLIENT = 8


def _get(url: str, raw_key: str) -> tuple[int, str | None]:
    request = urllib.request.Request(url, headers={"API-Key": raw_key})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Retry-After")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_thirty_two_clients_in_parallel_with_one_key_get_exactly_the_rate(settings, live_server, affiliate):
    # An hour-long window: the test cannot straddle two windows in a way that lets more in.
    settings.API_THROTTLE_RATE = "20/hour"
    _, raw_key = api_key_issue(user=affiliate.user)
    url = f"{live_server.url}/api/v1/me/"
    start = threading.Barrier(CLIENTS)

    def client(_):
        start.wait()
        return [_get(url, raw_key) for _ in range(REQUESTS_PER_CLIENT)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [answer for answers in pool.map(client, range(CLIENTS)) for answer in answers]

    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 20
    assert statuses.count(429) == CLIENTS * REQUESTS_PER_CLIENT - 20
    assert all(int(retry_after) > 0 for status, retry_after in answers if status == 429)


@pytest.mark.django_db
def test_the_rate_is_counted_per_key_in_parallel(settings, affiliate):
    settings.API_THROTTLE_RATE = "5/hour"
    keys = [api_key_issue(user=affiliate.user)[1] for _ in range(3)]
    clients = {raw_key: APIClient() for raw_key in keys}
    for raw_key, client in clients.items():
        client.credentials(HTTP_API_KEY=raw_key)

    for client in clients.values():
        assert [client.get("/api/v1/me/").status_code for _ in range(6)] == [200] * 5 + [429]


def _throttle_at(monkeypatch, moment: float) -> ApiKeyRateThrottle:
    monkeypatch.setattr(time, "time", lambda: moment)
    return ApiKeyRateThrottle()


class _Keyed:
    class auth:
        pk = "sliding"


def test_requests_of_the_previous_window_still_count_by_the_part_of_it_inside_the_last_duration(
    settings, monkeypatch
):
    settings.API_THROTTLE_RATE = "10/min"
    start = 6_000_000 * 60  # the start of a minute
    assert all(_throttle_at(monkeypatch, start + 50).allow_request(_Keyed, None) for _ in range(10))

    # 15 s into the next minute, 45 of the previous minute's 60 s are inside the last minute: its
    # 10 requests weigh 7.5, so two more fit, not ten.
    throttle = _throttle_at(monkeypatch, start + 75)
    assert [throttle.allow_request(_Keyed, None) for _ in range(3)] == [True, True, False]
    # One more fits once the previous minute weighs 7 or less: at 18 s into this minute.
    assert throttle.wait() == 3

    assert _throttle_at(monkeypatch, start + 78).allow_request(_Keyed, None)


def test_a_full_window_waits_for_its_count_to_fade_in_the_next_one(settings, monkeypatch):
    settings.API_THROTTLE_RATE = "4/min"
    start = 6_000_000 * 60
    throttle = _throttle_at(monkeypatch, start + 30)
    assert [throttle.allow_request(_Keyed, None) for _ in range(5)] == [True] * 4 + [False]
    # The next minute starts in 30 s; there, one more fits once the 4 weigh 3: 15 s into it.
    assert throttle.wait() == 45
    assert not _throttle_at(monkeypatch, start + 74).allow_request(_Keyed, None)
    assert _throttle_at(monkeypatch, start + 75).allow_request(_Keyed, None)


@pytest.mark.parametrize(
    "rate, parsed",
    [("1200/min", (1200, 60)), ("5/s", (5, 1)), ("100/hour", (100, 3600)), ("7/day", (7, 86400))],
)
def test_the_rate_is_a_number_per_second_minute_hour_or_day(rate, parsed):
    assert parse_rate(rate) == parsed
