from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from alerts import rules as alert_rules
from conversions.models import ServerPostback
from manager.selectors import work
from offers.choices import ConversionStatus
from offers.models import OfferAccess
from offers.services import offer_access_decide
from portal.forms import ConfirmForm
from postbacks.models import Postback
from postbacks.services import postback_save

# The windows a manager may look back over for refused advertiser postbacks, in hours.
REFUSAL_WINDOWS = [(1, "hour"), (6, "6 hours"), (24, "24 hours"), (72, "3 days"), (168, "7 days")]
DEFAULTS = {"days": "7", "hours": "24"}


class AsciiIntegerField(forms.IntegerField):
    """A whole number in the digits 0-9. Django's own field reads any script's digits ("١٢" is 12):
    a number nobody typed with this form's keyboard is an error here, not a guess."""

    def to_python(self, value):
        if isinstance(value, str) and not value.isascii():
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class WorkQueueForm(forms.Form):
    days = AsciiIntegerField(
        label="Conversions pending for more than",
        min_value=1,
        max_value=365,
        help_text="days (1 to 365)",
        error_messages={"invalid": "Enter a number of days in digits, such as 7."},
    )
    hours = forms.TypedChoiceField(
        label="Advertiser postbacks refused within the last", choices=REFUSAL_WINDOWS, coerce=int
    )


def _admin_list(model: str, filters: dict) -> str:
    """The admin's list of `model` ("app_model") narrowed by `filters`, its own query-string filters."""
    return f"{reverse(f'admin:{model}_changelist')}?{urlencode(filters)}"


def conversions_list_url(created_before: datetime, offer_pk: int | None = None) -> str:
    """The admin's conversions that work.conversions_pending_before selects (of one offer, when
    given): its status actions, with their confirmation page, apply there."""
    filters = {"status__exact": ConversionStatus.PENDING.value, "is_test__exact": "0"}
    if offer_pk is not None:
        filters["offer__id__exact"] = offer_pk
    return _admin_list("conversions_conversion", {**filters, "created_before": created_before.isoformat()})


def refusals_list_url(refusals: work.Refusals, **filters) -> str:
    """The admin's inbound log of the refusals' window, refused hits only, narrowed by `filters`."""
    window = {"received_from": refusals.since.isoformat(), "received_before": refusals.until.isoformat()}
    return _admin_list(
        "conversions_serverpostback",
        {"outcome__exact": ServerPostback.Outcome.REJECTED.value, **window, **filters},
    )


def _caller_filters(row: work.RefusedByCaller) -> dict:
    address = {"ip__isnull": "True"} if row.ip is None else {"ip": row.ip}
    return {"offer__isnull": "True", "message": row.message, **address}


def work_queue(request):
    """What waits for a manager (`/admin/work/`), a section each (manager.selectors.work), every
    item one click from its action: access requests to approve or reject, conversions pending
    for more than `days` days, affiliate postbacks failing or disabled, and advertiser postbacks
    refused within the last `hours` hours. A bad `days` or `hours` is a form error on the page,
    as the dashboard answers a bad period, that leaves its section out; the other sections are
    shown all the same."""
    form = WorkQueueForm({**DEFAULTS, **request.GET.dict()})
    form.is_valid()
    valid = form.cleaned_data
    now = timezone.now()
    context = {
        **admin.site.each_context(request),
        "title": "Work queue",
        # The queue's tables are wide: the sidebar of every app's models gives them its room.
        "is_nav_sidebar_enabled": False,
        "form": form,
        "query": request.GET.urlencode(),
        "access": work.access_requests_waiting(),
        "may_decide_access": _may_decide_access(request),
        "postbacks": work.postbacks_in_trouble(now=now),
        "may_enable_postbacks": _may_enable_postbacks(request),
        "advertiser_alerts": work.advertiser_alerts(),
        "alert_rules": alert_rules,
    }
    if "days" in valid:
        pending = work.conversions_pending_longer_than(days=valid["days"], now=now)
        context["pending"] = pending
        context["pending_rows"] = [
            (row, conversions_list_url(pending.created_before, row.offer.pk)) for row in pending.offers.rows
        ]
        context["pending_url"] = conversions_list_url(pending.created_before)
    if "hours" in valid:
        refusals = work.refused_advertiser_postbacks(since=now - timedelta(hours=valid["hours"]), until=now)
        context["refusals"] = refusals
        context["window"] = dict(REFUSAL_WINDOWS)[valid["hours"]]
        context["refusals_url"] = refusals_list_url(refusals)
        context["advertiser_rows"] = [
            (row, refusals_list_url(refusals, offer__advertiser__id__exact=row.advertiser.pk))
            for row in refusals.by_advertiser.rows
        ]
        context["caller_rows"] = [
            (row, refusals_list_url(refusals, **_caller_filters(row))) for row in refusals.by_caller.rows
        ]
        context["unknown_offer_url"] = refusals_list_url(refusals, offer__isnull="True")
    return TemplateResponse(request, "admin/manager/work.html", context)


