from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api.views import not_found
from conversions import api as conversions_api
from offers import api as offers_api
from postbacks import api as postbacks_api
from stats import api as stats_api
from tracking import api as tracking_api

partner = DefaultRouter(trailing_slash=True)
partner.include_root_view = False
partner.register("offers", offers_api.PartnerOfferViewSet, basename="offer")
partner.register("conversions", conversions_api.PartnerConversionViewSet, basename="conversion")
# Before "postbacks", whose `postbacks/<id>/` would otherwise take `postbacks/templates/`.
partner.register(
    "postbacks/templates", postbacks_api.PartnerTrackerTemplateViewSet, basename="postback-template"
)
partner.register("postbacks", postbacks_api.PartnerPostbackViewSet, basename="postback")
partner.register("postback-deliveries", postbacks_api.PartnerDeliveryViewSet, basename="postback-delivery")

manage = DefaultRouter(trailing_slash=True)
manage.include_root_view = False
manage.register("advertisers", offers_api.ManagerAdvertiserViewSet, basename="manage-advertiser")
manage.register("offers", offers_api.ManagerOfferViewSet, basename="manage-offer")
manage.register("affiliates", offers_api.ManagerAffiliateViewSet, basename="manage-affiliate")
manage.register("offer-access", offers_api.ManagerOfferAccessViewSet, basename="manage-offer-access")
manage.register("clicks", tracking_api.ManagerClickViewSet, basename="manage-click")
manage.register("conversions", conversions_api.ManagerConversionViewSet, basename="manage-conversion")
manage.register(
    "server-postbacks", conversions_api.ManagerServerPostbackViewSet, basename="manage-server-postback"
)
manage.register(
    "postback-deliveries", postbacks_api.ManagerDeliveryViewSet, basename="manage-postback-delivery"
)

app_name = "api"
urlpatterns = [
    path(
        "schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="api:schema", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
    path("me/", offers_api.MeView.as_view(), name="me"),
    path("stats/", stats_api.PartnerStatsView.as_view(), name="stats"),
    path("manage/stats/", stats_api.ManagerStatsView.as_view(), name="manage-stats"),
    path("explain/", postbacks_api.PartnerExplainView.as_view(), name="explain"),
    path("manage/explain/", postbacks_api.ManagerExplainView.as_view(), name="manage-explain"),
    path("manage/", include(manage.urls)),
    path("", include(partner.urls)),
    # Only paths ending in a slash, so that CommonMiddleware still redirects `/api/v1/me` to `/api/v1/me/`.
    re_path(r"^[\s\S]*/$", not_found),
]
