"""A goal's payouts by country in words, for the portal's offer page (offers.payouts says them)."""

from django import template

from offers import payouts

register = template.Library()

register.filter("payouts_by_country", payouts.payouts_by_country)
