from django import template

from postbacks.chain import query_shown
from postbacks.explanations import DisabledReason, Explanation, explain, explain_disabled

register = template.Library()


@register.filter
def explained(result) -> Explanation:
    """What came of a delivery or an attempt (anything with `http_code`, `error` and `url`), in
    words: postbacks.explanations."""
    return explain(http_code=result.http_code, error=result.error, url=result.url)


@register.filter
def disabled_explained(postback) -> DisabledReason:
    """Why the platform disabled a postback, in words: postbacks.explanations."""
    return explain_disabled(postback.disabled_reason, url=postback.url)


@register.simple_tag
def chain_query(hit, for_manager: bool) -> str:
    """An advertiser postback's query as the viewer of an explain may see it: postbacks.chain."""
    return query_shown(hit, for_manager=for_manager)
