"""Which addresses a postback may reach, at the edges of each rule: every spelling of
POSTBACK_ALLOW_PRIVATE_NETWORKS, addresses that look public but are not, and every form in which
a host can spell an IPv4 address (judged by that address) or fail to (looked up as a name).

Names are answered by a test DNS resolver wrapped around the system's (as in
tests/security/test_ssrf_matrix.py): here every name resolves to a private address, so a host that
is looked up is refused naming that address, while a host that spells an address is judged by
the address it spells."""

import ipaddress
import socket

import pytest

from postbacks.outbound import address_allowed, url_problem

PRIVATE = "a private, local or reserved address: postbacks can only be sent to public addresses"
EVERY_NAME_RESOLVES_TO = "10.0.0.7"


@pytest.fixture(autouse=True)
def private_networks_refused(settings):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"


@pytest.fixture
def dns(monkeypatch):
    """Every name resolves to what `zone` says for it, or to EVERY_NAME_RESOLVES_TO; the names
    looked up are kept in `zone["looked up"]`."""
    zone: dict = {"looked up": []}

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = (host.decode() if isinstance(host, bytes) else host or "").lower()
        zone["looked up"].append(name)
        answers = []
        for address in zone.get(name, [EVERY_NAME_RESOLVES_TO]):
            v6 = ipaddress.ip_address(address).version == 6
            sockaddr = (address, int(port or 0), 0, 0) if v6 else (address, int(port or 0))
            answers.append((socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM, 6, "", sockaddr))
        return answers

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return zone


# --- POSTBACK_ALLOW_PRIVATE_NETWORKS ----------------------------------------------------------


@pytest.mark.parametrize("setting", ["", "false", "off", "no", "0", " OFF ", "False"])
def test_each_spelling_of_off_allows_no_private_network(settings, setting):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = setting
    assert not address_allowed("10.0.0.1") and not address_allowed("::1")
    assert address_allowed("8.8.8.8")


@pytest.mark.parametrize("setting", ["true", "on", "yes", "1", " TRUE ", "Yes"])
def test_each_spelling_of_on_allows_every_network(settings, setting):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = setting
    assert all(address_allowed(address) for address in ("10.0.0.1", "127.0.0.1", "::1", "fd00::7", "8.8.8.8"))


def test_named_networks_may_have_spaces_upper_case_and_host_bits(settings):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = " 10.1.2.3/16 ,FD00::/8"

    assert address_allowed("10.1.200.1") and address_allowed("fd00::7")
    assert not address_allowed("10.2.0.1") and not address_allowed("127.0.0.1")
    assert not address_allowed("fe80::1")


def test_changing_the_setting_changes_the_verdict_at_once(settings):
    assert url_problem("http://10.1.0.5/pb")
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "10.1.0.0/16"
    assert url_problem("http://10.1.0.5/pb") is None
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"
    assert url_problem("http://10.1.0.5/pb")


# --- Addresses that look public -----------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "230.0.0.1",  # global multicast
        "ff0e::1",  # global multicast, v6
        "4000::1",  # reserved v6
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "fe80::1%eth0",
    ],
)
def test_addresses_global_in_name_only_are_refused(address):
    assert not address_allowed(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2001:4860:4860::8888", "2002:808:808::1", "2001:4860:4860::8888%eth0"]
)
def test_public_addresses_are_allowed_whatever_wraps_them(address):
    """A 6to4 address of a public IPv4 address is public; a zone id names no other address."""
    assert address_allowed(address)


# --- A host that spells an address, in any form -----------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("127.16777215", "127.255.255.255"),  # two parts: the last fills three bytes
        ("127.0.65535", "127.0.255.255"),  # three parts: the last fills two bytes
        ("10.1.2", "10.1.0.2"),
        ("10.0.0.255", "10.0.0.255"),
        ("0xa.0xff.0377.255", "10.255.255.255"),
        ("4294967295", "255.255.255.255"),  # one part: all four bytes
        ("255.1", "255.0.0.1"),
        ("0x.0x.0x.0x", "0.0.0.0"),
        ("0", "0.0.0.0"),
        ("10.0.0.1.", "10.0.0.1"),
    ],
)
def test_a_host_spelling_a_private_address_is_refused_naming_that_address(dns, host, address):
    assert url_problem(f"http://{host}/pb") == f"The host {host.lower()} resolves to {address}, {PRIVATE}."
    assert dns["looked up"] == []


