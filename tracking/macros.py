"""`{name}` macros in URL templates, shared by offer destinations and affiliate postbacks."""

import re
from collections.abc import Mapping
from urllib.parse import quote

MACRO = re.compile(r"\{([A-Za-z0-9_]+)\}")


def substitute(template: str, values: Mapping[str, str]) -> str:
    """Replace each known `{name}` with its value, percent-encoded as a query value.

    The template itself is not re-encoded, and unknown names stay as they are, braces included.
    A value that is None (a visitor without a usable address, say) is empty, never "None".
    """

    def replace(match):
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        return "" if value is None else quote(str(value), safe="")

    return MACRO.sub(replace, template)


def unknown_macros(template: str, known: set[str]) -> list[str]:
    """Names in `template` that `substitute` would leave verbatim, in order of appearance."""
    names = dict.fromkeys(match.group(1) for match in MACRO.finditer(template))
    return [name for name in names if name not in known]
