from config.ids import PUBLIC_ID
from config.text import CONTROL_CHARACTER

# Public ids (offer_id, pid) have at most nine digits: see offers.models.MAX_PUBLIC_ID.
MAX_PUBLIC_ID_DIGITS = 9


def public_id(value: str) -> int | None:
    """An offer_id or pid sent as a parameter: ASCII digits only, nine at most; else None."""
    if value.isascii() and value.isdigit() and len(value) <= MAX_PUBLIC_ID_DIGITS:
        return int(value)
    return None


def typed_id(term: str) -> str | None:
    """The id of a click or a conversion a person typed or pasted (a search box, the explain),
    with spaces around it and in any case, as it is stored: lowercase; None for a term of no such
    id's shape. Matched exactly, never case-insensitively: that would wrap the column in UPPER(),
    which no index serves; looked up in its time (ClickQuerySet.named), a click id reads one
    partition."""
    term = term.strip().lower()
    return term if PUBLIC_ID.match(term) else None


def as_sent(value: str) -> str:
    """A header or the query string as the text the client sent. WSGI servers hand their bytes
    over decoded as latin-1 (PEP 3333), so `Ü` sent as UTF-8 arrives as `Ã\\x9c`: the bytes are
    read again as UTF-8, an invalid byte becoming U+FFFD. So a request made in-process must
    carry its headers as a WSGI server would (ASCII is the same either way); a value holding a
    character beyond latin-1 cannot have come from a server, and is kept as it is."""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


def header_text(request, name: str, limit: int) -> str:
    """The request header `name` (a META key such as HTTP_USER_AGENT) as the text the client sent,
    for storing and for macros: without control characters (line breaks would forge lines in logs,
    NUL cannot be stored in PostgreSQL text), at most `limit` characters."""
    return CONTROL_CHARACTER.sub("", as_sent(request.META.get(name, "")))[:limit]
