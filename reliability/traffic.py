"""Visitors following tracking links and advertisers reporting conversions, over real HTTP, with
what every request was answered.

Visitors do not retry: a click that got no answer is simply not counted as answered. Advertisers
retry what the platform did not accept (a 5xx or no answer), as S2S integrations do, with the
same parameters; a 4xx is final.
"""

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

REQUEST_TIMEOUT = 15
ADVERTISER_RETRY_DELAYS = [1, 1, 2, 2, 4, 4, 8, 8, 8, 8]  # about 45 s in all


@dataclass
class Answer:
    kind: str  # "click" or "postback"
    sent_at: float
    status: int  # 0: no answer (refused connection, reset, timeout)
    seconds: float = 0.0  # from sending the request to its answer, or to the failure
    message: str = ""  # postbacks: "ok", "duplicate" or the error; clicks: the click id
    conversion_id: str = ""
    click_id: str = ""  # postbacks: the click id sent


@dataclass
class Traffic:
    """Everything sent to the platform in a scenario, and how it was answered."""

    base_url: str
    offer_id: int
    pid: int
    answers: list[Answer] = field(default_factory=list)
    # The uniqueness key of each conversion (action_id, else click id) with the status sent,
    # when the platform accepted it ("ok" or "duplicate").
    accepted: list[tuple[str, int, str, str]] = field(default_factory=list)

    def session(self, connections: int = 64) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def click(self, session, sub1: str) -> str | None:
        """A visitor opens the tracking link; returns the click id when answered with the redirect."""
        query = urlencode({"pid": self.pid, "offer_id": self.offer_id, "sub1": sub1})
        # Every visitor from an address of its own, as a load balancer in front of nginx passes it on.
        address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        answer = Answer("click", time.time(), 0)
        self.answers.append(answer)
        try:
            async with session.get(
                f"{self.base_url}/click?{query}", allow_redirects=False, headers={"X-Forwarded-For": address}
            ) as response:
                await response.read()
                answer.status = response.status
                answer.seconds = time.time() - answer.sent_at
                if response.status != 302:
                    return None
                location = response.headers["Location"]
        except (aiohttp.ClientError, TimeoutError) as exc:
            answer.message, answer.seconds = type(exc).__name__, time.time() - answer.sent_at
            return None
        answer.message = parse_qs(urlsplit(location).query)["cid"][0]
        return answer.message

    async def postback(self, session, *, click_id: str, status: int, action_id: str = "") -> Answer:
        """An advertiser reports a conversion (or its new status), retrying until accepted or refused."""
        params = {"clickid": click_id, "status": status, "sum": "12.50"}
        if action_id:
            params["action_id"] = action_id
        url = f"{self.base_url}/postback?{urlencode(params)}"
        for delay in [*ADVERTISER_RETRY_DELAYS, None]:
            answer = Answer("postback", time.time(), 0, click_id=click_id)
            self.answers.append(answer)
            try:
                async with session.get(url) as response:
                    if response.content_type == "application/json":
                        body = await response.json()
                    else:  # an error page
                        body = {"message": f"{response.content_type} answer"}
                    # Only a whole answer counts: a node killed between the status line and the
                    # body leaves a 200 that says nothing, which an advertiser sends again.
                    answer.status = response.status
                    answer.message = body.get("message", "")
                    answer.conversion_id = body.get("conversion_id", "")
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                answer.message = answer.message or type(exc).__name__
            answer.seconds = time.time() - answer.sent_at
            if answer.status == 200:
                self.accepted.append((action_id or click_id, status, answer.message, answer.conversion_id))
                return answer
            if 400 <= answer.status < 500 or delay is None:
                return answer
            await asyncio.sleep(delay)
        return answer

    async def steady(self, seconds: float, *, clicks_per_second: float, converting: float, approved: float):
        """Visitors at a steady rate for `seconds`; a share of them converts a moment later (half
        of the postbacks with an action_id), and a share of those is approved later still."""
        session = self.session()
        visitors = []

        async def visitor(number):
            click_id = await self.click(session, f"visitor-{number}")
            if click_id is None or random.random() >= converting:
                return
            await asyncio.sleep(random.uniform(0.2, 2.0))
            action_id = f"order-{click_id}" if number % 2 else ""
            created = await self.postback(session, click_id=click_id, status=2, action_id=action_id)
            if created.status == 200 and random.random() < approved:
                await asyncio.sleep(random.uniform(0.5, 1.5))
                await self.postback(session, click_id=click_id, status=1, action_id=action_id)

        started = time.monotonic()
        number = 0
        while time.monotonic() - started < seconds:
            visitors.append(asyncio.create_task(visitor(number)))
            number += 1
            await asyncio.sleep(max(0.0, started + number / clicks_per_second - time.monotonic()))
        await asyncio.gather(*visitors)
        await session.close()

    async def flow(self, seconds: float, *, connections: int, converting: float, approved: float):
        """Visitors one after another on each of `connections` connections, as fast as they are
        answered, for `seconds`: what the platform answers per second is its throughput. A share
        converts at once (half of the postbacks with an action_id), a share of those is approved."""
        session = self.session(connections)
        started = time.monotonic()
        numbers = itertools.count()

        async def visitors():
            while time.monotonic() - started < seconds:
                number = next(numbers)
                click_id = await self.click(session, f"visitor-{number}")
                if click_id is None or random.random() >= converting:
                    continue
                action_id = f"order-{click_id}" if number % 2 else ""
                created = await self.postback(session, click_id=click_id, status=2, action_id=action_id)
                if created.status == 200 and random.random() < approved:
                    await self.postback(session, click_id=click_id, status=1, action_id=action_id)

        await asyncio.gather(*(visitors() for _ in range(connections)))
        await session.close()

    async def clicks(self, count: int, *, connections: int = 32) -> list[str]:
        """`count` visitors as fast as the platform answers them; the click ids answered."""
        session = self.session(connections)
        numbers = iter(range(count))
        click_ids = []

        async def visitor():
            for number in numbers:
                click_id = await self.click(session, f"visitor-{number}")
                if click_id:
                    click_ids.append(click_id)

        await asyncio.gather(*(visitor() for _ in range(connections)))
        await session.close()
        return click_ids

    async def postbacks(self, conversions: list[dict], *, connections: int = 64):
        """Send these postbacks (keyword arguments of `postback`) concurrently, in this order."""
        session = self.session(connections)
        pending = iter(conversions)

        async def advertiser():
            for conversion in pending:
                await self.postback(session, **conversion)

        await asyncio.gather(*(advertiser() for _ in range(connections)))
        await session.close()
