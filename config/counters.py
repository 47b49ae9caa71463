"""Counters in the shared cache, for limits that every process must see alike (API throttling,
password reset requests)."""

from django.core.cache import cache


def cache_count(key: str, *, timeout: int) -> int:
    """Add one to the counter `key` and answer its new value. A counter that does not exist starts
    at 0 and lives `timeout` seconds from then; adding to it does not extend its life."""
    # `add` creates the counter unless it exists; `incr` then raises it atomically.
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired or evicted between the two calls
        cache.add(key, 0, timeout=timeout)
        return cache.incr(key)
