"""Tracker templates: the postback URL each tracker documents for receiving conversions, as data.

A template's URL holds our macros (`{sum}`, `{currency}`, `{conversion_id}`, `{status}`: only
macros that postbacks.macros substitutes) and blanks in angle brackets that `fill` replaces:
- `<click_id>`: the sub the affiliate's tracking link carries the tracker's click id in
  (`{sub1}` unless they name another);
- `<status>`: the tracker's word for the postback's status filter, for trackers that want words
  (`status_words`). Macros have no mapping from our status codes to a tracker's words, so such a
  template makes one postback per status: its status filter picks the word;
- the affiliate's own values (`BLANKS`: their tracker's domain, postback key, network id...).

A blank left in a URL is refused when the postback is saved (`unfilled_problem`, called by
postbacks.outbound.url_problem), with what to fill in.

`status` is the status filter a template suggests, used when the affiliate names none. A tracker
that counts every postback as a conversion, with no status of ours it understands, gets
"approved", so that a declined or pending conversion is not reported to it as earned. The
transaction id each tracker keeps is our `{conversion_id}`: every conversion has one, the same
through its status changes, whereas the advertiser's `{transactionid}` is often empty.
"""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from postbacks.models import PostbackStatusFilter
from tracking.models import SUB_FIELDS

BLANK = re.compile(r"<([A-Za-z][A-Za-z0-9_-]*)>")
# A host, an optional port and an optional path (Binom may live in a folder of the domain).
DOMAIN = re.compile(
    r"(?=[^/]{1,253}(/|$))[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+(?::[0-9]{1,5})?(?:/(?!\.+(?:/|$))[A-Za-z0-9._~-]+)*"
)
TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,128}")
NUMBER = re.compile(r"[0-9]{1,12}")
CONCRETE_STATUSES = [
    PostbackStatusFilter.APPROVED,
    PostbackStatusFilter.PENDING,
    PostbackStatusFilter.DECLINED,
    PostbackStatusFilter.HOLD,
]


@dataclass(frozen=True)
class Blank:
    """A value the affiliate fills in: `pattern` says what it may hold."""

    name: str
    label: str
    help: str
    pattern: re.Pattern = field(repr=False)


BLANKS = {
    blank.name: blank
    for blank in [
        Blank("domain", "Tracker domain", "Your tracker's domain, such as track.example.com.", DOMAIN),
        Blank(
            "key", "Postback key", "The key in your Keitaro postback URL (Maintenance > Postback URL).", TOKEN
        ),
        Blank("network_id", "Network ID", "Your Everflow network id (nid), a number.", NUMBER),
        Blank("offer_id", "Offer ID", "The offer's id in your TUNE network, a number.", NUMBER),
        Blank("user_id", "User ID", "Your ClickMagick user id (uid).", TOKEN),
    ]
}


@dataclass(frozen=True)
class TrackerTemplate:
    key: str
    name: str
    url: str
    source: str
    status: str = PostbackStatusFilter.APPROVED
    status_words: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def blanks(self) -> list[Blank]:
        """The affiliate's blanks of the URL, in order."""
        return [BLANKS[name] for name in BLANK.findall(self.url) if name in BLANKS]


