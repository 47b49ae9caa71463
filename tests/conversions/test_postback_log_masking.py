"""The postback log keeps each hit's query as sent, except the advertiser's secure code, which is a
password: a `secure` pair is shown as `secure=***` however its name is spelt, and the code itself
wherever else the request carried it. What is logged is at most 8,192 characters."""

from urllib.parse import urlencode

import pytest

from conversions.models import ServerPostback
from tests.factories import OfferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def offer():
    return OfferFactory(secure_code="p@ss word")


@pytest.fixture
def click_id(client, offer, affiliate):
    return client.get(f"/click?pid={affiliate.pid}&offer_id={offer.offer_id}&format=json").json()["click_id"]


def logged() -> ServerPostback:
    return ServerPostback.objects.order_by("pk").last()


def test_the_secure_pair_of_a_query_is_masked_and_the_rest_kept(client, click_id):
    response = client.get(f"/postback?clickid={click_id}&secure=p%40ss+word&goal=1")
    assert response.json()["message"] == "ok"
    assert logged().query == f"clickid={click_id}&secure=***&goal=1"


@pytest.mark.parametrize("name", ["SECURE", "Secure", "secur%65", "%73ecure"])
def test_the_secure_pair_is_masked_whatever_the_spelling_of_its_name(client, click_id, name):
    client.get(f"/postback?clickid={click_id}&{name}=p%40ss+word")
    assert logged().query == f"clickid={click_id}&{name}=***"


def test_a_wrong_code_is_masked_too(client, click_id):
    response = client.get(f"/postback?clickid={click_id}&secure=guess%21")
    assert response.json()["message"] == "Access denied"
    assert logged().query == f"clickid={click_id}&secure=***"


def test_the_secure_pair_of_a_form_body_is_masked_on_its_own_line(client, click_id):
    body = "secure=p%40ss+word&goal=1"
    assert client.post(f"/postback?clickid={click_id}", body, FORM).json()["message"] == "ok"
    # The body follows the query on its own line, the line break shown as an escape.
    assert logged().query == f"clickid={click_id}\\x0asecure=***&goal=1"


def test_a_multipart_body_is_masked_by_the_code_it_carried(client, click_id):
    assert client.post("/postback", {"clickid": click_id, "secure": "p@ss word"}).json()["message"] == "ok"
    query = logged().query
    assert "p@ss word" not in query and query.count("***") == 1
    assert click_id in query


def test_the_code_is_masked_wherever_else_the_query_repeats_it(client, click_id, offer):
    offer.secure_code = "plaincode"
    offer.save()
    client.get(f"/postback?clickid={click_id}&secure=plaincode&comment=plaincode")
    assert logged().query == f"clickid={click_id}&secure=***&comment=***"


@pytest.mark.parametrize(
    "query",
    ["secured=abc&insecure=abc", "secure&x=1", "a=1&&b=2", "comment=secure%3Dx"],
)
def test_pairs_that_are_no_secure_pair_are_kept_as_sent(client, query):
    client.get(f"/postback?{query}")
    assert logged().query == query


def test_an_empty_secure_pair_is_masked_without_touching_the_rest(client, click_id):
    client.get(f"/postback?clickid={click_id}&secure=&sub1=a")
    assert logged().query == f"clickid={click_id}&secure=***&sub1=a"


def test_a_query_longer_than_8192_characters_is_logged_cut(client, click_id):
    fields = [f"custom_field{n}" for n in range(1, 16)] + [f"sub{n}" for n in range(1, 9)]
    params = {"clickid": click_id, **{name: "v" * 500 for name in fields}, "goal": "1"}
    query = urlencode(params)
    assert len(query) > 8192
    client.get(f"/postback?{query}")
    assert logged().query == query[:8192]


def test_a_code_holding_an_equals_sign_is_masked_whole(client, click_id, offer):
    offer.secure_code = "a=b c"
    offer.save()
    assert client.get(f"/postback?clickid={click_id}&secure=a=b+c").json()["message"] == "ok"
    assert logged().query == f"clickid={click_id}&secure=***"
