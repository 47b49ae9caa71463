"""Outbound safety: unsafe postback URLs are refused when saved and when sent."""

import pytest
from django.core.exceptions import ValidationError

from postbacks.outbound import address_allowed, url_problem
from postbacks.services import postback_save, postback_send_test
from tests.factories import OfferFactory, PostbackFactory


@pytest.fixture
def private_networks_refused(settings):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"


REFUSED_URLS = [
    "http://127.0.0.1/pb",
    "http://localhost/pb",
    "http://[::1]/pb",
    "http://10.1.2.3/pb",
    "http://172.16.0.1/pb",
    "http://192.168.1.1/pb",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/pb",
    "http://0.0.0.0/pb",
    "http://2130706433/pb",
    "http://0177.0.0.1/pb",
    "http://0x7f.0.0.1/pb",
    "http://[::ffff:127.0.0.1]/pb",
    "http://[::ffff:a9fe:a9fe]/pb",
    "http://[64:ff9b::a00:1]/pb",
    "http://[2002:7f00:1::]/pb",
    "http://[fe80::1]/pb",
    "http://[fc00::1]/pb",
    "http://224.0.0.1/pb",
    "http://240.0.0.1/pb",
    "ftp://203.0.113.10/pb",
    "file:///etc/passwd",
    "gopher://example.com/",
    "javascript:alert(1)",
    "http://user:secret@8.8.8.8/pb",
    "http://user@8.8.8.8/pb",
    "http:///pb",
    "http://8.8.8.8:99999/pb",
    "http://8.8.8.8/p b",
    "http://{sub1}.example.com/pb",
]


@pytest.mark.usefixtures("private_networks_refused")
@pytest.mark.parametrize("url", REFUSED_URLS)
def test_unsafe_urls_are_refused_with_a_reason(url):
    assert url_problem(url)


@pytest.mark.usefixtures("private_networks_refused")
@pytest.mark.parametrize(
    "url", ["http://8.8.8.8/pb?c={clickid}", "https://1.1.1.1:8443/x/{sub1}", "https://tracker.invalid/pb"]
)
def test_public_or_not_yet_resolvable_urls_are_accepted(url):
    assert url_problem(url) is None


@pytest.mark.usefixtures("private_networks_refused")
@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "::ffff:10.0.0.1"])
def test_private_addresses_are_refused_unless_allowed(settings, address):
    assert not address_allowed(address)
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "true"
    assert address_allowed(address)


def test_allowed_networks_can_be_named(settings):
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "127.0.0.0/8, 10.1.0.0/16"
    assert address_allowed("127.0.0.5") and address_allowed("10.1.2.3")
    assert not address_allowed("10.2.0.1") and not address_allowed("169.254.169.254")


@pytest.mark.django_db
@pytest.mark.usefixtures("private_networks_refused")
def test_saving_an_unsafe_postback_is_refused_with_a_field_error(affiliate):
    postback = PostbackFactory.build(affiliate=affiliate, url="http://169.254.169.254/latest")
    with pytest.raises(ValidationError) as refused:
        postback_save(postback)
    assert "public addresses" in refused.value.message_dict["url"][0]
    assert postback.pk is None


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_address_that_became_private_is_refused_when_sending(settings, httpserver, affiliate, host):
    """Saved while allowed (as if the name resolved to a public address then), refused at sending."""
    OfferFactory()
    postback = PostbackFactory(affiliate=affiliate, url=httpserver.url_for("/pb").replace("localhost", host))
    settings.POSTBACK_ALLOW_PRIVATE_NETWORKS = "false"

    delivery = postback_send_test(postback)

    assert (delivery.state, delivery.http_code) == ("failed", 0)
    assert "127.0.0.1" in delivery.error or "private" in delivery.error
    assert httpserver.log == []