TEMPLATES = [
    # Keitaro. https://docs.keitaro.io/en/conversions/postback.html: subid (required), tid, payout,
    # currency, status (lead, sale, rejected), and sale_status/lead_status/rejected_status, which
    # tell Keitaro which incoming statuses mean which of its own: our code goes in `status` and
    # the URL maps it, so one postback serves every status. The `/<key>/postback` path is that of
    # Maintenance > Postback URL (https://docs.keitaro.io/en/postbacks/postbacks.html). Hold (5)
    # is Keitaro's lead: the payout is not confirmed yet.
    TrackerTemplate(
        key="keitaro",
        name="Keitaro",
        url=(
            "https://<domain>/<key>/postback?subid=<click_id>&status={status}&payout={sum}"
            "&currency={currency}&tid={conversion_id}&sale_status=1&lead_status=2,5&rejected_status=3"
        ),
        source="https://docs.keitaro.io/en/conversions/postback.html",
        status=PostbackStatusFilter.ANY,
        note="Every status in one postback: Keitaro maps our codes to lead, sale and rejected.",
    ),
    # Binom. https://docs.binom.org/postback-url.php: click.php?cnv_id=<click id>&payout=...,
    # with cnv_status (any text) and cnv_currency. Binom gives cnv_status no fixed words, so ours
    # are our status names, one postback per status.
    TrackerTemplate(
        key="binom",
        name="Binom",
        url="https://<domain>/click.php?cnv_id=<click_id>&payout={sum}&cnv_currency={currency}&cnv_status=<status>",
        source="https://docs.binom.org/postback-url.php",
        status_words={status.value: status.value for status in CONCRETE_STATUSES},
        note="One postback per status: cnv_status carries its name (approved, pending, declined, hold).",
    ),
    # Voluum. https://doc.voluum.com/article/parameters-in-postback-urls and
    # https://doc.voluum.com/en/submitting_postback_url.html: cid (required), payout, txid. The
    # pages found name no status parameter: only approved conversions are sent.
    TrackerTemplate(
        key="voluum",
        name="Voluum",
        url="https://<domain>/postback?cid=<click_id>&payout={sum}&txid={conversion_id}",
        source="https://doc.voluum.com/article/parameters-in-postback-urls",
    ),
    # RedTrack. https://help.redtrack.io/knowledgebase/kb/basic-setup-9785/supported-dynamic-parameters/%d1%81lick-id-parameter/
    # gives /postback?clickid=...; https://docs.redtrack.io/knowledgebase/tracking-event-types/
    # names its statuses Approved, Pending, Declined (and Other), case-sensitive, and `type` for
    # conversion types the user names in RedTrack (left out: they are the user's own). The
    # parameter names `sum` (payout) and `status` are those of RedTrack's offer source templates;
    # the pages found do not spell them out: check them against your RedTrack postback URL.
    TrackerTemplate(
        key="redtrack",
        name="RedTrack",
        url="https://<domain>/postback?clickid=<click_id>&sum={sum}&status=<status>",
        source="https://docs.redtrack.io/knowledgebase/tracking-event-types/",
        status_words={
            PostbackStatusFilter.APPROVED.value: "Approved",
            PostbackStatusFilter.PENDING.value: "Pending",
            PostbackStatusFilter.DECLINED.value: "Declined",
            PostbackStatusFilter.HOLD.value: "Pending",
        },
        note="One postback per status: RedTrack's words are Approved, Pending, Declined (hold: Pending).",
    ),
    # BeMob. https://docs.bemob.com/en/monetizer-settings shows postback?cid=&payout=&txid=&status=;
    # https://help.bemob.com/docs/using-postback-statuses: with "Use conversion statuses" ticked,
    # the affiliate network's own status values are entered in BeMob, so our codes need no words.
    TrackerTemplate(
        key="bemob",
        name="BeMob",
        url="https://<domain>/postback?cid=<click_id>&payout={sum}&txid={conversion_id}&status={status}",
        source="https://help.bemob.com/docs/using-postback-statuses",
        status=PostbackStatusFilter.ANY,
        note=(
            "Every status in one postback: in BeMob tick Use conversion statuses and enter our codes "
            "(1 approved, 2 pending, 3 declined, 5 hold) in its status fields."
        ),
    ),
    # PeerClick. https://help-center.peerclick.com/en/articles/10512589: cid (required), payout,
    # status, txid, currency; the default postback host is pstb.peerclick.com. Its `status` names
    # custom conversion types set up in PeerClick, so it is left out: only approved ones are sent.
    TrackerTemplate(
        key="peerclick",
        name="PeerClick",
        url="https://<domain>/postback?cid=<click_id>&payout={sum}&txid={conversion_id}&currency={currency}",
        source="https://help-center.peerclick.com/en/articles/10512589",
        note="PeerClick's own postback domain is pstb.peerclick.com.",
    ),
    # ClickMagick. https://www.clickmagick.com/kb/kb.cgi?answer=793: sales are posted to
    # https://www.clkmg.com/api/s/post/ with uid (the user id), s1 (required: the visitor's id),
    # ref (an optional reference), amt (the amount) and cmc_currency. Its domain is ClickMagick's.
    TrackerTemplate(
        key="clickmagick",
        name="ClickMagick",
        url="https://www.clkmg.com/api/s/post/?uid=<user_id>&s1=<click_id>&amt={sum}&ref={conversion_id}&cmc_currency={currency}",
        source="https://www.clickmagick.com/kb/kb.cgi?answer=793",
        note="Posts sales; ClickMagick takes actions at /api/a/post/ with the same parameters, without amt.",
    ),
    # Everflow, as the receiver. https://helpdesk.everflow.io/customer/accessing-editing-s2s-postback-urls:
    # nid (network id) and transaction_id (Everflow's click id) are required, amount is the sale
    # amount, adv1..adv5 are advertiser sub ids. The host and path are those of the Global
    # Postback URL of Control Center > Platform Configurations, which the pages found do not
    # spell out: the root of the tracking domain is assumed here, check it against yours.
    TrackerTemplate(
        key="everflow",
        name="Everflow",
        url="https://<domain>/?nid=<network_id>&transaction_id=<click_id>&amount={sum}&adv1={conversion_id}",
        source="https://helpdesk.everflow.io/customer/accessing-editing-s2s-postback-urls",
        note="Compare the domain and path with your Global Postback URL in Everflow.",
    ),
    # TUNE (HasOffers). https://support.tune.com/hc/en-us/articles/4413247665431-Receiving-Conversions-via-Postback-URL:
    # http://<network>.go2cloud.org/aff_lsr?offer_id=<id>&transaction_id=<TUNE's click id>; TUNE
    # answers success=true. `amount` (sale amount) and `adv_sub` are conversion link parameters
    # (https://support.tune.com/hc/en-us/articles/1500005236742-Customizing-a-Conversion-URL).
    # Goals post to aff_goal with a goal id, which this template does not cover.
    TrackerTemplate(
        key="tune",
        name="TUNE (HasOffers)",
        url="https://<domain>/aff_lsr?offer_id=<offer_id>&transaction_id=<click_id>&amount={sum}&adv_sub={conversion_id}",
        source="https://support.tune.com/hc/en-us/articles/4413247665431-Receiving-Conversions-via-Postback-URL",
        note="The domain is your network's, such as yournetwork.go2cloud.org.",
    ),
]
BY_KEY = {template.key: template for template in TEMPLATES}


