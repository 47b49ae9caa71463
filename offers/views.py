"""Portal pages for offers: the list an affiliate browses and the offer page with its goals."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView, ListView

from offers.access import may_run_visible_offer
from offers.forms import OfferSearchForm
from offers.selectors import offers_visible_to
from offers.services import offer_access_request
from portal.access import AffiliateRequiredMixin
from tracking.links import LINK_PARAMETERS, tracking_link
from tracking.models import MORE_SUB_FIELDS
from tracking.params import public_id


class VisibleOffersMixin(AffiliateRequiredMixin):
    def get_queryset(self):
        return offers_visible_to(self.affiliate)


class OfferListView(VisibleOffersMixin, ListView):
    template_name = "offers/offer_list.html"
    context_object_name = "offers"
    paginate_by = 25

    def get_queryset(self):
        offers = super().get_queryset()
        self.search = OfferSearchForm(self.request.GET)
        if not self.search.is_valid():
            return offers.none()
        query = self.search.cleaned_data["q"]
        if query:
            offer_id = public_id(query)
            by_id = Q(offer_id=offer_id) if offer_id is not None else Q()
            offers = offers.filter(Q(title__icontains=query) | by_id)
        return offers

    def get_context_data(self, **kwargs):
        query = self.search.cleaned_data["q"] if self.search.is_valid() else ""
        return super().get_context_data(search=self.search, query=query, **kwargs)


class OfferDetailView(VisibleOffersMixin, DetailView):
    template_name = "offers/offer_detail.html"
    context_object_name = "offer"
    slug_field = "offer_id"
    slug_url_kwarg = "offer_id"

    def get_context_data(self, **kwargs):
        offer = self.object
        may_run = may_run_visible_offer(offer)
        link = tracking_link(offer_id=offer.offer_id, pid=self.affiliate.pid) if may_run else None
        return super().get_context_data(may_run=may_run, tracking_link=link, **kwargs)


class OfferTrackingLinkView(OfferDetailView):
    """The link builder: one field per parameter, the link rebuilt as the affiliate types
    (static/js/link-builder.js), or on submit without JavaScript."""

    template_name = "offers/tracking_link.html"

    def get_context_data(self, **kwargs):
        values = {name: self.request.GET.get(name, "")[:512] for name in LINK_PARAMETERS}
        context = super().get_context_data(**kwargs)
        if context["may_run"]:
            context["base_link"] = context["tracking_link"]
            context["tracking_link"] = tracking_link(
                offer_id=self.object.offer_id, pid=self.affiliate.pid, params=values
            )
        fields = [(name, values[name], PARAMETER_HELP[name]) for name in LINK_PARAMETERS]
        # sub9..sub30 go behind "More parameters", open when one of them has a value.
        main = [field for field in fields if field[0] not in MORE_SUB_FIELDS]
        more = [field for field in fields if field[0] in MORE_SUB_FIELDS]
        more_open = any(value for _, value, _ in more)
        return {**context, "fields": main, "more_fields": more, "more_open": more_open}


PARAMETER_HELP = {
    **{f"sub{n}": f"Your value {n}, returned in postbacks as {{sub{n}}}" for n in range(1, 31)},
    "sub1": "Your click id, e.g. your tracker's {clickid} macro; returned in postbacks as {sub1}",
    "sub2": "Source, campaign or placement; returned as {sub2}",
    "ref_id": "A reference of yours (e.g. a publisher or creative id); returned as {ref_id}",
}


class RequestAccessView(VisibleOffersMixin, View):
    http_method_names = ["post"]

    def post(self, request, offer_id):
        offer = get_object_or_404(self.get_queryset(), offer_id=offer_id)
        try:
            offer_access_request(affiliate=self.affiliate, offer=offer)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Access requested. Your manager will review it.")
        return redirect("offers:detail", offer_id=offer.offer_id)
