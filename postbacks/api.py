from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import AffiliateViewSetMixin, ManagerViewSetMixin
from api.errors import cleaned_data
from api.filters import FormFilterBackend
from api.permissions import IsAffiliate, IsManager
from offers.selectors import affiliate_of
from postbacks import backfill, chain, trackers
from postbacks.filters import (
    BackfillPeriodForm,
    DeliveryFilterForm,
    FailedDeliveryFilterForm,
    ManagerDeliveryFilterForm,
    ManagerFailedDeliveryFilterForm,
    PostbackFilterForm,
)
from postbacks.selectors import (
    deliveries_filtered,
    deliveries_replayable,
    deliveries_with_relations,
    postbacks_filtered,
    postbacks_with_relations,
)
from postbacks.serializers import (
    BackfillSerializer,
    DeliverySerializer,
    FilledTemplateSerializer,
    ManagerDeliverySerializer,
    PostbackSerializer,
    ReplaySerializer,
    TrackerTemplateSerializer,
    chain_data,
)
from postbacks.services import (
    deliveries_replay_failed,
    delivery_retry,
    postback_backfill,
    postback_delete,
    postback_send_test,
)

PERIOD_PARAMETERS = [
    OpenApiParameter(name, OpenApiTypes.DATE, required=True, description=description)
    for name, description in (("date_from", "First day (UTC)"), ("date_to", "Last day (UTC), included"))
]
REPLAY_PARAMETERS = [
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="First day the deliveries were made (UTC)"),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Last day (UTC), included"),
    OpenApiParameter("offer", OpenApiTypes.INT, description="Offer ID"),
    OpenApiParameter(
        "http_code", OpenApiTypes.INT, description="HTTP code of the last attempt; 0: no answer"
    ),
]


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

    @extend_schema(
        methods=["GET"],
        parameters=PERIOD_PARAMETERS,
        responses={200: BackfillSerializer, 400: OpenApiTypes.OBJECT},
    )
    @extend_schema(
        methods=["POST"],
        request=None,
        parameters=PERIOD_PARAMETERS,
        responses={202: BackfillSerializer, 400: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get", "post"])
    def backfill(self, request, pk=None):
        """Send this postback for the past conversions it matches, over `date_from`..`date_to`
        (whole UTC days, at most 30). GET previews the number of postbacks; POST queues them
        (202) and answers the same number. Conversions that already have a delivery of this
        postback are skipped, so a second POST of the same period queues nothing. Backfill
        deliveries are sent after live ones and marked `is_backfill` in the log. A period that
        would send more than 100,000 is refused with a 400, by GET as by POST."""
        postback = self.get_object()
        period = BackfillPeriodForm(_parameters(request))
        cleaned_data(period)
        if request.method == "GET":
            count = backfill.backfill_count(postback, period.period)
            if problem := backfill.count_problem(count):
                # Refused as the POST would be: the count past the limit is no figure to show.
                raise DjangoValidationError(problem)
            return Response(_backfill_answer(period.period, count, queued=False))
        count = postback_backfill(postback=postback, period=period.period)
        return Response(
            _backfill_answer(period.period, count, queued=count > 0), status=status.HTTP_202_ACCEPTED
        )


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

    @extend_schema(
        methods=["GET"],
        parameters=REPLAY_PARAMETERS,
        responses={200: ReplaySerializer, 400: OpenApiTypes.OBJECT},
    )
    @extend_schema(
        methods=["POST"],
        request=None,
        parameters=REPLAY_PARAMETERS,
        responses={200: ReplaySerializer, 400: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get", "post"])
    def replay(self, request):
        """Failed deliveries sent again in bulk, by `offer`, period (`date_from`, `date_to`: when
        the deliveries were made) and `http_code` (0: no answer), each with its same
        X-Postback-Id. GET counts them; POST sends them again, at most 10,000 at once (more are
        refused with a 400, nothing sent). Filters in the query string, or in the body on POST."""
        return _replay(self, request, FailedDeliveryFilterForm)


class ManagerDeliveryViewSet(ManagerViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Every affiliate's postback deliveries, newest first."""

    queryset = deliveries_with_relations()
    serializer_class = ManagerDeliverySerializer
    lookup_field = "delivery_id"
    lookup_url_kwarg = "id"
    filter_backends = [FormFilterBackend]
    filter_form_class = ManagerDeliveryFilterForm
    filter_selector = staticmethod(deliveries_filtered)

    @extend_schema(
        methods=["GET"],
        parameters=[*REPLAY_PARAMETERS, OpenApiParameter("affiliate", OpenApiTypes.INT, description="pid")],
        responses={200: ReplaySerializer, 400: OpenApiTypes.OBJECT},
    )
    @extend_schema(
        methods=["POST"],
        request=None,
        parameters=[*REPLAY_PARAMETERS, OpenApiParameter("affiliate", OpenApiTypes.INT, description="pid")],
        responses={200: ReplaySerializer, 400: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get", "post"])
    def replay(self, request):
        """Any affiliate's failed deliveries sent again in bulk, as the partner endpoint does,
        also by `affiliate` (pid)."""
        return _replay(self, request, ManagerFailedDeliveryFilterForm)


def _parameters(request) -> Mapping:
    """The query string on GET; on POST the body, or the query string when the body is empty.
    A body that is no object of fields (a JSON list, a number) is refused."""
    if request.method == "GET" or not request.data:
        return request.query_params
    if not isinstance(request.data, Mapping):
        raise ValidationError(
            {"non_field_errors": ['Send the fields as an object, e.g. {"date_from": "2026-01-01"}.']}
        )
    # The forms read text, as from a query string: a number is read as its digits, null as not
    # given; a list or an object is no single value and is refused here.
    not_single = sorted(name for name, value in request.data.items() if isinstance(value, list | dict))
    if not_single:
        message = "Send a single value, not a list or an object."
        raise ValidationError({name: [message] for name in not_single})
    return {name: "" if value is None else str(value) for name, value in request.data.items()}


def _backfill_answer(period, count: int, *, queued: bool) -> dict:
    return {"date_from": period.date_from, "date_to": period.date_to, "deliveries": count, "queued": queued}


def _replay(view, request, form_class):
    """Bulk replay for a delivery viewset: count on GET, send on POST, within the view's scope."""
    matching = deliveries_filtered(view.get_queryset(), cleaned_data(form_class(_parameters(request))))
    if request.method == "GET":
        return Response({"deliveries": deliveries_replayable(matching).count(), "sent": False})
    return Response({"deliveries": deliveries_replay_failed(matching), "sent": True})


class PartnerTrackerTemplateViewSet(viewsets.GenericViewSet):
    """Tracker templates: the postback URL Keitaro, Binom, Voluum, RedTrack, BeMob, PeerClick,
    ClickMagick, Everflow and TUNE document for receiving conversions, with what to fill in.
    `fill/` fills one in; save the answer as a postback (`POST /api/v1/postbacks/`)."""

    permission_classes = [IsAffiliate]
    serializer_class = TrackerTemplateSerializer
    lookup_field = "key"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return trackers.TEMPLATES

    def list(self, request):
        page = self.paginate_queryset(trackers.TEMPLATES)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, key=None):
        return Response(self.get_serializer(self._template(key)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "click_id_sub", str, description="The sub carrying your tracker's click id (sub1 by default)."
            ),
            OpenApiParameter(
                "status", str, description="The postback's status filter (default: the template's)."
            ),
            *(OpenApiParameter(name, str, description=blank.help) for name, blank in trackers.BLANKS.items()),
        ],
        responses={200: FilledTemplateSerializer, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def fill(self, request, key=None):
        """The template filled in with the query's values: the URL and status filter of the
        postback to save. A blank missing or malformed is a 400 naming it."""
        template = self._template(key)
        query = request.query_params
        try:
            filled = trackers.fill(
                template,
                click_id_sub=query.get("click_id_sub", "sub1"),
                blanks={name: query.get(name, "") for name in trackers.BLANKS},
                status=query.get("status", ""),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return Response(FilledTemplateSerializer(filled).data)

    def _template(self, key) -> trackers.TrackerTemplate:
        if key not in trackers.BY_KEY:
            raise NotFound(
                f"There is no template for {key[:64]!r}: the templates are {', '.join(trackers.BY_KEY)}."
            )
        return trackers.BY_KEY[key]


# --- The explain of a conversion ------------------------------------------------------------------

EXPLAIN_PARAMETERS = [
    OpenApiParameter("click_id", str, description="A click id (24 hex characters)"),
    OpenApiParameter("conversion_id", str, description="A conversion id (24 hex characters)"),
    OpenApiParameter("action_id", str, description="The advertiser's id of the conversion"),
]


def _explained_chain(query_params, *, affiliate=None) -> dict:
    """The chain one of the parameters names (exactly one: a 400 otherwise), or a 404."""
    try:
        lookup = chain.lookup_from(query_params)
    except DjangoValidationError as exc:
        raise ValidationError({"non_field_errors": exc.messages}) from exc
    found = chain.conversion_chain(lookup, affiliate=affiliate)
    if found is None:
        raise NotFound(f"No click or conversion {'of yours ' if affiliate else ''}has this {lookup.name}.")
    return chain_data(found)


# Unknown ids, and another affiliate's, are not found.
EXPLAIN_RESPONSES = {200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT}


class PartnerExplainView(APIView):
    """The whole chain of one of the affiliate's conversions, in time order: the click, the
    advertiser postbacks that named it, each conversion event, every postback of the affiliate
    with whether it fired and why (`reasons`), and the deliveries with their attempts. Exactly
    one of `click_id`, `conversion_id` and `action_id`. Another affiliate's id is not found."""

    permission_classes = [IsAffiliate]

    @extend_schema(parameters=EXPLAIN_PARAMETERS, responses=EXPLAIN_RESPONSES)
    def get(self, request):
        return Response(_explained_chain(request.query_params, affiliate=affiliate_of(request.user)))


class ManagerExplainView(APIView):
    """The explain of any affiliate's conversion, with the advertiser's side: revenue, the order
    sum and the address each advertiser postback came from."""

    permission_classes = [IsManager]

    @extend_schema(parameters=EXPLAIN_PARAMETERS, responses=EXPLAIN_RESPONSES)
    def get(self, request):
        return Response(_explained_chain(request.query_params))
