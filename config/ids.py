"""Public ids of what the traffic creates (clicks, conversions): the ids links, postbacks and the API
name them by, apart from their primary keys."""

import os
import re
import time
from datetime import UTC, datetime

# What every public id looks like.
PUBLIC_ID = re.compile(r"^[0-9a-f]{24}\Z")


def new_public_id(*, at: float | None = None) -> str:
    """24 lowercase hex characters: a 4-byte timestamp (of now, or of the Unix time `at`), then 8
    random bytes.

    The timestamp keeps ids roughly time-ordered (friendly to the index) and names the time
    partition of their row (config.partitions); 64 random bits per second make them impossible
    to enumerate.
    """
    return int(time.time() if at is None else at).to_bytes(4, "big").hex() + os.urandom(8).hex()


def public_id_time(public_id: str) -> datetime:
    """The second a public id (`new_public_id`) was made in."""
    return datetime.fromtimestamp(int(public_id[:8], 16), tz=UTC)
