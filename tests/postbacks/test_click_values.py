"""A conversion's postbacks and explain once its click is no longer kept: clicks are dropped after
CLICK_RETENTION_DAYS, conversions are kept, so what they need of the click is what the
conversion kept of it when it was made (conversions.click_values)."""

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.db import connection

from conversions.lifecycle import conversion_set_status
from conversions.models import Conversion, ConversionEvent
from offers.choices import ConversionStatus
from postbacks import macros
from postbacks.chain import Lookup, conversion_chain
from postbacks.models import Delivery
from postbacks.serializers import chain_data
from tests.factories import (
    ClickFactory,
    ConversionEventFactory,
    ConversionFactory,
    OfferFactory,
    PostbackFactory,
)
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

SECURE = "s3cret-code"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
# Every macro that reads the click, and a few that do not.
TEMPLATE = (
    "http://127.0.0.1:9/pb?cid={clickid}&ref={ref_id}&e1={ext1}&e2={ext2}&e3={ext3}&os_id={os_id}"
    "&s1={sub1}&ua={uagent}&ip={ip}&ref_page={referrer}&fb={fbclid}&geo={geo}&os={os}"
    "&dev={click_device_type}&br={browser}&lang={language}&click_date={click_date}&status={status}"
)


def drop_click(click_id: str) -> None:
    """What dropping its week's partition does to a click: the row goes, whatever refers to it."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Click._meta.db_table} WHERE click_id = %s", [click_id])
    assert not Click.objects.filter(click_id=click_id).exists()


def loaded(conversion) -> Conversion:
    return Conversion.objects.select_related("offer", "goal", "affiliate", "click").get(pk=conversion.pk)


def sent(event_pk) -> dict[str, str]:
    (delivery,) = Delivery.objects.filter(event_id=event_pk)
    return dict(parse_qsl(urlsplit(delivery.url).query, keep_blank_values=True))


@pytest.fixture
def offer():
    return OfferFactory(secure_code=SECURE)


def test_a_status_change_after_the_click_is_dropped_sends_what_the_first_postback_sent(
    client, offer, affiliate
):
    PostbackFactory(affiliate=affiliate, offer=offer, url=TEMPLATE)
    query = {"pid": affiliate.pid, "offer_id": offer.offer_id, "format": "json", "sub1": "s-1"}
    query |= {"ref_id": "r-7", "ext1": "e-1", "ext2": "e-2", "ext3": "e-3", "os_id": "o-9", "fbclid": "fb-3"}
    headers = {
        "HTTP_USER_AGENT": IPHONE,
        "HTTP_REFERER": "https://blog.example/post",
        "HTTP_ACCEPT_LANGUAGE": "de-DE",
    }
    click_id = client.get(f"/click?{urlencode(query)}", **headers).json()["click_id"]
    postback = {"clickid": click_id, "secure": SECURE, "status": "2"}
    assert client.get(f"/postback?{urlencode(postback)}").json()["message"] == "ok"
    conversion = Conversion.objects.get(click__click_id=click_id)
    created = conversion.events.get().pk

    drop_click(click_id)
    # A manager's approval: the advertiser's postback names the click, which is refused once gone.
    source = ConversionEvent.Source.MANAGER
    approved = conversion_set_status(
        conversion=conversion, status=ConversionStatus.APPROVED, source=source
    ).pk

    first, later = sent(created), sent(approved)
    assert (first.pop("status"), later.pop("status")) == ("2", "1")
    assert later == first
    assert later["cid"] == click_id
    assert (later["ref"], later["e1"], later["e2"], later["e3"], later["os_id"]) == (
        "r-7",
        "e-1",
        "e-2",
        "e-3",
        "o-9",
    )
    assert (later["s1"], later["fb"], later["ref_page"]) == ("s-1", "fb-3", "https://blog.example/post")
    assert (later["ua"], later["ip"]) == (IPHONE, "127.0.0.1")
    assert (later["os"], later["dev"], later["br"], later["lang"]) == (
        "iOS",
        "mobile",
        "Mobile Safari",
        "de-DE",
    )
    assert later["click_date"]


def test_a_conversion_from_before_the_kept_values_reads_its_click_while_it_is_there_and_fails_no_more_after():
    old_click, dropped_click = (ClickFactory(ref_id=f"r-{n}", ip="198.51.100.4") for n in (1, 2))
    old, gone = (
        ConversionFactory(offer=click.offer, affiliate=click.affiliate, click=click, click_values={})
        for click in (old_click, dropped_click)
    )
    Conversion.objects.filter(pk=gone.pk).update(ip="203.0.113.9", country="FR")
    drop_click(dropped_click.click_id)

    values = macros.values_for(loaded(old), status=2)
    assert (values["clickid"], values["ref_id"], values["ip"]) == (old_click.click_id, "r-1", "198.51.100.4")
    for conversion in (loaded(gone), Conversion.objects.get(pk=gone.pk)):
        values = macros.values_for(conversion, status=2)
        # Nothing is left of the click: the conversion's own values stand, as without a click.
        assert (values["clickid"], values["ref_id"], values["click_date"]) == ("", "", "")
        assert (values["ip"], values["geo"]) == ("203.0.113.9", "FR")


def test_the_explain_of_a_conversion_whose_click_is_dropped_says_it_is_no_longer_kept(
    settings, portal, affiliate
):
    settings.CLICK_RETENTION_DAYS = 200
    click = ClickFactory(affiliate=affiliate, ref_id="r-1")
    conversion = ConversionEventFactory(
        conversion__offer=click.offer, conversion__affiliate=affiliate, conversion__click=click
    ).conversion
    drop_click(click.click_id)

    chain = conversion_chain(Lookup("conversion_id", conversion.conversion_id), affiliate=affiliate)
    (gone,) = [entry for entry in chain.entries if entry.kind == "gone_click"]
    assert (gone.click_id, gone.at) == (click.click_id, click.created_at)
    assert not chain.clicks and "200 days" in gone.note

    data = chain_data(chain)
    assert data["entries"][0] == {
        "type": "gone_click",
        "at": click.created_at,
        "click_id": click.click_id,
        "note": gone.note,
    }
    assert data["entries"][1]["conversion"]["click_id"] == click.click_id

    page = portal.get("/statistics/explain/", {"conversion_id": conversion.conversion_id})
    assert page.status_code == 200
    assert f"<code>{click.click_id}</code>" in page.content.decode() and gone.note in page.content.decode()


def test_the_explain_api_answers_for_a_conversion_whose_click_is_dropped(affiliate_api, affiliate):
    click = ClickFactory(affiliate=affiliate)
    conversion = ConversionEventFactory(
        conversion__offer=click.offer, conversion__affiliate=affiliate, conversion__click=click
    ).conversion
    drop_click(click.click_id)

    answer = affiliate_api.get("/api/v1/explain/", {"conversion_id": conversion.conversion_id})
    assert answer.status_code == 200
    types = [entry["type"] for entry in answer.json()["entries"]]
    assert types == ["gone_click", "conversion_event"]


def test_the_explain_asked_by_a_dropped_clicks_id_finds_its_conversions_for_their_affiliate_only(affiliate):
    click = ClickFactory(affiliate=affiliate)
    conversion = ConversionEventFactory(
        conversion__offer=click.offer, conversion__affiliate=affiliate, conversion__click=click
    ).conversion
    drop_click(click.click_id)

    chain = conversion_chain(Lookup("click_id", click.click_id), affiliate=affiliate)
    assert chain.conversions == [conversion]
    assert [entry.kind for entry in chain.entries][:1] == ["gone_click"]
    other = ConversionFactory().affiliate
    assert conversion_chain(Lookup("click_id", click.click_id), affiliate=other) is None
