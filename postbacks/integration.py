"""The integration test wizard: the whole chain an affiliate's integration depends on, run once
on the server, step by step, each step through the code real traffic goes through:

1. a test click: the offer's tracking link for the affiliate, accepted through the checks and
   the write of a visitor's click (tracking.accept.click_accept);
2. a test conversion on that click, as the advertiser would send it, through
   conversions.recording.advertiser_postback_record (so the advertiser postback's validation
   order applies);
   a conversion of a test click is a test conversion, which no postback listener picks up;
3. the delivery of that conversion to the one postback under test (or to a typed URL that is not
   saved), with the rendered URL and the server's answer.

Each failed step says what to fix. Test clicks and conversions are left out of the statistics.
"""

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from conversions.lifecycle import TEST_IP, TEST_ORDER_SUM, new_test_action_id
from conversions.models import Conversion, ServerPostback
from conversions.recording import advertiser_postback_record
from offers.models import Affiliate, Offer
from offers.payouts import pays_percent
from postbacks import firing, macros, outbound, sender
from postbacks.explanations import Explanation, explain, explain_disabled
from postbacks.models import Postback
from postbacks.services import postback_send_one
from tracking.accept import ClickRefused, click_accept
from tracking.links import tracking_link
from tracking.macros import MACRO
from tracking.models import ALL_SUB_FIELDS

USER_AGENT = "Integration test"


@dataclass
class Step:
    title: str
    passed: bool = False
    # (label, value) pairs shown under the step.
    details: list[tuple[str, str]] = field(default_factory=list)
    # What to fix, in plain words; shown for passed steps too when something looks wrong.
    hints: list[str] = field(default_factory=list)
    # What came of the postback request, when it failed.
    explanation: Explanation | None = None


@dataclass
class IntegrationTest:
    steps: list[Step] = field(default_factory=list)
    conversion_id: str = ""  # of the test conversion, once made: its explain links to it

    @property
    def passed(self) -> bool:
        return len(self.steps) == 3 and all(step.passed for step in self.steps)


def integration_test_run(
    *, affiliate: Affiliate, offer: Offer, postback: Postback | None, url: str = "", subs: dict[str, str]
) -> IntegrationTest:
    """Run the chain for `postback` (one of the affiliate's, global or of `offer`) or, without one,
    for the typed postback `url`. The caller has checked that the affiliate may run the offer, that
    the postback is theirs and that a typed URL is safe. A step runs only when the one before it
    passed."""
    test = IntegrationTest()
    click_step, click_id = _click(affiliate, offer, subs)
    test.steps.append(click_step)
    if not click_step.passed:
        return test
    conversion_step, conversion = _conversion(offer, postback, click_id)
    test.steps.append(conversion_step)
    if not conversion_step.passed:
        return test
    test.conversion_id = conversion.conversion_id
    test.steps.append(_delivery(conversion, postback, url))
    return test


# --- 1. The click -------------------------------------------------------------------------


def _click(affiliate, offer, subs) -> tuple[Step, str]:
    step = Step("Test click through your tracking link")
    link = tracking_link(offer_id=offer.offer_id, pid=affiliate.pid, params=subs)
    step.details.append(("Tracking link", link))
    result = click_accept(query=urlsplit(link).query, ip=TEST_IP, user_agent=USER_AGENT, is_test=True)
    # The HTTP code the link answers a visitor who asks for JSON (`format=json`).
    if isinstance(result, ClickRefused):
        if result.trafficback_url:
            step.details.append(("HTTP code", "302"))
            step.hints.append(
                "The click was refused and sent to the offer's trafficback URL: "
                "the offer is paused or you have no access to it."
            )
        else:
            step.details.append(("HTTP code", str(result.status)))
            step.hints.append(
                f"The click was refused: {result.message} Check the offer and your access to it."
            )
        return step, ""
    step.details.append(("HTTP code", "200"))
    step.passed = True
    step.details += [("Click id", result.click_id), ("Landing page", result.redirect_url)]
    return step, result.click_id


# --- 2. The conversion --------------------------------------------------------------------


