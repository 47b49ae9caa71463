"""Text a client sent, made safe to judge, log and echo: control characters found or escaped."""

import re

# Unicode's control characters (category Cc): C0, DEL and C1.
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control_characters(value: str) -> bool:
    """True for NUL, line breaks and other control characters: never part of a legitimate
    tracking value, and NUL cannot even be stored in PostgreSQL text."""
    return CONTROL_CHARACTER.search(value) is not None


def printable(value: str) -> str:
    """`value` with its control characters shown as escapes (NUL as `\\x00`), for logs and messages that
    echo what a client sent."""
    return CONTROL_CHARACTER.sub(_escaped, value)


def _escaped(match: re.Match) -> str:
    return f"\\x{ord(match.group()):02x}"
