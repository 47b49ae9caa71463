"""Public ids of what the traffic creates (clicks, conversions): the ids links, postbacks and the API
name them by, apart from their primary keys."""

import os
import time


def new_public_id() -> str:
    """24 lowercase hex characters: a 4-byte timestamp, then 8 random bytes.

    The timestamp keeps ids roughly time-ordered (friendly to the index); 64 random bits per
    second make them impossible to enumerate.
    """
    return int(time.time()).to_bytes(4, "big").hex() + os.urandom(8).hex()