@pytest.mark.parametrize("host", ["134744072", "8.8.2056", "0x8.0x8.0x8.0x8", "010.010.010.010", "8.524296"])
def test_a_host_spelling_a_public_address_is_accepted_without_a_lookup(dns, host):
    assert url_problem(f"http://{host}/pb") is None
    assert dns["looked up"] == []


@pytest.mark.parametrize(
    "host",
    [
        "127.16777216",  # two parts: the last is over three bytes
        "127.0.65536",  # three parts: the last is over two bytes
        "127.0.0.256",
        "4294967296",
        "256.1",  # a leading part over a byte
        "1.256.0.1",
        "1.2.3.4.5",  # five parts
        "10.0.0.1..",  # two trailing dots
        "08.1",  # not octal
        "0x7g.1",
        ".1",
        "1..1",
    ],
)
def test_a_host_in_no_address_form_is_looked_up_as_a_name(dns, host):
    assert url_problem(f"http://{host}/pb") == (
        f"The host {host} resolves to {EVERY_NAME_RESOLVES_TO}, {PRIVATE}."
    )
    assert dns["looked up"] == [host]


def test_a_name_with_several_private_addresses_is_refused_naming_the_first(dns):
    dns["tracker.example"] = ["8.8.8.8", "10.0.0.9", "192.168.1.1"]
    assert (
        url_problem("http://tracker.example/pb")
        == f"The host tracker.example resolves to 10.0.0.9, {PRIVATE}."
    )


def test_a_name_with_only_public_addresses_is_accepted(dns):
    dns["tracker.example"] = ["8.8.8.8", "2001:4860:4860::8888"]
    assert url_problem("https://tracker.example:8443/pb?c={clickid}") is None


# --- Characters the URL may hold ------------------------------------------------------------


@pytest.mark.parametrize("character", ["\x00", "\x1f", " ", "\t", "\n", "\x7f", "\x85", "\u3000"])
def test_a_url_with_a_space_or_control_character_is_refused(character):
    assert url_problem(f"http://8.8.8.8/a{character}b") == (
        "The URL contains spaces or control characters: percent-encode them."
    )


@pytest.mark.parametrize("character", ["!", "~", "\x80", "é", "%20"])
def test_printable_characters_around_the_control_ranges_are_accepted(character):
    assert url_problem(f"http://8.8.8.8/a{character}b") is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("HTTPS://8.8.8.8/pb", None),
        ("http://:@8.8.8.8/pb", "Credentials in the URL (user:password@) are not allowed."),
        ("http://@8.8.8.8/pb", "Credentials in the URL (user:password@) are not allowed."),
        ("http://user@8.8.8.8/pb", "Credentials in the URL (user:password@) are not allowed."),
        ("ftp://8.8.8.8/pb", "Only http:// and https:// URLs are allowed."),
        ("http:///pb", "The URL has no host."),
        ("http://[::1/pb", "This is not a valid URL."),
        ("http://8.8.8.8:0x50/pb", "This is not a valid URL."),
        ("http://tracker.{sub1}/pb", "Macros are allowed in the path and query, not in the host."),
        ("http://tracker{sub1}/pb", "Macros are allowed in the path and query, not in the host."),
        ("http://}tracker/pb", "Macros are allowed in the path and query, not in the host."),
        ("http://{tracker/pb", "Macros are allowed in the path and query, not in the host."),
        ("http://8.8.8.8/{sub1}?c={clickid}", None),
    ],
)
def test_each_check_of_the_url_itself_gives_its_reason(url, reason):
    assert url_problem(url) == reason
