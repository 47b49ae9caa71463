"""The per-key API rate limit: a sliding-window counter in the shared cache.

Each key counts its requests in one cache entry per window (a minute for "1200/min"), raised with
the cache's atomic `incr` (INCR on Redis, a lock in the local-memory cache), so requests arriving
at the same moment in any number of threads and processes each get a count of their own and never
overwrite each other's. DRF's own throttle reads a list of timestamps and writes it back, and
parallel requests lose each other's updates: that is why it is not used.

The limit applies to a sliding window, estimated from two counters: the previous window's count
weighted by the part of it still inside the last `duration` seconds, plus the current count. A
fixed window alone would let a client send the whole rate at the end of one window and again at
the start of the next.
"""

import contextlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from config.counters import cache_count

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """A rate such as "1200/min" as (1200, 60): requests per second, minute, hour or day."""
    number, _, period = rate.partition("/")
    return int(number), PERIODS[period.strip()[:1].lower()]


class ApiKeyRateThrottle(BaseThrottle):
    """Limits each API key to API_THROTTLE_RATE (e.g. "1200/min"); requests without a key are
    counted by address. A refused request does not count: a client that keeps retrying is let in
    again as soon as its accepted requests leave the window."""

    scope = "api_key"

    def allow_request(self, request, view) -> bool:
        limit, duration = parse_rate(settings.API_THROTTLE_RATE)
        ident = request.auth.pk if request.auth is not None else self.get_ident(request)
        now = time.time()
        window, elapsed = divmod(now, duration)
        current_key = f"throttle:{self.scope}:{ident}:{int(window)}"
        previous = cache.get(f"throttle:{self.scope}:{ident}:{int(window) - 1}", 0)
        # Kept past the next window, where it is the previous count.
        current = cache_count(current_key, timeout=2 * duration)
        # previous * (1 - elapsed / duration) + current <= limit, without rounding errors.
        if previous * (duration - elapsed) <= (limit - current) * duration:
            return True
        with contextlib.suppress(ValueError):  # the counter was evicted meanwhile: nothing to take back
            cache.decr(current_key)
        self._wait = _seconds_until_allowed(limit, duration, elapsed, previous, current - 1)
        return False

    def wait(self) -> float:
        return self._wait


def _seconds_until_allowed(limit, duration, elapsed, previous, current) -> float:
    """When one more request fits: later in this window, as the previous window's weight fades,
    or in the next one, where this window's count becomes the one that fades."""
    remaining = duration - elapsed
    if previous and current + 1 <= limit:
        # previous * (remaining - wait) / duration + current + 1 <= limit
        return max(1, math.ceil(remaining - (limit - current - 1) * duration / previous))
    # In the next window: current * (duration - later) / duration + 1 <= limit
    later = max(0, duration - (limit - 1) * duration / current) if current else 0
    return max(1, math.ceil(remaining + later))