def _back_to_queue(request):
    """The queue again, as the manager left it: its query string travels in the action's address."""
    query = request.GET.urlencode()
    return redirect(reverse("admin-work-queue") + (f"?{query}" if query else ""))


# --- Access requests --------------------------------------------------------------------------


def _may_decide_access(request) -> bool:
    """Who may decide here: those the admin lets change access entries."""
    return request.user.has_perm("offers.change_offeraccess")


def _decide(request, pk: int, status: str) -> None:
    """Decide a request that still waits, through offers.services.offer_access_decide, as the
    admin's actions do. One decided meanwhile (by another manager, on a page read before) is
    left as decided: the queue acts only on what waits."""
    if not _may_decide_access(request):
        raise PermissionDenied("Deciding access requests needs the right to change them.")
    with transaction.atomic():
        access = get_object_or_404(
            OfferAccess.objects.select_for_update(of=("self",)).select_related("affiliate__user", "offer"),
            pk=pk,
        )
        if access.status != OfferAccess.Status.PENDING:
            messages.warning(
                request, f"The request of {access.affiliate} for {access.offer} was already {access.status}."
            )
            return
        offer_access_decide(access=access, status=status, decided_by=request.user)
    messages.success(request, f"The request of {access.affiliate} for {access.offer} is {status}.")


@require_POST
def access_approve(request, pk: int):
    """Approve an access request from the queue (POST): the affiliate's links to the offer work
    within seconds."""
    _decide(request, pk, OfferAccess.Status.APPROVED)
    return _back_to_queue(request)


def access_reject(request, pk: int):
    """Reject an access request: a GET shows what rejecting does, a POST with `confirm=yes`
    rejects it and leads back to the queue."""
    access = get_object_or_404(
        OfferAccess.objects.select_related("affiliate__user", "offer__advertiser"), pk=pk
    )
    if not _may_decide_access(request):
        raise PermissionDenied("Deciding access requests needs the right to change them.")
    if access.status != OfferAccess.Status.PENDING:
        messages.warning(
            request, f"The request of {access.affiliate} for {access.offer} was already {access.status}."
        )
        return _back_to_queue(request)
    context = {
        **admin.site.each_context(request),
        "title": f"Reject the request of {access.affiliate} for {access.offer}?",
        "access": access,
        "query": request.GET.urlencode(),
    }
    if request.method == "POST":
        if ConfirmForm(request.POST).is_valid():
            _decide(request, pk, OfferAccess.Status.REJECTED)
            return _back_to_queue(request)
        context["not_confirmed"] = True
    status = 400 if request.method == "POST" else 200
    return TemplateResponse(request, "admin/manager/work_reject.html", context, status=status)


# --- Affiliate postbacks ----------------------------------------------------------------------


def _may_enable_postbacks(request) -> bool:
    return request.user.has_perm("postbacks.change_postback")


@require_POST
def postback_enable(request, pk: int):
    """Enable a postback the platform disabled again (POST), through postbacks.services.postback_save,
    which clears the reason and the failing streak; a URL that no longer passes today's checks
    is refused with the reason."""
    if not _may_enable_postbacks(request):
        raise PermissionDenied("Enabling postbacks needs the right to change them.")
    postback = get_object_or_404(Postback.objects.select_related("affiliate__user"), pk=pk)
    if postback.enabled:
        messages.info(request, f"The postback {postback.url} of {postback.affiliate} is enabled already.")
        return _back_to_queue(request)
    postback.enabled = True
    try:
        postback_save(postback)
    except ValidationError as refused:
        messages.error(request, f"The postback {postback.url} stays disabled: {' '.join(refused.messages)}")
    else:
        messages.success(
            request,
            f"The postback {postback.url} of {postback.affiliate} is enabled again: the next conversions "
            "reach it.",
        )
    return _back_to_queue(request)
