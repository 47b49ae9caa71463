from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path, register_converter
from django.utils.functional import lazy
from django.views.generic import RedirectView

from config.converters import PublicIdConverter, RowIdConverter
from config.health import healthz
from conversions.endpoints import iframe_pixel, pixel, postback, script_pixel
from ops.endpoints import metrics
from portal.views import PasswordResetConfirmView, PasswordResetView
from postbacks.views import admin_integration_test
from tracking.endpoints import click

register_converter(PublicIdConverter, "public_id")
register_converter(RowIdConverter, "row_id")

# Under /api/ a request refused before any view answers JSON too.
handler400 = "api.views.bad_request"

admin.site.site_header = "Network administration"
admin.site.site_title = "Network admin"

accounts = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Operators' Prometheus scrapes; anyone else gets a 404 (config.metrics.scrape_allowed).
    path("metrics", metrics, name="metrics"),
    # Every page names its icon; browsers still ask here for answers that cannot (JSON, images).
    # The static address is looked up per request: it carries a hash of the file in production.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg")), name="favicon"),
    # Answered by config.middleware.TrackingFastPathMiddleware; listed here for reverse().
    path("click", click, name="click"),
    path("postback", postback, name="postback"),
    path("postback/", postback, name="postback-slash"),
    path("pixel", pixel, name="pixel"),
    path("success.jpg", pixel, name="pixel-image"),
    path("success.php", iframe_pixel, name="pixel-iframe"),
    path("track.js", script_pixel, name="pixel-script"),
    # Staff only, like every admin page: the manager console, then the integration test.
    path("admin/", include("manager.urls")),
    path(
        "admin/integration-test/",
        admin.site.admin_view(admin_integration_test),
        name="admin-integration-test",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("api/v1/", include("api.urls")),
    path("offers/", include("offers.urls")),
    # The statistics report answers /statistics/ itself; the section's other pages follow.
    path("statistics/", include("stats.urls")),
    path("statistics/", include("conversions.urls")),
    # Pages under the offers, settings and statistics sections (see postbacks/urls.py).
    path("", include("postbacks.urls")),
    path("", include("alerts.urls")),
    path("", include("portal.urls")),
]
