"""Portal pages for postbacks: an offer's "Your Postbacks", Settings > Postback information (global
postbacks, options, signing secret, macro reference) and Statistics > Affiliate postbacks (the log).
Every write goes through postbacks.services or offers.services."""

from functools import cached_property

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import CreateView, DeleteView, ListView, TemplateView, UpdateView

from config.filters import offer_choice_field, use_date_pickers, with_default_period
from config.text import has_control_characters
from conversions.selectors import offers_for_statistics
from offers.selectors import offers_visible_to
from offers.services import affiliate_set_signing_secret, affiliate_update
from portal.access import AffiliateRequiredMixin
from portal.forms import ConfirmForm
from postbacks import backfill, chain, macros, trackers
from postbacks.filters import BackfillPeriodForm, FailedDeliveryFilterForm
from postbacks.forms import (
    DeliveryLogFilterForm,
    IntegrationTestAffiliateForm,
    IntegrationTestForm,
    PostbackForm,
    PostbackOptionsForm,
    SigningSecretForm,
    TrackerTemplateForm,
)
from postbacks.integration import integration_test_run
from postbacks.models import Delivery, Postback
from postbacks.selectors import deliveries_filtered, deliveries_replayable, deliveries_with_relations
from postbacks.services import (
    REPLAY_MAX,
    deliveries_replay_failed,
    delivery_retry,
    postback_backfill,
    postback_delete,
    postback_save,
    postback_send_test,
)
from tracking.models import SUB_FIELDS

TESTED_SESSION_KEY = "postback_tested_delivery"
NEW_SECRET_SESSION_KEY = "postback_new_signing_secret"


class PostbackScopeMixin(AffiliateRequiredMixin):
    """The postbacks a page works on: the affiliate's local postbacks of the offer in the address
    (an offer they can see; any other is a 404), or, without an offer, their global postbacks."""

    @cached_property
    def offer(self):
        if "offer_id" not in self.kwargs:
            return None
        return get_object_or_404(offers_visible_to(self.affiliate), offer_id=self.kwargs["offer_id"])

    def postbacks(self):
        return Postback.objects.filter(affiliate=self.affiliate, offer=self.offer).select_related("goal")

    def list_url(self) -> str:
        if self.offer is None:
            return reverse("postbacks:settings")
        return reverse("postbacks:offer-list", args=[self.offer.offer_id])

    def action_url(self, action: str, postback: Postback | None = None) -> str:
        """The address of `action` (add, edit, delete, test) in this scope."""
        args = [] if self.offer is None else [self.offer.offer_id]
        if postback is not None:
            args.append(postback.pk)
        return reverse(f"postbacks:{'global' if self.offer is None else 'offer'}-{action}", args=args)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            offer=self.offer,
            list_url=self.list_url(),
            nav_section="settings" if self.offer is None else "offers",
            **kwargs,
        )


class PostbackListView(PostbackScopeMixin, ListView):
    """An offer's "Your Postbacks" tab: its local postbacks with their last delivery, and the
    result of a test postback just sent."""

    template_name = "postbacks/offer_postbacks.html"
    context_object_name = "postbacks"

    def get_queryset(self):
        postbacks = _with_last_delivery(self.postbacks())
        for postback in postbacks:
            postback.links = {
                action: self.action_url(action, postback) for action in ("edit", "delete", "test", "backfill")
            }
        return postbacks

    def get_context_data(self, **kwargs):
        tested = self.request.session.pop(TESTED_SESSION_KEY, None)
        test_delivery = (
            Delivery.objects.select_related("conversion__offer")
            .filter(pk=tested, affiliate=self.affiliate)
            .first()
            if tested
            else None
        )
        return super().get_context_data(test_delivery=test_delivery, add_url=self.action_url("add"), **kwargs)


