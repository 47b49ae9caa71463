"""The explain of a conversion: every postback of the affiliate, fired or not and why, in words
from the firing rule itself. Conversions come through the real advertiser postback, so the
deliveries are made by the real writer, and every case checks that the explain says "fired"
for exactly the postbacks that got a delivery."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.ids import public_id_time
from conversions.lifecycle import conversion_set_status
from conversions.models import Conversion, ConversionEvent, ServerPostback
from offers.choices import ConversionStatus
from postbacks.chain import Lookup, conversion_chain
from postbacks.explanations import disabled_reason
from postbacks.models import Delivery
from postbacks.services import postback_send_test
from tests.factories import AffiliateFactory, ManagerFactory, OfferFactory, PostbackFactory
from tracking.models import Click

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("direct_writes")]

REVENUE = "987.65"
PORTAL = "/statistics/explain/"
ADMIN = "/admin/explain/"


@pytest.fixture
def offer():
    return OfferFactory(
        secure_code="s3cret-code",
        goals=[
            {"value": "install", "title": "Install", "revenue": Decimal(REVENUE)},
            {"value": "purchase", "title": "Purchase", "revenue": Decimal(REVENUE)},
        ],
    )


def click_on(client, offer, affiliate, **subs) -> str:
    query = urlencode({"pid": affiliate.pid, "offer_id": offer.offer_id, "format": "json", **subs})
    return client.get(f"/click?{query}").json()["click_id"]


def report(client, click_id, **params) -> dict:
    """The advertiser's postback for the click, with its secure code unless given."""
    params = {"clickid": click_id, "secure": "s3cret-code", **params}
    return client.get(f"/postback?{urlencode(params)}").json()


def chain_of(click_id, affiliate=None):
    return conversion_chain(Lookup("click_id", click_id), affiliate=affiliate)


def steps(chain):
    return [entry.step for entry in chain.entries if entry.kind == "event"]


def reasons(step, postback) -> list[str]:
    return [why.code for why in verdict_of(step, postback).reasons]


def verdict_of(step, postback):
    return next(verdict for verdict in step.verdicts if verdict.postback.pk == postback.pk)


def assert_fired_exactly_where_delivered(chain):
    """The explain and the writer agree: "fired" for exactly the postbacks that got a delivery."""
    for step in steps(chain):
        delivered = set(Delivery.objects.filter(event=step.event).values_list("postback_id", flat=True))
        fired = {verdict.postback.pk for verdict in step.verdicts if verdict.fired}
        assert fired == delivered, step.event


def test_a_status_filter_that_does_not_match_is_named_and_the_later_approval_fires(client, offer, affiliate):
    approved_only = PostbackFactory(affiliate=affiliate, offer=offer, status="approved")
    click_id = click_on(client, offer, affiliate, sub1="abc")
    report(client, click_id, goal="install", status="2")
    report(client, click_id, goal="install", status="1")

    chain = chain_of(click_id, affiliate)
    created, approved = steps(chain)
    assert reasons(created, approved_only) == ["status"]
    assert (
        verdict_of(created, approved_only).reasons[0].text
        == 'Status filter "Approved" did not match "Pending".'
    )
    assert verdict_of(approved, approved_only).fired
    assert_fired_exactly_where_delivered(chain)


def test_a_creation_only_filter_says_a_status_change_is_not_a_creation(client, offer, affiliate):
    on_creation = PostbackFactory(affiliate=affiliate, offer=offer, status="created")
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install", status="2")
    report(client, click_id, goal="install", status="3")

    created, declined = steps(chain := chain_of(click_id, affiliate))
    assert verdict_of(created, on_creation).fired
    assert (
        verdict_of(declined, on_creation).reasons[0].text.startswith('Status filter "By creating" fires only')
    )
    assert_fired_exactly_where_delivered(chain)


def test_a_goal_that_is_not_the_conversions_is_named(client, offer, affiliate):
    purchase = offer.goals.get(value="purchase")
    for_purchases = PostbackFactory(affiliate=affiliate, offer=offer, goal=purchase)
    for_any_goal = PostbackFactory(affiliate=affiliate, offer=offer)
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install")

    (created,) = steps(chain := chain_of(click_id, affiliate))
    assert verdict_of(created, for_purchases).reasons[0].text == (
        'Goal "purchase" is not the conversion\'s goal "install".'
    )
    assert verdict_of(created, for_any_goal).fired
    assert_fired_exactly_where_delivered(chain)


