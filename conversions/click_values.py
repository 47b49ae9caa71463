"""What a conversion keeps of its click, so that nothing needs the click's row once it is made.

Clicks are kept CLICK_RETENTION_DAYS and then dropped with their week's partition, while
conversions are kept for good: a status change a year later must still send the click id,
ref_id, ext values and the visitor the first postback sent. So when a conversion is made it
copies, into `Conversion.click_values`, what its affiliate postbacks' macros (postbacks.macros)
and its pages read of its click, keyed by the click's field names, every value a string. Its
sub values are its own columns already.

An advertiser postback for a click that is gone (an approval months after the conversion) is
judged by the click rebuilt from one of its conversions (`click_stand_in`): the kept values, and
the conversion's own columns that copy the click's.

Conversions made before that column were filled from their clicks by the migration that added
it; one made meanwhile by a process still running the previous code reads its click's row while
the row is kept (`kept_click_values`), and has no click values once it is gone.
"""

from datetime import UTC, datetime

from tracking.models import Click, sub_fields
from tracking.visitor import MACRO_FIELDS

# The click's fields that are kept, besides `created_at` (an ISO 8601 time in UTC).
FIELDS = (
    "click_id",
    "ref_id",
    "ext1",
    "ext2",
    "ext3",
    "os_id",
    "fbclid",
    "ip",
    "user_agent",
    "referrer",
    *MACRO_FIELDS.values(),
)


def click_values(click: Click) -> dict[str, str]:
    """What a conversion of `click` keeps of it: the only place these values are chosen."""
    values = {field: str(getattr(click, field) or "") for field in FIELDS}
    values["created_at"] = click.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return values


def kept_click_values(conversion) -> dict[str, str]:
    """The click values `conversion` kept (`click_values`), or for one that kept none, its
    click's while the row is there; empty without either. Never raises for a click that is gone:
    its foreign key has no database constraint, and may name a row no longer kept."""
    if conversion.click_values or conversion.click_id is None:
        return conversion.click_values
    click = kept_click(conversion)
    return click_values(click) if click is not None else {}


def kept_click(conversion) -> Click | None:
    """The conversion's click row; None without a click, or once it is no longer kept (its
    foreign key has no database constraint, and may name a row that is gone)."""
    try:
        return conversion.click  # None when a select_related found no row
    except Click.DoesNotExist:
        return None


def click_stand_in(conversion) -> Click:
    """The click of `conversion`, which kept its values, rebuilt for a postback naming it once its
    row is gone: what the conversion kept of it, and the conversion's columns that copied it when
    it was made (offer, affiliate, test flag, sub values). The intake then judges it as it judged
    the row, and a conversion made from it keeps the same values. Never saved."""
    values = conversion.click_values
    kept = {field: values.get(field, "") for field in FIELDS}
    return Click(
        **{**kept, "ip": kept["ip"] or None},  # kept as "" for a click without an address
        pk=conversion.click_id,
        created_at=datetime.fromisoformat(values["created_at"]),
        offer_id=conversion.offer_id,
        affiliate_id=conversion.affiliate_id,
        is_test=conversion.is_test,
        **sub_fields(conversion.all_sub_values()),
    )
