"""Admin actions that ask first. Like Django's "Delete selected", an action whose effect cannot be
taken back with one click (revoking API keys, deciding access requests, pausing offers,
blocking affiliates) answers the list's form
with a page that says what it will do and to which rows; the page's button posts the same
selection back with `post=yes`, and only then does the action run, through its service.
conversions.admin's status actions work the same way, with a page of their own around the same
selection (`selection_context`)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.admin import helpers
from django.template.response import TemplateResponse

# The rows a confirmation page lists of a selection across every page, which may hold thousands:
# the page counts them all.
LISTED_ROWS = 100


@dataclass(frozen=True)
class Column:
    """A column of the confirmation page's table: its heading and the value of a row."""

    heading: str
    value: Callable[[Any], object]


def confirmed(request) -> bool:
    """Whether the action's form is the confirmation page's button."""
    return request.POST.get("post") == "yes"


def confirmation_page(
    model_admin,
    request,
    queryset,
    *,
    title: str,
    effects: list[str],
    button: str,
    columns: list[Column],
) -> TemplateResponse:
    """The page between an action and its run: `title` asks the question, `effects` say what
    running it does (a sentence each), the table lists the selection, and `button` runs it."""
    listed, context = selection_context(request, queryset)
    context |= {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "effects": effects,
        "button": button,
        "headings": [column.heading for column in columns],
        "rows": [(obj, [column.value(obj) for column in columns]) for obj in listed],
    }
    return TemplateResponse(request, "admin/action_confirmation.html", context)


def selection_context(request, queryset) -> tuple[list, dict]:
    """The rows a confirmation page lists, and what its form needs to post the same selection
    back. A selection across every page is run again on the list's filters (in the address the
    page posts to), and listed in part; any other one, a page at most, is listed and posted back
    row by row."""
    select_across = request.POST.get("select_across") == "1"
    listed = queryset.order_by("-pk")
    listed = list(listed[:LISTED_ROWS] if select_across else listed)
    return listed, {
        "not_listed": queryset.count() - len(listed),
        "action": request.POST.get("action", ""),
        "select_across": select_across,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": request.get_full_path(),
    }
