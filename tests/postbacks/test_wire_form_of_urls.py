"""The form a URL is sent in (`outbound.wire_url`), case by case: what is encoded where, what is
kept, what is left out, and what is left alone."""

import pytest

from postbacks.outbound import wire_url


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        # The host in its ASCII form, with its port; the fragment is never sent.
        ("http://bücher.example/ü?q=é#frag", "http://xn--bcher-kva.example/%C3%BC?q=%C3%A9"),
        ("http://Bücher.example:8080/", "http://xn--bcher-kva.example:8080/"),
        # A URL with a host has at least "/" as its path; an empty query is not sent.
        ("http://tracker.example", "http://tracker.example/"),
        ("http://tracker.example?x=1", "http://tracker.example/?x=1"),
        ("http://tracker.example/pb?", "http://tracker.example/pb"),
        # "?" may stand in a query; whatever else a request target cannot hold is encoded there.
        ("http://t.example/pb?a=é&b=?c", "http://t.example/pb?a=%C3%A9&b=?c"),
        ("http://t.example/a b?c d#e f", "http://t.example/a%20b?c%20d"),
        # A "%" that starts no escape is encoded; escapes already there are kept.
        ("http://t.example/a%zz%41?b=%&c=%4&d=%2F", "http://t.example/a%25zz%41?b=%25&c=%254&d=%2F"),
        ('http://t.example/{x}|^`<>"[]', "http://t.example/%7Bx%7D%7C%5E%60%3C%3E%22%5B%5D"),
        # An ASCII host is kept as written; the scheme is read in lower case.
        ("HTTP://Tracker.Example:80/pb", "http://Tracker.Example:80/pb"),
        # Without a host, the path is encoded and nothing is added.
        ("mailto:a b", "mailto:a%20b"),
        ("x:", "x:"),
        ("/relative é", "/relative%20%C3%A9"),
    ],
)
def test_a_url_is_sent_in_its_wire_form(url, sent):
    assert wire_url(url) == sent
    assert wire_url(sent) == sent


@pytest.mark.parametrize("url", ["http://[::1/pb", "http://exé..com/", "http://\udcff.example/"])
def test_a_url_too_broken_to_read_comes_back_unchanged(url):
    assert wire_url(url) == url
