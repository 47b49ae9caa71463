"""Who may reach what, route by route.

- An affiliate naming another affiliate's object (or an offer they may not see) in a portal or
  partner API address gets a 404, and nothing changes: no row edited or deleted, no delivery
  queued. Every such address must be in ISOLATION below; a new one that is not fails
  `test_every_address_taking_an_id_is_in_the_isolation_matrix`.
- Every /api/v1/manage/ endpoint refuses an affiliate's key (403) and a missing key (401).
- Every admin page sends anonymous and non-staff users to the admin login.
- Every portal page sends anonymous users to the portal login.

The last three are built by walking the URL resolver, so a new address is covered the day it is
added.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import PostbackAlert
from api.models import ApiKey
from api.services import api_key_issue
from conversions.models import Conversion, ConversionEvent, ServerPostback
from offers.models import Affiliate, Offer, OfferAccess
from postbacks.models import Delivery, Postback
from tests.conftest import api_client_for
from tests.factories import (
    ClickFactory,
    DeliveryFactory,
    OfferAccessFactory,
    OfferFactory,
    PostbackFactory,
    ServerPostbackFactory,
)
from tracking.models import Click

pytestmark = pytest.mark.django_db

# --- The project's addresses -------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    text: str  # as written in the URL confs, prefixes included
    name: str | None  # namespaced, e.g. "postbacks:offer-edit"
    kwargs: frozenset  # the captured values, the format suffix left out
    callback: object
    format_suffix: bool

    @property
    def label(self) -> str:
        return self.name or self.text


def _walk(patterns, prefix="", namespace="", kwargs=frozenset()):
    for pattern in patterns:
        own = set(getattr(pattern.pattern, "converters", {})) or set(pattern.pattern.regex.groupindex)
        text, captured = prefix + str(pattern.pattern), kwargs | own
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, text, inner or pattern.namespace or "", captured)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield Route(text, name, frozenset(captured - {"format"}), pattern.callback, "format" in captured)


ROUTES = [route for route in _walk(get_resolver().url_patterns) if not route.format_suffix]
ADMIN_ROUTES = [route for route in ROUTES if route.text.startswith("admin/")]
API_ROUTES = [route for route in ROUTES if route.text.startswith("api/")]
MANAGE_ROUTES = [route for route in API_ROUTES if route.text.startswith("api/v1/manage/")]
# Every endpoint has a name; the one unnamed API route is the JSON 404 for unknown addresses.
PARTNER_ROUTES = [route for route in API_ROUTES if route not in MANAGE_ROUTES and route.name]
SITE_ROUTES = [route for route in ROUTES if route not in ADMIN_ROUTES and route not in API_ROUTES]

# Addresses open to anyone, each for a reason.
PUBLIC_SITE = {
    "healthz": "load balancer health check",
    "click": "visitors' browsers",
    "postback": "advertisers' servers (secure code and IP allowlist)",
    "pixel": "advertisers' pages",
    "postback-slash": "advertisers' servers, as /postback",
    "pixel-image": "advertisers' pages, as /pixel",
    "pixel-iframe": "advertisers' pages, as /pixel",
    "pixel-script": "advertisers' pages: a script that stores nothing",
    "login": "the login form itself",
    "logout": "harmless without a session",
    "password_reset": "asking for a reset link, for users who cannot log in",
    "password_reset_done": "the page after asking, the same for every address",
    "password_reset_confirm": "the link in the reset email, a signed token in place of a login",
    "password_reset_complete": "the page after a new password is set",
    "favicon": "a redirect to the site's icon",
    "metrics": "operators' scrapers: allowed addresses or a token, a 404 to anyone else",
}
PUBLIC_API = {"api:schema": "the OpenAPI schema", "api:docs": "the API documentation"}
# Partner addresses whose captured value names no affiliate's object: the same for every key.
SHARED_API = {
    "api:postback-template-detail": "a tracker's postback URL template, by its name",
    "api:postback-template-fill": "a tracker's postback URL template, by its name",
}
NOT_ADMIN_PAGES = {
    "admin:login": "the admin login form itself",
    "admin:logout": "harmless without a session",
    # Redirects to an object's public page; none of the admin's models has one.
    "admin:view_on_site": "a redirect to the object's page on the site",
}


def concrete(route: Route, values: dict) -> str:
    """The address of `route` with `values` in its captured parts; a regex alternative
    without a value takes its first choice."""
    text = re.sub(
        r"\(\?P<(\w+)>([^)]*)\)", lambda match: str(values.get(match[1], match[2].split("|")[0])), route.text
    )
    text = re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(values[match[1]]), text)
    path = "/" + text.replace("^", "").replace("$", "")
    assert resolve(path).func == route.callback, f"{path} does not lead to {route.label}"
    return path


# --- The objects -------------------------------------------------------------------------


@dataclass
class World:
    """Two affiliates with the same kinds of objects, and offers the affiliate may or may not see."""

    affiliate: Affiliate
    other: Affiliate
    offer: Offer  # public and active: both see it
    private_offer: Offer  # visible, may be requested
    paused_offer: Offer  # nobody sees it in the portal or the partner API
    own_local: Postback
    own_global: Postback
    other_local: Postback
    other_global: Postback
    own_delivery: Delivery
    other_delivery: Delivery
    own_key: ApiKey
    other_key: ApiKey

    @property
    def own_conversion(self) -> Conversion:
        return self.own_delivery.conversion

    @property
    def other_conversion(self) -> Conversion:
        return self.other_delivery.conversion


@pytest.fixture
def world(affiliate, other_affiliate) -> World:
    offer = OfferFactory()
    other_delivery = DeliveryFactory(
        affiliate=other_affiliate, state=Delivery.State.FAILED, attempts=11, next_attempt_at=None
    )
    ServerPostbackFactory(conversion=other_delivery.conversion)
    ClickFactory(offer=offer, affiliate=other_affiliate)
    OfferAccessFactory(affiliate=other_affiliate)
    return World(
        affiliate=affiliate,
        other=other_affiliate,
        offer=offer,
        private_offer=OfferFactory(visibility=Offer.Visibility.PRIVATE),
        paused_offer=OfferFactory(status=Offer.Status.PAUSED),
        own_local=PostbackFactory(affiliate=affiliate, offer=offer),
        own_global=PostbackFactory(affiliate=affiliate),
        other_local=PostbackFactory(affiliate=other_affiliate, offer=offer),
        other_global=PostbackFactory(affiliate=other_affiliate),
        own_delivery=DeliveryFactory(affiliate=affiliate),
        other_delivery=other_delivery,
        own_key=api_key_issue(user=affiliate.user)[0],
        other_key=api_key_issue(user=other_affiliate.user)[0],
    )


def notice_of(postback: Postback) -> PostbackAlert:
    """A failing postback's alert, its notice shown in the portal."""
    return PostbackAlert.objects.create(
        postback=postback, state=PostbackAlert.State.FAILING, since=timezone.now(), notice_shown=True
    )