def _with_last_delivery(postbacks) -> list[Postback]:
    """The postbacks, each with `last_delivery`: its latest delivery (test ones included), or None."""
    latest = Delivery.objects.filter(postback=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    postbacks = list(postbacks.annotate(last_delivery_pk=Subquery(latest)))
    deliveries = Delivery.objects.in_bulk([postback.last_delivery_pk for postback in postbacks])
    for postback in postbacks:
        postback.last_delivery = deliveries.get(postback.last_delivery_pk)
    return postbacks


class PostbackFormMixin(PostbackScopeMixin):
    form_class = PostbackForm
    template_name = "postbacks/postback_form.html"
    context_object_name = "postback"

    def get_queryset(self):
        return self.postbacks()

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "affiliate": self.affiliate, "offer": self.offer}

    @cached_property
    def template_form(self) -> TrackerTemplateForm:
        return TrackerTemplateForm.from_query(self.request.GET)

    def get_initial(self):
        return {**super().get_initial(), **self.template_form.initial_postback()}

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            macros=macros.MACROS, template_form=self.template_form, trackers=trackers.for_script(), **kwargs
        )

    def form_valid(self, form):
        try:
            unknown = postback_save(form.instance)
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        if unknown:
            names = ", ".join(f"{{{name}}}" for name in unknown)
            messages.warning(self.request, f"Saved. Unknown macros left as they are: {names}")
        else:
            messages.success(self.request, "Postback saved.")
        return redirect(self.list_url())


class PostbackCreateView(PostbackFormMixin, CreateView):
    pass


class PostbackUpdateView(PostbackFormMixin, UpdateView):
    pass


class PostbackDeleteView(PostbackScopeMixin, DeleteView):
    """A confirmation page; the postback goes on POST. Its deliveries stay in the log."""

    template_name = "postbacks/postback_confirm_delete.html"
    context_object_name = "postback"

    def get_queryset(self):
        return self.postbacks()

    def get_success_url(self):
        return self.list_url()

    def form_valid(self, form):
        postback_delete(self.object)
        messages.success(self.request, "Postback deleted.")
        return redirect(self.get_success_url())


class PostbackTestView(PostbackScopeMixin, View):
    """Send test postback: the result is shown once on the list the affiliate is sent back to."""

    http_method_names = ["post"]

    def post(self, request, **kwargs):
        postback = get_object_or_404(self.postbacks(), pk=kwargs["pk"])
        try:
            delivery = postback_send_test(postback)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            request.session[TESTED_SESSION_KEY] = delivery.pk
        return redirect(self.list_url())


class PostbackBackfillView(PostbackScopeMixin, TemplateView):
    """Send for past conversions: a period (GET) previews how many postbacks the backfill sends;
    the page's button (POST) queues it (postbacks.backfill says which conversions)."""

    template_name = "postbacks/backfill.html"

    @cached_property
    def postback(self):
        return get_object_or_404(self.postbacks().select_related("affiliate"), pk=self.kwargs["pk"])

    def get(self, request, *args, **kwargs):
        asked = "date_from" in request.GET or "date_to" in request.GET
        form = _with_date_pickers(
            BackfillPeriodForm(request.GET if asked else None, initial=_initial_period())
        )
        count = backfill.backfill_count(self.postback, form.period) if asked and form.is_valid() else None
        if count is not None and (problem := backfill.count_problem(count)):
            # Refused as sending it would be: the count past the limit is no figure to show.
            form.add_error(None, problem)
            count = None
        return self.render_to_response(self.get_context_data(form=form, count=count))

    def post(self, request, *args, **kwargs):
        form = _with_date_pickers(BackfillPeriodForm(request.POST))
        if form.is_valid():
            try:
                count = postback_backfill(postback=self.postback, period=form.period)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                if count:
                    messages.success(
                        request,
                        f"Queued: {count} postback{'s' if count != 1 else ''} for past conversions. "
                        "They are sent after the live ones and marked backfill in your postback log.",
                    )
                else:
                    messages.info(
                        request,
                        "Nothing to send: every matching conversion of that period has had this postback.",
                    )
                return redirect(self.list_url())
        return self.render_to_response(self.get_context_data(form=form, count=None), status=400)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            postback=self.postback,
            max_days=backfill.MAX_DAYS,
            **kwargs,
        )


def _initial_period() -> dict:
    period = backfill.default_period()
    return {"date_from": period.date_from, "date_to": period.date_to}


def _with_date_pickers(form):
    use_date_pickers(form)
    return form


class PostbackSettingsView(PostbackListView):
    """Settings > Postback information: global postbacks, "Consider global postback", the signing
    secret and the macro reference."""

    template_name = "postbacks/settings.html"

    def post(self, request):
        form = PostbackOptionsForm(request.POST, instance=self.affiliate)
        if form.is_valid():
            affiliate_update(
                affiliate=self.affiliate,
                consider_global_postback=form.cleaned_data["consider_global_postback"],
            )
            messages.success(request, "Postback options saved.")
        return redirect("postbacks:settings")

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            options_form=PostbackOptionsForm(instance=self.affiliate),
            new_signing_secret=self.request.session.pop(NEW_SECRET_SESSION_KEY, None),
            macros=macros.MACROS,
            aliases=macros.ALIASES,
            **kwargs,
        )


