"""An offer's targeting in words, for the portal's offer page (offers.targeting says them)."""

from django import template

from offers import targeting

register = template.Library()

register.filter("countries_text", targeting.countries_text)
register.filter("os_families_text", targeting.os_families_text)
register.filter("device_types_text", targeting.device_types_text)
