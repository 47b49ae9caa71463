"""Portal pages for postbacks. They sit in three sections of the portal, so this module is
included once at the root and spells out each address: an offer's "Your Postbacks" tab, Settings >
Postback information (global postbacks), Statistics > Affiliate postbacks (the log) and the
integration test wizard."""

from django.urls import path

from postbacks import views

app_name = "postbacks"

local = "offers/<public_id:offer_id>/postbacks/"
global_ = "settings/postbacks/"

urlpatterns = [
    path(local, views.PostbackListView.as_view(), name="offer-list"),
    path(f"{local}add/", views.PostbackCreateView.as_view(), name="offer-add"),
    path(f"{local}<row_id:pk>/", views.PostbackUpdateView.as_view(), name="offer-edit"),
    path(f"{local}<row_id:pk>/delete/", views.PostbackDeleteView.as_view(), name="offer-delete"),
    path(f"{local}<row_id:pk>/test/", views.PostbackTestView.as_view(), name="offer-test"),
    path(f"{local}<row_id:pk>/backfill/", views.PostbackBackfillView.as_view(), name="offer-backfill"),
    path(global_, views.PostbackSettingsView.as_view(), name="settings"),
    path(f"{global_}signing-secret/", views.SigningSecretView.as_view(), name="signing-secret"),
    path(
        f"{global_}signing-secret/clear/", views.SigningSecretClearView.as_view(), name="signing-secret-clear"
    ),
    path(f"{global_}add/", views.PostbackCreateView.as_view(), name="global-add"),
    path(f"{global_}<row_id:pk>/", views.PostbackUpdateView.as_view(), name="global-edit"),
    path(f"{global_}<row_id:pk>/delete/", views.PostbackDeleteView.as_view(), name="global-delete"),
    path(f"{global_}<row_id:pk>/test/", views.PostbackTestView.as_view(), name="global-test"),
    path(f"{global_}<row_id:pk>/backfill/", views.PostbackBackfillView.as_view(), name="global-backfill"),
    path("integration-test/", views.IntegrationTestView.as_view(), name="integration-test"),
    path("statistics/postbacks/", views.DeliveryLogView.as_view(), name="log"),
    path("statistics/explain/", views.ExplainView.as_view(), name="explain"),
    path("statistics/postbacks/replay/", views.DeliveryReplayView.as_view(), name="replay"),
    path("statistics/postbacks/<uuid:delivery_id>/retry/", views.DeliveryRetryView.as_view(), name="retry"),
]
