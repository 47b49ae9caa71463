from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, filters, generics, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.base import AffiliateViewSetMixin, ManagerViewSetMixin
from api.filters import FormFilterBackend
from api.permissions import IsAffiliate
from api.services import affiliate_create_with_api_key
from config.converters import PublicIdConverter
from offers.forms import OfferAccessFilterForm
from offers.models import Advertiser, Affiliate, Offer, OfferAccess
from offers.selectors import affiliate_of, offer_access_filtered, offers_visible_to
from offers.serializers import (
    AdvertiserSerializer,
    ManagerAffiliateSerializer,
    ManagerOfferAccessSerializer,
    ManagerOfferSerializer,
    MeSerializer,
    PartnerOfferSerializer,
    TrackingLinkQuerySerializer,
)
from offers.services import offer_access_request
from tracking.links import LINK_PARAMETERS, tracking_link


class MeView(generics.RetrieveUpdateAPIView):
    """The calling affiliate's profile and postback settings."""

    permission_classes = [IsAffiliate]
    serializer_class = MeSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return affiliate_of(self.request.user)


class PartnerOfferViewSet(AffiliateViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Active offers: public ones, and private ones with the affiliate's access state."""

    serializer_class = PartnerOfferSerializer
    queryset = Offer.objects.all()
    lookup_field = "offer_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = PublicIdConverter.regex
    filter_backends = [filters.SearchFilter]
    search_fields = ["title", "=offer_id"]

    def scoped_queryset(self, queryset):
        return offers_visible_to(self.affiliate)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "affiliate": self.affiliate}

    @extend_schema(request=None, responses=PartnerOfferSerializer)
    @action(detail=True, methods=["post"], url_path="request-access")
    def request_access(self, request, id=None):
        offer = self.get_object()
        offer_access_request(affiliate=self.affiliate, offer=offer)
        return Response(self.get_serializer(self.get_queryset().get(pk=offer.pk)).data)

    @extend_schema(
        parameters=[OpenApiParameter(name, str, description=f"value for {name}") for name in LINK_PARAMETERS],
        responses=inline_serializer("TrackingLink", {"tracking_link": serializers.CharField()}),
    )
    @action(detail=True, methods=["get"], url_path="tracking-link")
    def tracking_link(self, request, id=None):
        offer = self.get_object()
        if self.get_serializer(offer).data["tracking_link"] is None:
            raise exceptions.PermissionDenied("Request access to this private offer first.")
        query = TrackingLinkQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        link = tracking_link(offer_id=offer.offer_id, pid=self.affiliate.pid, params=query.validated_data)
        return Response({"tracking_link": link})


class ManagerAdvertiserViewSet(ManagerViewSetMixin, viewsets.ModelViewSet):
    queryset = Advertiser.objects.all()
    serializer_class = AdvertiserSerializer
    filter_backends = [filters.SearchFilter]
    search_fields = ["name"]


class ManagerOfferViewSet(ManagerViewSetMixin, viewsets.ModelViewSet):
    queryset = Offer.objects.select_related("advertiser").prefetch_related("goals__country_payouts")
    serializer_class = ManagerOfferSerializer
    lookup_field = "offer_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = PublicIdConverter.regex
    filter_backends = [filters.SearchFilter]
    search_fields = ["title", "=offer_id"]


class ManagerAffiliateViewSet(
    ManagerViewSetMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Affiliates are blocked, not deleted: their clicks and conversions stay attributed."""

    queryset = Affiliate.objects.select_related("user")
    serializer_class = ManagerAffiliateSerializer
    lookup_field = "pid"
    lookup_url_kwarg = "id"
    lookup_value_regex = PublicIdConverter.regex
    filter_backends = [filters.SearchFilter]
    search_fields = ["user__username", "user__email", "=pid"]

    def perform_create(self, serializer):
        fields = serializer.arguments(serializer.validated_data)
        affiliate, affiliate.issued_api_key = affiliate_create_with_api_key(**fields)
        serializer.instance = affiliate


class ManagerOfferAccessViewSet(ManagerViewSetMixin, viewsets.ModelViewSet):
    queryset = OfferAccess.objects.select_related("affiliate", "offer")
    serializer_class = ManagerOfferAccessSerializer
    filter_backends = [FormFilterBackend]
    filter_form_class = OfferAccessFilterForm
    filter_selector = staticmethod(offer_access_filtered)