WATCHED = [
    PostbackAlert,
    Offer,
    OfferAccess,
    Affiliate,
    Postback,
    Delivery,
    Conversion,
    ConversionEvent,
    Click,
    ServerPostback,
]


def snapshot() -> dict:
    """Every row an affiliate could touch, to show that a refused request changed nothing."""
    rows = {model.__name__: list(model.objects.order_by("pk").values()) for model in WATCHED}
    # Using a key records when it was last used; revoking it is what must not happen.
    rows["ApiKey"] = list(ApiKey.objects.order_by("pk").values("pk", "user_id", "key_hash", "revoked_at"))
    return rows


# --- Isolation: another affiliate's id is a 404 that changes nothing ----------------------

POSTBACK_FORM = {
    "url": "http://127.0.0.1:9/changed?c={sub1}",
    "status": "any",
    "integration_method": "default",
    "method": "GET",
    "enabled": "on",
}


@dataclass(frozen=True)
class Case:
    """One address: the requests made with an id outside the affiliate's reach (`foreign`), and
    the same requests with the affiliate's own (`own`), which must not be a 404: the control
    that shows the address and its id are right."""

    route: str
    methods: tuple
    foreign: object  # World -> URL kwargs
    own: object
    api: bool = False
    data: dict = field(default_factory=dict)


def offer_of(attribute):
    return lambda w: {"offer_id": getattr(w, attribute).offer_id}


def local(attribute):
    return lambda w: {"offer_id": w.offer.offer_id, "pk": getattr(w, attribute).pk}


def api_offer(attribute):
    return lambda w: {"id": getattr(w, attribute).offer_id}


