"""The whole chain of one conversion, with reasons: the explain of the portal, the admin and the API.

Asked by a click id, a conversion id or the advertiser's `action_id`, it gathers, in time order:
the click; every advertiser postback or pixel hit that named it, accepted or refused; each
conversion and each of its events; for each event, every postback of the affiliate and whether
it fired, in words; and the deliveries with their attempts.

Whether a postback fired is decided by postbacks.firing.decide, the rule the postback writer
runs, on the affiliate's postbacks as they are now, leaving out those created after the event
(they could not have fired for it). Its reasons are put into words here and only here. The
deliveries are what did happen: a postback changed since the event may have decided otherwise
then, and says so (`Verdict.note`).

Advertiser hits are found two ways: those that reached a conversion of the chain by their
foreign key, and refused ones by the click id they named, which the log keeps in a column of its
own (ServerPostback.click_id, indexed), of the click's offer or of none told, the first
MAX_REFUSED_HITS of them. A pixel's click id,
from its cookie, counts too. Hits logged before that column existed are found only through their
conversion.

A click looked up by its id is found wherever it is on its way to the database: a click made a
moment ago may still be in the click buffer (tracking.store.clicks_get, which writes it then).
A click older than CLICK_RETENTION_DAYS is no longer kept: a conversion's chain says so where it
would show it, with the id the conversion kept (conversions.click_values).

An affiliate's explain shows only their own conversions (another's is not found, as if it did
not exist), never the advertiser's revenue, the order sum the advertiser reported or the
advertiser's address.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q

from config.text import has_control_characters
from conversions.click_values import kept_click, kept_click_values
from conversions.models import Conversion, ConversionEvent, ServerPostback
from offers.models import Affiliate
from postbacks.explanations import explain_disabled
from postbacks.firing import Reason, decide, event_of
from postbacks.models import Delivery, DeliveryAttempt, Postback
from tracking.models import MAX_PARAMETER_LENGTH, Click, click_times
from tracking.params import typed_id
from tracking.store import clicks_get

LOOKUPS = ("click_id", "conversion_id", "action_id")
# An action id names at most this many conversions (one per offer and goal): the newest are shown.
MAX_CONVERSIONS = 20
MAX_REFUSED_HITS = 100
# The pairs of an advertiser's query an affiliate is not shown: the order sum is what a percent
# payout and the advertiser's revenue are reckoned from (the partner API leaves it out too).
HIDDEN_FROM_AFFILIATES = {"sum"}


@dataclass(frozen=True)
class Lookup:
    name: str  # one of LOOKUPS
    value: str

    @property
    def label(self) -> str:
        """The id in words: "click id", "conversion id", "action id"."""
        return self.name.replace("_", " ")


def lookup_from(params) -> Lookup:
    """The one id a request names (a QueryDict or a dict), checked; a ValidationError with a
    message naming what is wrong otherwise."""
    given = {}
    for name in LOOKUPS:
        values = params.getlist(name) if hasattr(params, "getlist") else [params.get(name)]
        values = [value for value in values if value not in (None, "")]
        if len(values) > 1:
            raise ValidationError(f"Give {name} once.", code="invalid")
        if values:
            given[name] = values[0]
    if not given:
        raise ValidationError("Give one of click_id, conversion_id or action_id.", code="required")
    if len(given) > 1:
        raise ValidationError(
            f"Give only one of click_id, conversion_id and action_id, not {' and '.join(given)}.",
            code="invalid",
        )
    name, value = given.popitem()
    if name == "action_id":
        if len(value) > MAX_PARAMETER_LENGTH:
            raise ValidationError(f"action_id is at most {MAX_PARAMETER_LENGTH} characters.", code="invalid")
        if has_control_characters(value):
            raise ValidationError("action_id cannot contain control characters.", code="invalid")
        return Lookup(name, value)
    # Pasted ids come with spaces, and some advertisers' systems upper-case them.
    value = typed_id(value)
    if value is None:
        raise ValidationError(f"{name} is 24 characters, digits 0-9 and letters a-f.", code="invalid")
    return Lookup(name, value)


# --- What the chain holds -----------------------------------------------------------------------


class Why(NamedTuple):
    code: str  # a postbacks.firing.Reason value, "fired" or "created_after"
    text: str


@dataclass
class Verdict:
    """One postback of the affiliate for one conversion event."""

    postback: Postback
    fired: bool  # by the rule (postbacks.firing.decide)
    reasons: list["Why"]  # why it fired or did not
    deliveries: list[Delivery]  # what was sent to it for the event
    note: str = ""  # when what was sent and the rule as of now disagree: why

    @property
    def sent(self) -> bool:
        return bool(self.deliveries)


@dataclass
class EventStep:
    event: ConversionEvent
    conversion: Conversion
    verdicts: list[Verdict]
    # Deliveries of postbacks deleted since: they happened, whatever their postback was.
    orphan_deliveries: list[Delivery]


@dataclass
class Entry:
    """One line of the chain, in time order: `kind` is "click", "gone_click" (a click no longer
    kept, `click_id` the id its conversion kept, `note` why), "hit" or "event"."""

    at: datetime
    kind: str
    click: Click | None = None
    hit: ServerPostback | None = None
    step: EventStep | None = None
    click_id: str = ""
    note: str = ""


@dataclass
class Chain:
    lookup: Lookup
    clicks: list[Click]
    conversions: list[Conversion]
    entries: list[Entry]
    for_manager: bool

    @property
    def is_test(self) -> bool:
        return any(conversion.is_test for conversion in self.conversions) or any(
            click.is_test for click in self.clicks
        )


# --- Reading it ---------------------------------------------------------------------------------


def conversion_chain(lookup: Lookup, *, affiliate: Affiliate | None = None) -> Chain | None:
    """The chain `lookup` names: of `affiliate` only, or of anyone's for a manager (no
    affiliate). None when there is none (or it is another affiliate's)."""
    clicks, conversions = _clicks_and_conversions(lookup, affiliate)
    if not clicks and not conversions:
        return None
    hits = _hits(clicks, conversions)
    entries = [Entry(click.created_at, "click", click=click) for click in clicks]
    entries += _gone_clicks(conversions)
    steps = _event_steps(conversions)
    # A hit that caused an event goes right before it, whichever row got the earlier time.
    event_times = {step.event.pk: step.event.created_at for step in steps}
    entries += [Entry(event_times.get(hit.event_id, hit.received_at), "hit", hit=hit) for hit in hits]
    entries += [Entry(step.event.created_at, "event", step=step) for step in steps]
    order = {"click": 0, "gone_click": 0, "hit": 1, "event": 2}
    entries.sort(key=lambda entry: (entry.at, order[entry.kind]))
    return Chain(lookup, clicks, conversions, entries, for_manager=affiliate is None)


def _clicks_and_conversions(lookup: Lookup, affiliate) -> tuple[list[Click], list[Conversion]]:
    scope = {"affiliate": affiliate} if affiliate is not None else {}
    conversions = Conversion.objects.select_related("offer", "goal", "affiliate__user", "click").filter(
        **scope
    )
    if lookup.name == "click_id":
        named = Click.objects.select_related("offer", "affiliate__user").named([lookup.value]).filter(**scope)
        click = named.first()
        # Not in the database yet: it may be in the click buffer, which the store's lookup then
        # writes it from. Asked only then, since an unknown id costs that lookup a look in Redis.
        if click is None and clicks_get([lookup.value]).get(lookup.value) is not None:
            click = named.first()
        if click is None:
            # No longer kept, or never made: its conversions, if any, by the id they kept of it.
            kept = conversions.of_kept_clicks([lookup.value]).order_by("created_at", "pk")
            return [], list(kept[:MAX_CONVERSIONS])
        return [click], list(conversions.filter(click=click).order_by("created_at", "pk")[:MAX_CONVERSIONS])
    if lookup.name == "conversion_id":
        found = list(conversions.filter(conversion_id=lookup.value))
    else:
        found = list(
            conversions.filter(action_id=lookup.value).order_by("-created_at", "-pk")[:MAX_CONVERSIONS]
        )
        found.reverse()
    clicks = list(
        {conversion.click_id: click for conversion in found if (click := kept_click(conversion))}.values()
    )
    return clicks, found


def _gone_clicks(conversions: list[Conversion]) -> list[Entry]:
    """An entry for each click of `conversions` that is no longer kept, at its time if the
    conversion kept it, else at the conversion's (the click came before it)."""
    note = f"No longer kept: clicks are kept {settings.CLICK_RETENTION_DAYS} days."
    entries = {}
    for conversion in conversions:
        if conversion.click_id is None or conversion.click_id in entries or kept_click(conversion):
            continue
        kept = kept_click_values(conversion)
        at = datetime.fromisoformat(kept["created_at"]) if kept.get("created_at") else conversion.created_at
        entries[conversion.click_id] = Entry(at, "gone_click", click_id=kept.get("click_id", ""), note=note)
    return list(entries.values())


def _hits(clicks: list[Click], conversions: list[Conversion]) -> list[ServerPostback]:
    accepted = ServerPostback.objects.select_related("conversion").filter(conversion__in=conversions)
    hits = {hit.pk: hit for hit in accepted}
    for click in clicks:
        # Of the click's offer, or of none told: a hit that named another offer is another
        # advertiser's, whose query the click's affiliate is not shown. None came before the
        # click: the log is read from the earliest time its id names on (a minute's room for the
        # clocks), so that the weeks before are left out.
        refused = (
            ServerPostback.objects.filter(
                click_id=click.click_id,
                conversion__isnull=True,
                received_at__gte=click_times([click.click_id]).low,
            )
            .filter(Q(offer_id=click.offer_id) | Q(offer__isnull=True))
            .order_by("received_at", "pk")[:MAX_REFUSED_HITS]
        )
        hits |= {hit.pk: hit for hit in refused}
    return sorted(hits.values(), key=lambda hit: (hit.received_at, hit.pk))


def _event_steps(conversions: list[Conversion]) -> list[EventStep]:
    if not conversions:
        return []
    events = list(
        ConversionEvent.objects.filter(conversion__in=conversions).select_related("changed_by").order_by("pk")
    )
    by_pk = {conversion.pk: conversion for conversion in conversions}
    deliveries = list(
        Delivery.objects.filter(conversion__in=conversions)
        .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("pk")))
        .order_by("created_at", "pk")
    )
    # Every postback the rule may weigh for these conversions: their affiliates' global ones and
    # local ones of their offers, enabled or not. (An action id a manager looks up may name
    # conversions of several affiliates.)
    affiliates = {conversion.affiliate_id: conversion.affiliate for conversion in conversions}
    offer_ids = {conversion.offer_id for conversion in conversions}
    postbacks = defaultdict(list)
    for postback in (
        Postback.objects.select_related("offer", "goal")
        .filter(Q(offer_id__in=offer_ids) | Q(offer__isnull=True), affiliate_id__in=affiliates)
        .order_by("offer_id", "id")
    ):
        postbacks[postback.affiliate_id].append(postback)
    steps = []
    for event in events:
        event.conversion = conversion = by_pk[event.conversion_id]
        sent = [delivery for delivery in deliveries if delivery.event_id == event.pk]
        affiliate = affiliates[conversion.affiliate_id]
        steps.append(_event_step(event, postbacks[affiliate.pk], sent, affiliate.consider_global_postback))
    return steps