def test_another_integration_method_is_named(client, offer, affiliate):
    probabilistic = PostbackFactory(affiliate=affiliate, offer=offer, integration_method="probabilistic")
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install")

    (created,) = steps(chain := chain_of(click_id, affiliate))
    assert reasons(created, probabilistic) == ["integration_method"]
    assert "Probabilistic attribution" in verdict_of(created, probabilistic).reasons[0].text
    assert_fired_exactly_where_delivered(chain)


def test_a_matching_local_postback_means_the_global_ones_are_skipped(client, offer, affiliate):
    local = PostbackFactory(affiliate=affiliate, offer=offer)
    global_ = PostbackFactory(affiliate=affiliate)
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install")

    (created,) = steps(chain := chain_of(click_id, affiliate))
    assert verdict_of(created, local).fired
    assert reasons(created, global_) == ["local_fired"]
    assert "global postbacks were skipped" in verdict_of(created, global_).reasons[0].text
    assert_fired_exactly_where_delivered(chain)


@pytest.mark.parametrize("consider_global", [False, True])
def test_consider_global_decides_for_an_offer_whose_local_postbacks_did_not_match(
    client, offer, consider_global
):
    affiliate = AffiliateFactory(consider_global_postback=consider_global)
    local = PostbackFactory(affiliate=affiliate, offer=offer, status="approved")
    global_ = PostbackFactory(affiliate=affiliate)
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install", status="2")

    (created,) = steps(chain := chain_of(click_id, affiliate))
    assert reasons(created, local) == ["status"]
    if consider_global:
        assert verdict_of(created, global_).fired
    else:
        assert reasons(created, global_) == ["consider_global_off"]
        assert '"Consider global postback" is off' in verdict_of(created, global_).reasons[0].text
    assert_fired_exactly_where_delivered(chain)


def test_disabled_postbacks_say_since_when_and_why(client, offer, affiliate):
    failing = PostbackFactory(
        affiliate=affiliate,
        enabled=False,
        disabled_reason=disabled_reason(at=timezone.now(), days=3, error="HTTP 404: Not Found"),
    )
    turned_off = PostbackFactory(affiliate=affiliate, offer=offer, enabled=False)
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install")

    (created,) = steps(chain := chain_of(click_id, affiliate))
    failing_words = verdict_of(created, failing).reasons[0].text
    assert failing_words.startswith("Disabled on ") and "every delivery failed for 3 days" in failing_words
    assert "Last failure: Answered 404 (Not Found)" in failing_words
    assert verdict_of(created, turned_off).reasons[0].text.startswith("Turned off in its settings")
    assert_fired_exactly_where_delivered(chain)


def test_a_postback_created_after_the_event_could_not_have_fired_for_it(client, offer, affiliate):
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install", status="2")
    later = PostbackFactory(affiliate=affiliate)
    report(client, click_id, goal="install", status="1")

    created, approved = steps(chain := chain_of(click_id, affiliate))
    assert reasons(created, later) == ["created_after"]
    assert "after this event: it could not fire for it" in verdict_of(created, later).reasons[0].text
    assert verdict_of(approved, later).fired  # it existed by the approval
    assert_fired_exactly_where_delivered(chain)


def test_a_test_conversion_reaches_only_the_postback_under_test(offer, affiliate):
    tested = PostbackFactory(affiliate=affiliate, offer=offer)
    other = PostbackFactory(affiliate=affiliate)
    delivery = postback_send_test(tested)

    chain = conversion_chain(Lookup("conversion_id", delivery.conversion.conversion_id), affiliate=affiliate)
    (step,) = steps(chain)
    assert reasons(step, other) == ["test_conversion"]
    assert not verdict_of(step, other).deliveries
    under_test = verdict_of(step, tested)
    assert under_test.deliveries == [delivery] and under_test.note == "Sent to it as the postback under test."


def test_deliveries_come_with_their_attempts_explained(client, offer, affiliate):
    PostbackFactory(affiliate=affiliate, offer=offer)
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install")
    delivery = Delivery.objects.get()
    delivery.attempt_log.create(
        started_at=timezone.now(), url=delivery.url, http_code=404, error="HTTP 404", duration_ms=12
    )
    client.force_login(affiliate.user)

    html = client.get(PORTAL, {"click_id": click_id}).content.decode()
    assert str(delivery.delivery_id) in html and "Answered 404 (Not Found)" in html and "12 ms" in html