# A backfill's period (postbacks.backfill): the last seven days.
LAST_WEEK = {
    "date_from": (timezone.now().date() - timedelta(days=6)).isoformat(),
    "date_to": timezone.now().date().isoformat(),
}

ISOLATION = [
    # Portal: offer pages. Offers belong to the network; one the affiliate may not see is hidden.
    Case("offers:detail", ("GET",), offer_of("paused_offer"), offer_of("offer")),
    Case("offers:tracking-link", ("GET",), offer_of("paused_offer"), offer_of("offer")),
    Case("offers:request-access", ("POST",), offer_of("paused_offer"), offer_of("private_offer")),
    # Portal: an offer's "Your Postbacks".
    Case("postbacks:offer-list", ("GET",), offer_of("paused_offer"), offer_of("offer")),
    Case(
        "postbacks:offer-add",
        ("GET", "POST"),
        offer_of("paused_offer"),
        offer_of("offer"),
        data=POSTBACK_FORM,
    ),
    Case(
        "postbacks:offer-edit", ("GET", "POST"), local("other_local"), local("own_local"), data=POSTBACK_FORM
    ),
    Case("postbacks:offer-delete", ("GET", "POST"), local("other_local"), local("own_local")),
    Case("postbacks:offer-test", ("POST",), local("other_local"), local("own_local")),
    Case(
        "postbacks:offer-backfill", ("GET", "POST"), local("other_local"), local("own_local"), data=LAST_WEEK
    ),
    # Portal: Settings > Postback information (global postbacks).
    Case(
        "postbacks:global-edit",
        ("GET", "POST"),
        lambda w: {"pk": w.other_global.pk},
        lambda w: {"pk": w.own_global.pk},
        data=POSTBACK_FORM,
    ),
    Case(
        "postbacks:global-delete",
        ("GET", "POST"),
        lambda w: {"pk": w.other_global.pk},
        lambda w: {"pk": w.own_global.pk},
    ),
    Case(
        "postbacks:global-test",
        ("POST",),
        lambda w: {"pk": w.other_global.pk},
        lambda w: {"pk": w.own_global.pk},
    ),
    # Portal: Settings > API key.
    Case(
        "portal:api-key-revoke",
        ("GET", "POST"),
        lambda w: {"pk": w.other_key.pk},
        lambda w: {"pk": w.own_key.pk},
        data={"confirm": "yes"},
    ),
    # Portal: Statistics > Affiliate postbacks.
    Case(
        "postbacks:retry",
        ("POST",),
        lambda w: {"delivery_id": w.other_delivery.delivery_id},
        lambda w: {"delivery_id": w.own_delivery.delivery_id},
    ),
    # Partner API.
    Case("api:offer-detail", ("GET",), api_offer("paused_offer"), api_offer("offer"), api=True),
    Case("api:offer-tracking-link", ("GET",), api_offer("paused_offer"), api_offer("offer"), api=True),
    Case(
        "api:offer-request-access", ("POST",), api_offer("paused_offer"), api_offer("private_offer"), api=True
    ),
    Case(
        "api:conversion-detail",
        ("GET",),
        lambda w: {"id": w.other_conversion.conversion_id},
        lambda w: {"id": w.own_conversion.conversion_id},
        api=True,
    ),
    Case(
        "api:postback-detail",
        ("GET", "PATCH", "DELETE"),
        lambda w: {"pk": w.other_local.pk},
        lambda w: {"pk": w.own_local.pk},
        api=True,
        data={"url": "http://127.0.0.1:9/changed?c={sub1}", "enabled": False},
    ),
    Case(
        "api:postback-test",
        ("POST",),
        lambda w: {"pk": w.other_global.pk},
        lambda w: {"pk": w.own_global.pk},
        api=True,
    ),
    Case(
        "api:postback-backfill",
        ("POST",),
        lambda w: {"pk": w.other_global.pk},
        lambda w: {"pk": w.own_global.pk},
        api=True,
        data=LAST_WEEK,
    ),
    Case(
        "postbacks:global-backfill",
        ("GET", "POST"),
        lambda w: {"pk": w.other_global.pk},
        lambda w: {"pk": w.own_global.pk},
        data=LAST_WEEK,
    ),
    Case(
        "alerts:dismiss",
        ("POST",),
        lambda w: {"pk": notice_of(w.other_global).pk},
        lambda w: {"pk": notice_of(w.own_global).pk},
    ),
    Case(
        "api:postback-delivery-detail",
        ("GET",),
        lambda w: {"id": w.other_delivery.delivery_id},
        lambda w: {"id": w.own_delivery.delivery_id},
        api=True,
    ),
    Case(
        "api:postback-delivery-retry",
        ("POST",),
        lambda w: {"id": w.other_delivery.delivery_id},
        lambda w: {"id": w.own_delivery.delivery_id},
        api=True,
    ),
]