def _sent_to(postback: Postback, sent: list[Delivery]) -> list[Delivery]:
    return [delivery for delivery in sent if delivery.postback_id == postback.pk]


def _event_step(event, postbacks, sent: list[Delivery], consider_global: bool) -> EventStep:
    conversion = event.conversion
    existing = [postback for postback in postbacks if postback.created_at <= event.created_at]
    later = [postback for postback in postbacks if postback.created_at > event.created_at]
    verdicts = []
    for decision in decide(existing, event_of(event), consider_global=consider_global):
        postback = decision.postback
        if decision.fired:
            reasons = [Why("fired", _fired_words(postback))]
        else:
            reasons = [Why(reason.value, _words(reason, postback, event)) for reason in decision.reasons]
        verdicts.append(Verdict(postback, decision.fired, reasons, _sent_to(postback, sent)))
    for postback in later:
        created = f"Created on {_when(postback.created_at)}, after this event: it could not fire for it."
        verdicts.append(Verdict(postback, False, [Why("created_after", created)], _sent_to(postback, sent)))
    for verdict in verdicts:
        verdict.note = _disagreement(verdict, event)
    orphans = [delivery for delivery in sent if delivery.postback_id is None]
    return EventStep(event, conversion, verdicts, orphans)


# --- The reasons in words -------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _fired_words(postback: Postback) -> str:
    if postback.is_global:
        return "Fired: a global postback whose status filter and integration method match the event."
    goal = f'goal "{postback.goal.value}"' if postback.goal_id else "any goal"
    return f"Fired: a local postback of this offer ({goal}) whose status filter and integration method match."


