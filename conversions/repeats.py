"""Which advertiser postbacks may repeat a stored conversion.

With an `action_id`, a conversion is unique per offer, goal and action_id whatever the click, so
a postback naming an action_id that is stored already is a repeat of that conversion: a replay or
a status change. It may be one only when it comes the way the conversion came: for the same click;
or, for a probabilistic conversion (attributed by `offer_id` and `pid`, not by a click),
probabilistically for the same affiliate. Otherwise anyone who knows or guesses an advertiser's
order number could change another click's conversion (another affiliate's, or the same
affiliate's other one) on an offer whose postbacks need no secure code.

The click of a probabilistic conversion is the one linked by IP for its sub values, not what it is
attributed by: a repeat may well link a newer click from the same IP.
"""

from conversions.models import Conversion, IntegrationMethod

ANOTHER_CLICK = "Action_id belongs to another click's conversion"
ANOTHER_AFFILIATE = "Action_id belongs to another affiliate's conversion"


def uniqueness_lookup(conversion: Conversion) -> dict | None:
    """The lookup of the stored conversion that `conversion` repeats under the unique constraints
    (Conversion.Meta); None for a probabilistic conversion without an action_id, which none
    repeats."""
    if conversion.action_id:
        return {
            "offer_id": conversion.offer_id,
            "goal_id": conversion.goal_id,
            "action_id": conversion.action_id,
            "unknown_goal": conversion.unknown_goal,
        }
    if conversion.integration_method == IntegrationMethod.DEFAULT:
        return {
            "offer_id": conversion.offer_id,
            "goal_id": conversion.goal_id,
            "click_id": conversion.click_id,
            "action_id": "",
            "unknown_goal": conversion.unknown_goal,
        }
    return None


def foreign_action_id(*, stored: Conversion, repeat: Conversion) -> str | None:
    """Why the postback that would have created `repeat` may not touch `stored`, the conversion
    holding its action_id (the advertiser's answer); None when it may."""
    if repeat.integration_method == IntegrationMethod.PROBABILISTIC:
        if stored.affiliate_id != repeat.affiliate_id:
            return ANOTHER_AFFILIATE
        return None if stored.integration_method == IntegrationMethod.PROBABILISTIC else ANOTHER_CLICK
    if stored.integration_method != IntegrationMethod.DEFAULT or stored.click_id != repeat.click_id:
        return ANOTHER_CLICK
    return None