class SigningSecretView(AffiliateRequiredMixin, TemplateView):
    """Generating a signing secret, shown once on the settings page. Without a secret, the settings
    page's button generates one at once: nothing is lost. A secret that is set is replaced only
    from this page: a GET says what replacing it does, a POST with `confirm=yes` replaces it."""

    template_name = "postbacks/signing_secret_replace.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(nav_section="settings", **kwargs)

    def post(self, request):
        form = SigningSecretForm(request.POST)
        if not form.is_valid():
            return redirect("postbacks:settings")
        if form.cleaned_data["action"] == "clear":
            # Clearing has a confirmation page of its own (a page open since before it had one).
            return redirect("postbacks:signing-secret-clear")
        if self.affiliate.signing_secret and not ConfirmForm(request.POST).is_valid():
            # Replacing the secret breaks the checks of the affiliate's server until it has the new one.
            return self.render_to_response(self.get_context_data(not_confirmed=True), status=400)
        # Kept in the session for one page view, so that a reload does not show it again.
        request.session[NEW_SECRET_SESSION_KEY] = affiliate_set_signing_secret(affiliate=self.affiliate)
        return redirect("postbacks:settings")


class SigningSecretClearView(AffiliateRequiredMixin, TemplateView):
    """Clearing the signing secret: a GET says what clearing it does, a POST with `confirm=yes`
    clears it, and the affiliate's postbacks are sent unsigned from then on."""

    template_name = "postbacks/signing_secret_clear.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(nav_section="settings", **kwargs)

    def post(self, request):
        if not ConfirmForm(request.POST).is_valid():
            return self.render_to_response(self.get_context_data(not_confirmed=True), status=400)
        affiliate_set_signing_secret(affiliate=self.affiliate, secret="")
        messages.success(request, "Signing secret cleared: postbacks are sent unsigned.")
        return redirect("postbacks:settings")


class DeliveryLogView(AffiliateRequiredMixin, ListView):
    """Statistics > Affiliate postbacks: the affiliate's deliveries, newest first, test ones
    marked. A first visit, which names no dates, shows the last 30 days."""

    template_name = "postbacks/log.html"
    context_object_name = "deliveries"
    paginate_by = 50

    def get_queryset(self):
        data = with_default_period(self.request.GET)
        self.form = DeliveryLogFilterForm(data, offers=offers_for_statistics(self.affiliate))
        deliveries = deliveries_with_relations().filter(affiliate=self.affiliate)
        if not self.form.is_valid():
            return deliveries.none()
        return deliveries_filtered(deliveries, self.form.cleaned_data)

    def get_context_data(self, **kwargs):
        return super().get_context_data(form=self.form, nav_section="statistics", **kwargs)


class DeliveryReplayView(AffiliateRequiredMixin, TemplateView):
    """Statistics > Affiliate postbacks > Send failed postbacks again: filters (GET) preview how
    many of the affiliate's failed deliveries match; the button (POST) sends them again."""

    template_name = "postbacks/replay.html"

    def _form(self, data):
        form = FailedDeliveryFilterForm(data)
        use_date_pickers(form)
        form.fields["offer"] = offer_choice_field(offers_for_statistics(self.affiliate))
        form.fields["http_code"].help_text = "0: no answer"
        return form

    def _matching(self, form):
        deliveries = Delivery.objects.filter(affiliate=self.affiliate)
        return deliveries_filtered(deliveries, form.cleaned_data)

    def get(self, request, *args, **kwargs):
        form = self._form(with_default_period(request.GET))
        count = deliveries_replayable(self._matching(form)).count() if form.is_valid() else None
        return self.render_to_response(self.get_context_data(form=form, count=count))

    def post(self, request, *args, **kwargs):
        form = self._form(request.POST)
        if form.is_valid():
            try:
                sent = deliveries_replay_failed(self._matching(form))
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request, f"{sent} failed postback{'s' if sent != 1 else ''} will be sent again shortly."
                )
                return redirect("postbacks:log")
        return self.render_to_response(self.get_context_data(form=form, count=None), status=400)

    def get_context_data(self, **kwargs):
        return super().get_context_data(nav_section="statistics", max_replay=REPLAY_MAX, **kwargs)


