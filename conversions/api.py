from rest_framework import mixins, viewsets

from api.base import AffiliateViewSetMixin, ManagerViewSetMixin
from api.filters import FormFilterBackend, NetworkFilterForm
from conversions.forms import ConversionFilterForm, ManagerConversionFilterForm
from conversions.models import ServerPostback
from conversions.selectors import conversions_filtered, conversions_with_relations, server_postbacks_filtered
from conversions.serializers import (
    ConversionSerializer,
    ManagerConversionSerializer,
    ServerPostbackSerializer,
)


class PartnerConversionViewSet(AffiliateViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The affiliate's conversions, newest first, test conversions included (flagged `is_test`).

    `date_from` and `date_to` are whole days in UTC, both included.
    """

    queryset = conversions_with_relations()
    serializer_class = ConversionSerializer
    lookup_field = "conversion_id"
    lookup_url_kwarg = "id"
    filter_backends = [FormFilterBackend]
    filter_form_class = ConversionFilterForm
    filter_selector = staticmethod(conversions_filtered)


class ManagerConversionViewSet(
    ManagerViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Every affiliate's conversions. PATCH `{"status": 1|2|3|5}` changes the status and records it
    in the conversion's history, which sends the affiliate's postbacks."""

    queryset = conversions_with_relations()
    serializer_class = ManagerConversionSerializer
    lookup_field = "conversion_id"
    lookup_url_kwarg = "id"
    http_method_names = ["get", "patch", "head", "options"]
    filter_backends = [FormFilterBackend]
    filter_form_class = ManagerConversionFilterForm
    filter_selector = staticmethod(conversions_filtered)

    def partial_update(self, request, *args, **kwargs):
        # `status` is the only writable field, so a PATCH without it is an error, not a no-op.
        return self.update(request, *args, **kwargs)


class ManagerServerPostbackViewSet(ManagerViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The inbound postback log: every advertiser postback and pixel hit, accepted or not."""

    queryset = ServerPostback.objects.select_related("conversion", "offer")
    serializer_class = ServerPostbackSerializer
    filter_backends = [FormFilterBackend]
    filter_form_class = NetworkFilterForm
    filter_selector = staticmethod(server_postbacks_filtered)