def _conversion(offer, postback, click_id) -> tuple[Step, Conversion | None]:
    """The advertiser's postback for the click. The goal and status are ones the postback under
    test fires for; the secure code and caller address are the advertiser's, since it is the
    affiliate's side of the integration that is being tested."""
    step = Step("Test conversion, as the advertiser would send it")
    params = {"clickid": click_id, "action_id": new_test_action_id(), "comment": "Integration test"}
    goal = postback.goal if postback is not None and postback.goal_id else offer.goal_for()
    if postback is not None and postback.goal_id:
        params["goal"] = goal.value
    if goal is not None and pays_percent(goal):
        params["sum"] = str(TEST_ORDER_SUM)  # the goal pays a percent of it, and refuses none
    if postback is not None and postback.status in firing.STATUS_FILTERS:
        params["status"] = str(firing.STATUS_FILTERS[postback.status].value)
    logged_query = urlencode(params)  # without the secure code
    secure_code = offer.secure_code or offer.advertiser.secure_code
    if secure_code:
        params["secure"] = secure_code
    result = advertiser_postback_record(
        params=params,
        source=ServerPostback.Source.POSTBACK,
        method="GET",
        raw_query=logged_query,
        caller_ip=_advertiser_ip(offer),
    )
    step.details += [("Advertiser postback", f"/postback?{logged_query}"), ("Answer", result.message)]
    if result.outcome == ServerPostback.Outcome.REJECTED:
        step.hints.append(f"The conversion was refused: {result.message}. Contact your manager.")
        return step, None
    conversion = result.conversion
    step.passed = True
    step.details += [
        ("Conversion id", conversion.conversion_id),
        ("Goal", conversion.goal.value),
        ("Status", conversion.get_status_display()),
        ("Payout", f"{macros.values_for(conversion, conversion.status)['sum']} {conversion.currency}"),
    ]
    return step, conversion


def _advertiser_ip(offer) -> str:
    allowlist = offer.advertiser.ip_allowlist
    if allowlist:
        return str(ipaddress.ip_network(allowlist[0], strict=False).network_address)
    return TEST_IP


# --- 3. The postback ----------------------------------------------------------------------


def _delivery(conversion, postback, typed_url) -> Step:
    step = Step("Your postback")
    template = postback.url if postback is not None else typed_url
    step.details.append(("Postback", template))
    step.hints += _template_hints(template, conversion)
    if postback is not None and not postback.enabled:
        why = explain_disabled(postback.disabled_reason, url=postback.url).text
        step.hints.append(
            f"This postback is disabled, so real conversions do not reach it: {why} "
            "Enable it once the test passes."
        )
    if postback is not None:
        delivery = postback_send_one(postback=postback, event=conversion.events.get())
        url, http_code, error, excerpt = (
            delivery.url,
            delivery.http_code,
            delivery.error,
            delivery.response_excerpt,
        )
    else:
        url = macros.render(template, macros.values_for(conversion, conversion.status))
        problem = outbound.url_problem(url)
        if problem:
            step.details.append(("URL sent", url))
            step.hints.append(f"The URL is not safe to call: {problem}")
            return step
        outcome = sender.send_unsaved(
            method=Postback.Method.GET, url=url, body="", signing_secret=conversion.affiliate.signing_secret
        )
        http_code, error, excerpt = outcome.http_code, outcome.error, outcome.excerpt
    explanation = explain(http_code=http_code, error=error, url=url)
    step.details += [("URL sent", url), ("HTTP code", explanation.code), ("Answer", excerpt or "empty")]
    step.passed = 200 <= (http_code or 0) < 300
    if not step.passed:
        step.explanation = explanation
    return step


def _template_hints(template: str, conversion) -> list[str]:
    hints = []
    unknown = macros.unknown(template)
    if unknown:
        names = ", ".join(f"{{{name}}}" for name in unknown)
        hints.append(
            f"Not macros, sent as they are: {names}. Check their spelling against the list of macros."
        )
    used = dict.fromkeys(match.group(1) for match in MACRO.finditer(template))
    empty = [name for name in used if name in ALL_SUB_FIELDS and not conversion.sub_value(name)]
    for name in empty:
        hints.append(
            f"The URL uses {{{name}}} but {name} was empty in the tracking link, so your server "
            f"received it empty. Put a value in {name} of your tracking links (for example your "
            "tracker's click id macro)."
        )
    return hints