class DeliveryRetryView(AffiliateRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request, delivery_id):
        delivery = get_object_or_404(Delivery, affiliate=self.affiliate, delivery_id=delivery_id)
        try:
            delivery_retry(delivery)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "The postback will be sent again in a moment.")
        back = request.POST.get("next", "")
        # Back to the page the retry came from (the log with its filters): a path of this site,
        # nothing that could end the Location header or name something else than a path.
        is_path = back.startswith("/") and not has_control_characters(back)
        if not is_path or not url_has_allowed_host_and_scheme(
            back, {request.get_host()}, require_https=request.is_secure()
        ):
            back = reverse("postbacks:log")
        return redirect(back)


# --- The integration test wizard ------------------------------------------------------------


def _integration_test_run(form: IntegrationTestForm):
    if not form.is_valid():
        return None
    data = form.cleaned_data
    return integration_test_run(
        affiliate=form.affiliate,
        offer=data["offer"],
        postback=data["postback"],
        url=data["url"],
        subs=data["subs"],
    )


def _integration_test_initial(query) -> dict:
    """The wizard can be opened for an offer or a postback: `?offer=<offer id>&postback=<id>`."""
    return {name: query[name] for name in ("offer", "postback") if query.get(name)}


class IntegrationTestView(AffiliateRequiredMixin, TemplateView):
    """Integration test: a test click, a test conversion and the delivery to one postback, run on
    the server, each step's result on the page (postbacks.integration)."""

    template_name = "postbacks/integration_test.html"

    def get(self, request, *args, **kwargs):
        form = IntegrationTestForm(affiliate=self.affiliate, initial=_integration_test_initial(request.GET))
        return self.render_to_response(self.get_context_data(form=form, sub_names=SUB_FIELDS))

    def post(self, request, *args, **kwargs):
        form = IntegrationTestForm(request.POST, affiliate=self.affiliate)
        result = _integration_test_run(form)
        return self.render_to_response(self.get_context_data(form=form, result=result, sub_names=SUB_FIELDS))


def admin_integration_test(request):
    """The wizard for managers (`/admin/integration-test/`): the affiliate is picked first
    (`?affiliate=<pid>`), then it runs as that affiliate would run it."""
    picker = IntegrationTestAffiliateForm(request.GET or None)
    affiliate = picker.cleaned_data["affiliate"] if picker.is_valid() else None
    form = result = None
    if affiliate is not None and request.method == "POST":
        form = IntegrationTestForm(request.POST, affiliate=affiliate)
        result = _integration_test_run(form)
    elif affiliate is not None:
        form = IntegrationTestForm(affiliate=affiliate, initial=_integration_test_initial(request.GET))
    context = {
        **admin.site.each_context(request),
        "title": "Integration test",
        "picker": picker,
        "affiliate": affiliate,
        "form": form,
        "result": result,
        "sub_names": SUB_FIELDS,
        "action": f"{reverse('admin-integration-test')}?affiliate={affiliate.pid}" if affiliate else "",
    }
    return TemplateResponse(request, "admin/integration_test.html", context)


# --- The explain of a conversion -----------------------------------------------------------------


class ExplainView(AffiliateRequiredMixin, TemplateView):
    """Statistics > Explain (`?click_id=`, `?conversion_id=` or `?action_id=`): the whole chain
    of one of the affiliate's conversions, with why each postback fired or not
    (postbacks.chain). Another affiliate's id is not found, as an unknown one."""

    template_name = "postbacks/explain.html"

    def get(self, request, *args, **kwargs):
        query = {name: request.GET.get(name, "") for name in chain.LOOKUPS}
        context = {"nav_section": "statistics", "query": query}
        if not request.GET:  # the form alone
            return self.render_to_response(self.get_context_data(**context))
        try:
            lookup = chain.lookup_from(request.GET)
        except ValidationError as exc:
            context["error"] = " ".join(exc.messages)
            return self.render_to_response(self.get_context_data(**context), status=400)
        found = chain.conversion_chain(lookup, affiliate=self.affiliate)
        context |= {"lookup": lookup, "chain": found}
        return self.render_to_response(self.get_context_data(**context), status=200 if found else 404)
