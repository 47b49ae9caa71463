"""Hosts at the edges of the IPv4 spellings: one part followed by the one trailing dot a client
ignores, and five parts, which no client reads as an address however small the last one is.

Names are answered by a test DNS resolver standing in for the system's: every name resolves to
a private address, so a host that is looked up is refused naming that address and is recorded
as looked up, while a host that spells an address is judged by that address without a lookup."""

import socket

import pytest

from postbacks.outbound import url_problem

PRIVATE = "a private, local or reserved address: postbacks can only be sent to public addresses"
EVERY_NAME_RESOLVES_TO = "10.0.0.7"


@pytest.fixture(autouse=True)
def private_networks_refused(settings):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"


@pytest.fixture
def looked_up(monkeypatch):
    """The names looked up; each resolves to EVERY_NAME_RESOLVES_TO."""
    names = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        names.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (EVERY_NAME_RESOLVES_TO, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("167772161.", "10.0.0.1"),  # one part: all four bytes
        ("0xa000001.", "10.0.0.1"),
        ("012.", "0.0.0.10"),
    ],
)
def test_a_one_part_address_with_a_trailing_dot_is_that_address(looked_up, host, address):
    assert url_problem(f"http://{host}/pb") == f"The host {host} resolves to {address}, {PRIVATE}."
    assert looked_up == []


@pytest.mark.parametrize("host", ["10.0.0.1.0", "127.0.0.1.0", "0.0.0.0.0"])
def test_five_parts_are_a_name_even_when_the_fifth_is_zero(looked_up, host):
    expected = f"The host {host} resolves to {EVERY_NAME_RESOLVES_TO}, {PRIVATE}."
    assert url_problem(f"http://{host}/pb") == expected
    assert looked_up == [host]