# --- The advertiser's postbacks ----------------------------------------------------------------------


def test_refused_and_accepted_advertiser_postbacks_of_the_click_are_shown_with_the_secure_code_masked(
    client, offer, affiliate
):
    other_click = click_on(client, offer, affiliate)
    click_id = click_on(client, offer, affiliate)
    refused = report(client, click_id, goal="install", secure="wrong")
    report(client, other_click, goal="install", secure="wrong")  # another click's: not shown
    report(client, click_id, goal="install", sum="123.45")

    chain = chain_of(click_id, affiliate)
    hits = [entry.hit for entry in chain.entries if entry.kind == "hit"]
    assert [hit.outcome for hit in hits] == [ServerPostback.Outcome.REJECTED, ServerPostback.Outcome.CREATED]
    assert hits[0].message == refused["message"]
    kinds = [entry.kind for entry in chain.entries]
    assert kinds == ["click", "hit", "hit", "event"]

    client.force_login(affiliate.user)
    html = client.get(PORTAL, {"click_id": click_id}).content.decode()
    assert "s3cret-code" not in html and "wrong" not in html and "secure=***" in html
    # The order sum the advertiser reported is theirs: a manager sees it, the affiliate does not.
    assert "123.45" not in html and "sum=***" in html
    client.force_login(ManagerFactory())
    admin_html = client.get(ADMIN, {"click_id": click_id}).content.decode()
    assert "sum=123.45" in admin_html and "s3cret-code" not in admin_html


def hits_of(click_id, affiliate=None) -> list[ServerPostback]:
    return [entry.hit for entry in chain_of(click_id, affiliate).entries if entry.kind == "hit"]


def test_a_refused_postback_is_found_by_the_click_id_it_named_not_by_one_elsewhere_in_its_query(
    client, offer, affiliate
):
    click_id = click_on(client, offer, affiliate)
    # Made in the same second, the two ids share their first eight characters.
    other_click = click_on(client, offer, affiliate)
    report(client, click_id.upper(), goal="install", secure="wrong")
    # Another click's refused postback that carries this click's id in another parameter.
    report(client, other_click, goal="install", secure="wrong", comment=f"retry of {click_id}")
    # One character more is no click id at all.
    report(client, f"{click_id}0", goal="install", secure="s3cret-code")

    assert [hit.click_id for hit in hits_of(click_id, affiliate)] == [click_id]
    assert [hit.click_id for hit in hits_of(other_click, affiliate)] == [other_click]
    assert ServerPostback.objects.count() == 3


def test_a_refused_hit_for_another_offer_is_not_shown_with_the_click(client, offer, affiliate):
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install", secure="wrong")
    other_advertisers = ServerPostback.objects.get()
    other_advertisers.pk, other_advertisers.offer = None, OfferFactory()
    other_advertisers.save()

    assert [hit.offer_id for hit in hits_of(click_id, affiliate)] == [offer.pk]


def test_a_refused_pixel_is_found_by_the_click_id_of_its_cookie(client, offer, affiliate):
    click_id = click_on(client, offer, affiliate)
    client.cookies["afclick"] = click_id
    client.get(f"/pixel?offer_id={offer.offer_id}&goal=install")  # without the secure code

    [hit] = hits_of(click_id, affiliate)
    assert (hit.source, hit.message) == (ServerPostback.Source.PIXEL, "Access denied")
    assert click_id not in hit.query


def test_a_refused_postback_is_found_however_late_it_came(client, offer, affiliate):
    click_id = click_on(client, offer, affiliate)
    assert report(client, click_id, goal="install", secure="wrong")["status"] == 2
    ServerPostback.objects.update(received_at=timezone.now() + timedelta(days=offer.click_lifetime_days + 30))

    assert [hit.message for hit in hits_of(click_id, affiliate)] == ["Access denied"]


def _refused_hits_read(queries) -> str:
    [read] = [
        query["sql"]
        for query in queries
        if 'FROM "conversions_serverpostback"' in query["sql"] and '"click_id" = ' in query["sql"]
    ]
    return read


