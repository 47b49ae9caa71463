"""Hostile values for the fuzz suites of the portal, the admin and the API, and how to send them."""

import json
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlsplit

# Each a value that once reached the database, the calendar or int() unchecked somewhere: NUL and
# control characters, a lone surrogate (sent as %ED%A0%80, read as U+FFFD), digits that are not
# ASCII (superscript, Arabic-Indic, full-width), numbers past any column, the calendar's first and
# last days, a regular expression that does not compile, and a very long value.
HOSTILE_VALUES = [
    "\x00",
    "a\x00b",
    "\x1b[31m\r\n\t",
    "\ud800",
    "²",
    "١٢",
    "１２",
    "-1",
    "9" * 30,
    "0001-01-01",
    "9999-12-31",
    "(",
    "x" * 3000,
]
# The few that each fail a different check, for sweeps that send one value per parameter.
SHARP_VALUES = ["\x00", "\ud800", "²", "9" * 30, "0001-01-01"]


def encoded(value: str) -> str:
    """`value` percent-encoded as UTF-8, a lone surrogate included (as a browser never would)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def query(params: dict[str, str]) -> str:
    return "&".join(f"{encoded(name)}={encoded(value)}" for name, value in params.items())


def post(client, path: str, params: dict[str, str]):
    return client.post(path, query(params), content_type="application/x-www-form-urlencoded")


def assert_not_a_server_error(response, what: str) -> None:
    """Never a 5xx; a 4xx says what is wrong (an API error names it, a page is not empty)."""
    assert response.status_code < 500, f"{what}: {response.status_code}"
    # A streamed answer (a CSV export) is read to its end: a row that fails fails there.
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if 400 <= response.status_code < 500:
        if response.get("Content-Type", "").startswith("application/json"):
            body = json.loads(content)
            assert body and all(messages for messages in body.values()), f"{what}: {body}"
        else:
            assert content.strip(), f"{what}: an empty {response.status_code}"


class Form:
    def __init__(self, method: str, action: str):
        self.method, self.action, self.fields = method, action, {}


class PageParser(HTMLParser):
    """The forms of a page (their fields with the values the page gives them) and the names of
    the query parameters its links send, per path."""

    def __init__(self, page_path: str):
        super().__init__()
        self.page_path = page_path
        self.forms: list[Form] = []
        self.link_params: dict[str, set[str]] = {}
        self._form = self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            action = urlsplit(attrs.get("action") or "").path or self.page_path
            self._form = Form((attrs.get("method") or "get").lower(), action)
            self.forms.append(self._form)
        elif tag == "a" and attrs.get("href"):
            href = urlsplit(attrs["href"])
            if not href.netloc and href.query:
                path = href.path or self.page_path
                names = {name for name, _ in parse_qsl(href.query, keep_blank_values=True)}
                self.link_params.setdefault(path, set()).update(names)
        elif self._form is not None and attrs.get("name"):
            name = attrs["name"]
            if tag == "input" and attrs.get("type") in ("checkbox", "radio"):
                if "checked" in attrs or name not in self._form.fields:
                    self._form.fields[name] = attrs.get("value", "on")
            elif tag in ("input", "button"):
                self._form.fields.setdefault(name, attrs.get("value") or "")
            elif tag == "select":
                self._select = name
                self._form.fields.setdefault(name, "")
            elif tag == "textarea":
                self._textarea = name
                self._form.fields[name] = ""
        elif (
            tag == "option"
            and self._form is not None
            and self._select
            and ("selected" in attrs or not self._form.fields[self._select])
        ):
            self._form.fields[self._select] = attrs.get("value", "")

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def parse_page(path: str, html: str) -> PageParser:
    parser = PageParser(path)
    parser.feed(html)
    return parser
