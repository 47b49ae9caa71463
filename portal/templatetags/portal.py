from decimal import InvalidOperation

from django import template

from config.amounts import amount_text

register = template.Library()


@register.filter
def amount(value):
    """A money amount as people write it (config.amounts); anything else as it is."""
    try:
        return amount_text(value)
    except (InvalidOperation, TypeError, ValueError):
        return value
