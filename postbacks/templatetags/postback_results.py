from django import template

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