def _words(reason: Reason, postback: Postback, event) -> str:
    conversion = event.conversion
    if reason is Reason.TEST_CONVERSION:
        return "A test conversion: only the postback under test gets it."
    if reason is Reason.DISABLED:
        if postback.disabled_reason:
            return explain_disabled(postback.disabled_reason, url=postback.url).text
        return (
            f"Turned off in its settings (last changed {_when(postback.updated_at)}): "
            "a disabled postback fires for nothing."
        )
    if reason is Reason.OTHER_OFFER:
        return "A local postback of another offer."
    if reason is Reason.INTEGRATION_METHOD:
        return (
            f'Integration method "{postback.get_integration_method_display()}" is not the '
            f'conversion\'s ("{conversion.get_integration_method_display()}").'
        )
    if reason is Reason.GOAL:
        return f'Goal "{postback.goal.value}" is not the conversion\'s goal "{conversion.goal_value}".'
    if reason is Reason.STATUS:
        if postback.status == Postback.StatusFilter.CREATED:
            return (
                'Status filter "By creating" fires only when a conversion is created; '
                "this event changed its status."
            )
        return (
            f'Status filter "{postback.get_status_display()}" did not match '
            f'"{event.get_new_status_display()}".'
        )
    if reason is Reason.LOCAL_FIRED:
        return "A local postback of this offer fired, so global postbacks were skipped."
    if reason is Reason.CONSIDER_GLOBAL_OFF:
        return (
            'Local postbacks exist for this offer and none matched, and "Consider global postback" '
            "is off, so global postbacks were skipped."
        )
    raise ValueError(f"No words for {reason}")


