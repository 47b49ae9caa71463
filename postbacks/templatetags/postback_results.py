from django import template

from postbacks.explanations import Explanation, explain

register = template.Library()


@register.filter
def explained(result) -> Explanation:
    """What came of a delivery or an attempt (anything with `http_code`, `error` and `url`), in
    words: postbacks.explanations."""
    return explain(http_code=result.http_code, error=result.error, url=result.url)
