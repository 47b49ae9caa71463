import unicodedata


def has_control_characters(value: str) -> bool:
    """True for NUL, line breaks and other control characters: never part of a legitimate
    tracking value, and NUL cannot even be stored in PostgreSQL text."""
    return any(unicodedata.category(char) == "Cc" for char in value)


def printable(value: str) -> str:
    """`value` with its control characters shown as escapes (NUL as `\\x00`), for logs and messages that
    echo what a client sent."""
    return "".join(f"\\x{ord(char):02x}" if unicodedata.category(char) == "Cc" else char for char in value)