def _disagreement(verdict: Verdict, event) -> str:
    """Why what was sent differs from the rule's decision on the postback as it is now."""
    changed = verdict.postback.updated_at > event.created_at
    if any(delivery.is_backfill for delivery in verdict.deliveries):
        return "Sent afterwards by a backfill (past conversions sent to a postback on request)."
    if verdict.deliveries and not verdict.fired:
        if verdict.reasons[0].code == Reason.TEST_CONVERSION.value:
            return "Sent to it as the postback under test."
        if changed:
            return (
                f"It was sent for this event: its settings changed after it "
                f"(on {_when(verdict.postback.updated_at)})."
            )
        return (
            "It was sent for this event though, as the postback is now, the rule says it does not "
            "fire: it was sent afterwards, by a replay of past events."
        )
    if verdict.fired and not verdict.deliveries:
        if changed:
            return (
                f"Nothing was sent to it: its settings changed after this event (on "
                f"{_when(verdict.postback.updated_at)}), and then it did not fire."
            )
        return (
            "Nothing was sent to it: the affiliate's other postbacks or the "
            '"Consider global postback" setting have changed since this event.'
        )
    return ""


# --- What each viewer may see -----------------------------------------------------------------------


MULTIPART_PART = "content-disposition: form-data"
LINE_BREAK = re.compile(r"\n|\\x0a")
MULTIPART_HIDDEN = "(a multipart form body: shown to the network's managers only)"


def query_shown(hit: ServerPostback, *, for_manager: bool) -> str:
    """An advertiser hit's query as stored (its secure code already masked, conversions.intake),
    and for an affiliate without the pairs in HIDDEN_FROM_AFFILIATES."""
    if for_manager:
        return hit.query
    # The query string, then the body on the next line; the log keeps the line break escaped.
    lines = LINE_BREAK.split(hit.query)
    query_string = "&".join(map(_pair_shown, lines[0].split("&")))
    if MULTIPART_PART in hit.query.lower():
        # A multipart body puts each value on a line of its own, apart from its name: the pairs
        # cannot be told, so the affiliate sees the query string without the body.
        return f"{query_string}\n{MULTIPART_HIDDEN}"
    return "\n".join([query_string, *("&".join(map(_pair_shown, line.split("&"))) for line in lines[1:])])


def _pair_shown(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    return f"{name}=***" if equals and unquote_plus(name).lower() in HIDDEN_FROM_AFFILIATES else pair