def _send(client, method: str, url: str, data: dict, api: bool):
    if method == "GET":
        return client.get(url)
    if api:
        return client.generic(method, url, data=json.dumps(data), content_type="application/json")
    return client.post(url, data)


@pytest.mark.parametrize("case", ISOLATION, ids=lambda case: case.route)
def test_another_affiliates_id_is_not_found_and_changes_nothing(case, world, portal):
    client = api_client_for(world.affiliate.user) if case.api else portal
    foreign_url = reverse(case.route, kwargs=case.foreign(world))
    before = snapshot()

    for method in case.methods:
        response = _send(client, method, foreign_url, case.data, case.api)
        assert response.status_code == 404, f"{method} {foreign_url}: {response.status_code}"

    assert snapshot() == before
    own_url = reverse(case.route, kwargs=case.own(world))
    for method in case.methods:
        response = _send(client, method, own_url, case.data, case.api)
        answered = response.status_code
        assert answered in (200, 201, 202, 204, 302), f"{method} {own_url}: {answered}"


def test_every_address_taking_an_id_is_in_the_isolation_matrix():
    """Admin pages and /manage/ endpoints are staff only (tested below); every other address that
    captures an id must say what another affiliate's id does there."""
    # A public address serves no affiliate's objects (the reset link's ids are a signed token).
    taking_ids = {
        route.name or route.text
        for route in SITE_ROUTES + PARTNER_ROUTES
        if route.kwargs and route.name not in PUBLIC_SITE
    }
    missing = taking_ids - {case.route for case in ISOLATION} - set(SHARED_API)
    assert not missing, f"add these addresses to ISOLATION: {sorted(missing)}"


# Ids that travel in a form rather than in the address.


def test_revoking_another_affiliates_api_key_is_not_found(world, portal):
    before = snapshot()
    response = portal.post(reverse("portal:api-key"), {"revoke": world.other_key.pk})
    assert response.status_code == 404
    assert snapshot() == before

    response = portal.post(reverse("portal:api-key"), {"revoke": world.own_key.pk})
    assert response.status_code == 302  # to the key's confirmation page, which revokes it
    world.own_key.refresh_from_db()
    assert world.own_key.revoked_at is None


def test_the_integration_test_refuses_another_affiliates_postback(world, portal):
    before = snapshot()
    response = portal.post(
        reverse("postbacks:integration-test"),
        {"offer": world.offer.offer_id, "postback": world.other_global.pk},
    )
    assert response.status_code == 200
    assert "postback" in response.context["form"].errors
    assert snapshot() == before


def test_a_private_offer_another_affiliate_runs_gives_no_tracking_link(world, portal):
    OfferAccessFactory(affiliate=world.other, offer=world.private_offer, status=OfferAccess.Status.APPROVED)
    link = f"pid={world.affiliate.pid}&offer_id={world.private_offer.offer_id}"

    for route in ("offers:detail", "offers:tracking-link"):
        page = portal.get(reverse(route, args=[world.private_offer.offer_id]))
        assert page.status_code == 200 and page.context["tracking_link"] is None
        assert link not in page.content.decode()
    api = api_client_for(world.affiliate.user)
    assert api.get(reverse("api:offer-tracking-link", args=[world.private_offer.offer_id])).status_code == 403


# --- /api/v1/manage/: staff keys only ----------------------------------------------------

MANAGE_IDS = {
    "manage-advertiser": lambda w: w.offer.advertiser_id,
    "manage-offer": lambda w: w.offer.offer_id,
    "manage-affiliate": lambda w: w.other.pid,
    "manage-offer-access": lambda w: OfferAccess.objects.first().pk,
    "manage-click": lambda w: Click.objects.first().click_id,
    "manage-conversion": lambda w: w.other_conversion.conversion_id,
    "manage-server-postback": lambda w: ServerPostback.objects.first().pk,
    "manage-postback-delivery": lambda w: w.other_delivery.delivery_id,
}