def test_refused_postbacks_are_read_from_the_clicks_time_on_with_a_minute_for_the_clocks(
    client, offer, affiliate
):
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install", secure="wrong")
    made = public_id_time(click_id)
    # Logged by a server whose clock is half a minute behind the click server's: still found.
    ServerPostback.objects.update(received_at=made - timedelta(seconds=30))

    with CaptureQueriesContext(connection) as queries:
        assert [hit.message for hit in hits_of(click_id, affiliate)] == ["Access denied"]
    # Only the weeks from the click's on: none before can hold a postback that named it.
    read = _refused_hits_read(queries)
    assert f""""received_at" >= '{made - timedelta(minutes=1):%Y-%m-%d %H:%M:%S}""" in read, read


def test_a_hit_logged_before_the_click_was_made_is_not_shown_with_it(client, offer, affiliate):
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install", secure="wrong")
    ServerPostback.objects.update(received_at=public_id_time(click_id) - timedelta(days=8))

    assert hits_of(click_id, affiliate) == []


# --- Who sees what -----------------------------------------------------------------------------------


def test_a_click_still_in_the_click_buffer_is_found_by_its_affiliate_only(
    client, offer, affiliate, other_affiliate, buffered_writes
):
    asked_by_another, asked_by_its_own = (
        click_on(client, offer, affiliate),
        click_on(client, offer, affiliate),
    )
    assert not Click.objects.filter(click_id__in=[asked_by_another, asked_by_its_own]).exists()

    client.force_login(other_affiliate.user)
    response = client.get(PORTAL, {"click_id": asked_by_another})
    assert response.status_code == 404 and "Nothing of yours has this" in response.content.decode()
    client.force_login(affiliate.user)
    for click_id in (asked_by_its_own, asked_by_another):
        response = client.get(PORTAL, {"click_id": click_id})
        assert response.status_code == 200
        assert [click.click_id for click in response.context["chain"].clicks] == [click_id]


def test_another_affiliates_ids_are_not_found_like_unknown_ones(client, offer, affiliate, other_affiliate):
    theirs = click_on(client, offer, other_affiliate)
    report(client, theirs, goal="install", action_id="their-order")
    conversion_id = ServerPostback.objects.get(conversion__isnull=False).conversion.conversion_id
    client.force_login(affiliate.user)

    for query in ({"click_id": theirs}, {"conversion_id": conversion_id}, {"action_id": "their-order"}):
        response = client.get(PORTAL, query)
        assert response.status_code == 404
        assert "Nothing of yours has this" in response.content.decode()
    assert client.get(PORTAL, {"click_id": "0" * 24}).status_code == 404


def test_the_affiliate_never_sees_the_revenue_and_a_manager_does(client, offer, affiliate):
    PostbackFactory(affiliate=affiliate, offer=offer)
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install", action_id="order-1")
    client.force_login(affiliate.user)

    for query in ({"click_id": click_id}, {"action_id": "order-1"}):
        response = client.get(PORTAL, query)
        assert response.status_code == 200
        html = response.content.decode()
        assert REVENUE not in html and "Revenue" not in html and "2.50" in html
    client.force_login(ManagerFactory())
    assert REVENUE in client.get(ADMIN, {"click_id": click_id}).content.decode()


