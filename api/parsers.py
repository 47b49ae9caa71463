"""The API's JSON request parser: refuses documents nested deeper than any request of this API
needs, before parsing them, so that `[[[[…` cannot exhaust the parser's recursion (a 500)."""

import re
from itertools import accumulate

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

# The deepest request body is an offer with its goals: {"goals": [{...}]}, three levels.
MAX_DEPTH = 32
# A JSON string, escapes included; what it holds is not structure.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in a JSON text (0 for a scalar). Counted on the brackets
    outside strings, without parsing: malformed text gets a number too, and the parser says
    what is wrong with it."""
    brackets = _BRACKET.findall(_STRING.sub("", text))
    return max(accumulate(1 if bracket in "[{" else -1 for bracket in brackets), default=0)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (strict: no NaN or Infinity), with a limit on nesting."""

    def parse(self, stream, media_type=None, parser_context=None):
        # A text encoding only: DRF refuses codecs that would decompress the body.
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except (UnicodeError, LookupError) as exc:  # undecodable, or a codec that fails or is unknown
            raise ParseError(f"JSON parse error - the body is not {encoding} text.") from exc
        if nesting_depth(text) > MAX_DEPTH:
            raise ParseError(f"JSON parse error - arrays and objects nest more than {MAX_DEPTH} levels deep.")
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
