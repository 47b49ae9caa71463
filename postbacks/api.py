from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.base import AffiliateViewSetMixin, ManagerViewSetMixin
from api.filters import FormFilterBackend
from postbacks.filters import DeliveryFilterForm, ManagerDeliveryFilterForm, PostbackFilterForm
from postbacks.selectors import (
    deliveries_filtered,
    deliveries_with_relations,
    postbacks_filtered,
    postbacks_with_relations,
)
from postbacks.serializers import DeliverySerializer, ManagerDeliverySerializer, PostbackSerializer
from postbacks.services import delivery_retry, postback_delete, postback_send_test


class PartnerPostbackViewSet(AffiliateViewSetMixin, viewsets.ModelViewSet):
    """The affiliate's postbacks: local ones (`offer` set) and global ones (`offer` null).

    Unsafe URLs (not http/https, credentials, hosts resolving to private or local addresses)
    are refused per field; unknown macros are accepted and named in `warnings`.
    """

    queryset = postbacks_with_relations().order_by("pk")
    serializer_class = PostbackSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filter_backends = [FormFilterBackend]
    filter_form_class = PostbackFilterForm
    filter_selector = staticmethod(postbacks_filtered)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "affiliate": self.affiliate}

    def perform_destroy(self, instance):
        postback_delete(instance)

    @extend_schema(request=None, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a test conversion with sample values to this postback now, and answer the
        delivery: the rendered URL, the HTTP code, the error and the response excerpt."""
        delivery = postback_send_test(self.get_object())
        return Response(DeliverySerializer(deliveries_with_relations().get(pk=delivery.pk)).data)


class PartnerDeliveryViewSet(AffiliateViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The affiliate's postback log, newest first, found by its X-Postback-Id.

    `date_from` and `date_to` are whole days in UTC, both included.
    """

    queryset = deliveries_with_relations()
    serializer_class = DeliverySerializer
    lookup_field = "delivery_id"
    lookup_url_kwarg = "id"
    filter_backends = [FormFilterBackend]
    filter_form_class = DeliveryFilterForm
    filter_selector = staticmethod(deliveries_filtered)

    @extend_schema(
        request=None, responses={200: DeliverySerializer, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT}
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, id=None):
        """Send the delivery again now, with the same X-Postback-Id. A delivery that succeeded is
        not sent again (409: your server has it already), nor one being sent at this moment
        (409); one whose postback was deleted cannot be (400)."""
        delivery = delivery_retry(self.get_object())
        return Response(self.get_serializer(delivery).data)


class ManagerDeliveryViewSet(ManagerViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Every affiliate's postback deliveries, newest first."""

    queryset = deliveries_with_relations()
    serializer_class = ManagerDeliverySerializer
    lookup_field = "delivery_id"
    lookup_url_kwarg = "id"
    filter_backends = [FormFilterBackend]
    filter_form_class = ManagerDeliveryFilterForm
    filter_selector = staticmethod(deliveries_filtered)