# Endpoints that answer only for a record named in the query string.
MANAGE_QUERIES = {
    "api:manage-explain": lambda w: f"?conversion_id={w.other_conversion.conversion_id}",
}


def _manage_url(route: Route, world: World) -> str:
    if not route.kwargs:
        return concrete(route, {})
    basename = route.name.removeprefix("api:").removesuffix("-detail")
    return concrete(route, dict.fromkeys(route.kwargs, MANAGE_IDS[basename](world)))


@pytest.mark.parametrize("route", MANAGE_ROUTES, ids=lambda route: route.label)
def test_manage_endpoints_refuse_an_affiliates_key_and_a_missing_key(route, world, manager):
    url = _manage_url(route, world)
    affiliate_key, no_key = api_client_for(world.affiliate.user), APIClient()
    before = snapshot()

    for method in ("GET", "POST", "PATCH", "DELETE"):
        response = no_key.generic(method, url, data="{}", content_type="application/json")
        assert response.status_code == 401, f"{method} {url} without a key: {response.status_code}"
        response = affiliate_key.generic(method, url, data="{}", content_type="application/json")
        assert response.status_code == 403, f"{method} {url} with an affiliate's key: {response.status_code}"

    assert snapshot() == before
    query = MANAGE_QUERIES.get(route.name, lambda w: "")(world)
    assert api_client_for(manager).get(url + query).status_code == 200


KEYED_ROUTES = [route for route in PARTNER_ROUTES if route.name not in PUBLIC_API]


@pytest.mark.parametrize("route", KEYED_ROUTES, ids=lambda route: route.label)
def test_partner_endpoints_refuse_a_missing_key(route, world):
    kwargs = {"id": 1, "pk": 1, "key": "keitaro"}
    response = APIClient().get(concrete(route, {name: kwargs[name] for name in route.kwargs}))
    assert response.status_code == 401


# --- The admin: staff only ---------------------------------------------------------------


def _admin_values(route: Route, world: World) -> dict:
    """A real object of the page's model where there is one, so that a refused delete is seen."""
    values = {"url": "no-such-page/", "id": world.other.user.pk, "pid": world.other.pid, "pk": 1}
    model_page = re.match(r"admin/(\w+)/(\w+)/<path:object_id>", route.text)
    if model_page:
        model = apps.get_model(model_page[1], model_page[2])
        first = model._default_manager.order_by("pk").first()
        values["object_id"] = first.pk if first else 1
    return values


def _sent_to_admin_login(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize(
    "route",
    [route for route in ADMIN_ROUTES if route.name not in NOT_ADMIN_PAGES],
    ids=lambda route: route.label,
)
def test_admin_pages_send_anonymous_and_non_staff_users_to_the_admin_login(route, world, client, manager):
    url = concrete(route, _admin_values(route, world))
    affiliate_browser = type(client)()
    affiliate_browser.force_login(world.affiliate.user)
    counts = {model: model._default_manager.count() for model in apps.get_models()}

    for browser in (client, affiliate_browser):
        assert _sent_to_admin_login(browser.get(url)), url
        assert _sent_to_admin_login(browser.post(url, {"post": "yes"})), url

    assert {model: model._default_manager.count() for model in apps.get_models()} == counts
    staff_browser = type(client)()
    staff_browser.force_login(manager)
    assert not _sent_to_admin_login(staff_browser.get(url))


# --- The portal: logged-in users only ----------------------------------------------------


def _site_values(world: World) -> dict:
    return {
        "offer_id": world.offer.offer_id,
        "pk": world.own_local.pk,
        "delivery_id": world.own_delivery.delivery_id,
    }


@pytest.mark.parametrize(
    "route", [route for route in SITE_ROUTES if route.name not in PUBLIC_SITE], ids=lambda route: route.label
)
def test_portal_pages_send_anonymous_users_to_the_login(route, world, client):
    url = concrete(route, _site_values(world))
    before = snapshot()

    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code == 302, f"{method} {url}: {response.status_code}"
        assert response["Location"].startswith(reverse("login") + "?next="), response["Location"]

    assert snapshot() == before


def test_the_walk_found_every_kind_of_address():
    """A walk that found nothing would make every test above pass without checking anything."""
    assert len(ISOLATION) >= 19 and len(MANAGE_ROUTES) >= 17 and len(ADMIN_ROUTES) >= 60
    assert {"api:postback-detail", "postbacks:retry", "portal:api-key"} <= {route.name for route in ROUTES}
