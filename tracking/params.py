import unicodedata


def has_control_characters(value: str) -> bool:
    """True for NUL, line breaks and other control characters: never part of a legitimate
    tracking value, and NUL cannot even be stored in PostgreSQL text."""
    return any(unicodedata.category(char) == "Cc" for char in value)
