"""Public ids of clicks and conversions: 24 hex characters, time-ordered, unguessable."""

import re
import time

from config.ids import new_public_id


def test_a_public_id_is_a_timestamp_then_random_bytes_in_24_lowercase_hex_characters():
    before = int(time.time())
    ids = [new_public_id() for _ in range(1000)]
    after = int(time.time())

    assert all(re.fullmatch(r"[0-9a-f]{24}", public_id) for public_id in ids)
    assert all(before <= int(public_id[:8], 16) <= after for public_id in ids)
    assert len(set(ids)) == len(ids)