@dataclass(frozen=True)
class Filled:
    url: str
    status: str


def fill(template: TrackerTemplate, *, click_id_sub: str, blanks: dict[str, str], status: str = "") -> Filled:
    """The URL of `template` filled in, with the status filter it goes with: `status`, or the
    template's own when none is given. Raises a ValidationError naming each blank missing or
    malformed, the sub if it is not one, and the status if the tracker has no word for it."""
    errors = {}
    if click_id_sub not in SUB_FIELDS:
        errors["click_id_sub"] = f"Choose one of {', '.join(SUB_FIELDS)}."
    status = status or template.status
    if template.status_words and status not in template.status_words:
        words = ", ".join(f"{word} for {name}" for name, word in template.status_words.items())
        errors["status"] = (
            f"{template.name} takes a status word ({words}): choose one of these statuses, "
            "and add a postback for each status it should see."
        )
    values = {}
    for blank in template.blanks:
        value = blanks.get(blank.name, "").strip()
        if blank.pattern is DOMAIN:
            value = re.sub(r"^https?://", "", value, flags=re.IGNORECASE).rstrip("/")
        if not value:
            errors[blank.name] = f"{template.name} needs it: {blank.help}"
        elif not blank.pattern.fullmatch(value):
            errors[blank.name] = f"This does not look right. {blank.help}"
        values[blank.name] = value
    if errors:
        raise ValidationError(errors)
    values["click_id"] = "{" + click_id_sub + "}"
    values["status"] = template.status_words.get(status, "")
    return Filled(url=BLANK.sub(lambda blank: values.get(blank[1], blank[0]), template.url), status=status)


def unfilled_problem(url: str) -> str | None:
    """Why a URL with a template's blank still in it is refused, or None."""
    found = BLANK.search(url)
    if found is None:
        return None
    blank = BLANKS.get(found[1])
    if blank is not None:
        return f"Fill in {found[0]} in the URL. {blank.help}"
    return (
        f"Replace {found[0]} in the URL with your own value: a name in angle brackets is a blank "
        "of a template, not a macro."
    )


def for_script() -> list[dict]:
    """What postback-templates.js needs of each template to fill the URL as postbacks.trackers.fill does."""
    return [
        {
            "key": template.key,
            "url": template.url,
            "status": template.status,
            "status_words": template.status_words,
            "blanks": [blank.name for blank in template.blanks],
            "note": template.note,
            "source": template.source,
        }
        for template in TEMPLATES
    ]