def test_one_id_finds_the_chain_whichever_kind_it_is(client, offer, affiliate):
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install", action_id="ORDER-7")
    conversion = ServerPostback.objects.get().conversion
    client.force_login(affiliate.user)

    for query in (
        {"click_id": click_id.upper()},
        {"conversion_id": f" {conversion.conversion_id} "},
        {"action_id": "ORDER-7"},
    ):
        response = client.get(PORTAL, query)
        assert response.status_code == 200, query
        assert response.context["chain"].conversions == [conversion]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"click_id": "", "conversion_id": ""}, "Give one of click_id, conversion_id or action_id."),
        ({"click_id": "a" * 24, "action_id": "x"}, "Give only one of click_id, conversion_id and action_id"),
        ({"click_id": "not-an-id"}, "click_id is 24 characters, digits 0-9 and letters a-f."),
        ({"conversion_id": "a" * 25}, "conversion_id is 24 characters"),
        ({"action_id": "x" * 513}, "action_id is at most 512 characters."),
        ({"action_id": "a\x00b"}, "action_id cannot contain control characters."),
    ],
)
def test_bad_input_is_a_400_that_says_what_is_wrong(portal, query, message):
    response = portal.get(PORTAL, query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_repeated_parameter_is_refused(portal):
    response = portal.get(f"{PORTAL}?click_id={'a' * 24}&click_id={'b' * 24}")
    assert response.status_code == 400 and "Give click_id once." in response.content.decode()


def test_the_page_without_an_id_is_the_form(portal):
    response = portal.get(PORTAL)
    assert response.status_code == 200 and 'name="click_id"' in response.content.decode()


# --- The admin page ----------------------------------------------------------------------------------


def test_the_admin_page_explains_any_affiliates_conversion(client, offer, affiliate):
    local = PostbackFactory(affiliate=affiliate, offer=offer, status="approved")
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install", status="2")
    client.force_login(ManagerFactory())

    response = client.get(ADMIN, {"click_id": click_id})
    assert response.status_code == 200
    html = response.content.decode()
    assert f"pid {affiliate.pid}</a>" in html and f'data-postback="{local.pk}"' in html
    assert "Status filter &quot;Approved&quot; did not match &quot;Pending&quot;." in html
    assert client.get(ADMIN, {"click_id": "0" * 24}).status_code == 404
    assert client.get(ADMIN, {"click_id": "zz"}).status_code == 400


def test_the_admin_page_needs_the_right_to_see_conversions(client, offer, affiliate):
    staff = ManagerFactory(is_superuser=False)
    client.force_login(staff)
    assert client.get(ADMIN).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_conversion"))
    assert client.get(ADMIN).status_code == 200


# --- Links to it ---------------------------------------------------------------------------------------


def test_the_conversion_list_and_the_postback_log_link_to_the_explain(client, offer, affiliate):
    PostbackFactory(affiliate=affiliate, offer=offer)
    click_id = click_on(client, offer, affiliate)
    report(client, click_id, goal="install")
    conversion_id = ServerPostback.objects.get().conversion.conversion_id
    client.force_login(affiliate.user)
    link = f"{PORTAL}?conversion_id={conversion_id}"

    assert link in client.get("/statistics/conversions/").content.decode()
    assert link in client.get("/statistics/postbacks/").content.decode()


def test_the_integration_test_links_to_the_explain_of_its_test_conversion(portal, offer, affiliate):
    postback = PostbackFactory(affiliate=affiliate, offer=offer)
    response = portal.post(
        "/integration-test/", {"offer": offer.offer_id, "postback": postback.pk, "sub1": "x"}
    )
    assert response.status_code == 200
    conversion = ConversionEvent.objects.get().conversion
    assert conversion.is_test
    assert f"{PORTAL}?conversion_id={conversion.conversion_id}" in response.content.decode()


def test_a_multipart_bodys_values_and_the_manager_who_changed_a_status_stay_the_networks(
    client, offer, affiliate
):
    click_id = click_on(client, offer, affiliate)
    # The test client posts a multipart form: each value on a line of its own, apart from its name.
    form = {"clickid": click_id, "secure": "s3cret-code", "goal": "install", "sum": "4321.5"}
    client.post("/postback", form)
    conversion = Conversion.objects.get()
    manager = ManagerFactory(username="manager-on-duty")
    conversion_set_status(
        conversion=conversion, status=ConversionStatus.APPROVED, source="manager", changed_by=manager
    )

    client.force_login(affiliate.user)
    page = client.get(PORTAL, {"click_id": click_id}).content.decode()
    assert "4321.5" not in page and "manager-on-duty" not in page
    assert "shown to the network&#x27;s managers only" in page
    client.force_login(manager)
    page = client.get(ADMIN, {"click_id": click_id}).content.decode()
    assert "4321.5" in page and "manager-on-duty" in page


def test_the_order_sum_in_a_form_body_after_a_query_string_is_hidden_from_the_affiliate(
    client, offer, affiliate
):
    click_id = click_on(client, offer, affiliate)
    client.post(
        f"/postback?clickid={click_id}&secure=s3cret-code",
        "sum=777.25&goal=install",
        content_type="application/x-www-form-urlencoded",
    )
    client.force_login(affiliate.user)
    page = client.get(PORTAL, {"click_id": click_id}).content.decode()
    assert "777.25" not in page and "sum=***" in page
