from rest_framework import viewsets

from api.base import ManagerViewSetMixin
from api.filters import FormFilterBackend, NetworkFilterForm
from config.ids import PUBLIC_ID
from tracking.models import Click
from tracking.selectors import clicks_filtered
from tracking.serializers import ManagerClickSerializer


class ManagerClickViewSet(ManagerViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Every affiliate's clicks, newest first, found by click id."""

    queryset = Click.objects.select_related("offer", "affiliate")
    serializer_class = ManagerClickSerializer
    lookup_field = "click_id"
    lookup_url_kwarg = "id"
    filter_backends = [FormFilterBackend]
    filter_form_class = NetworkFilterForm
    filter_selector = staticmethod(clicks_filtered)

    def get_queryset(self):
        queryset = super().get_queryset()
        click_id = self.kwargs.get(self.lookup_url_kwarg, "")
        if self.action == "retrieve" and PUBLIC_ID.match(click_id):
            return queryset.named([click_id])  # its time's partition only
        return queryset
