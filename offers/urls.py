from django.urls import path

from offers import views

app_name = "offers"
urlpatterns = [
    path("", views.OfferListView.as_view(), name="list"),
    path("<public_id:offer_id>/", views.OfferDetailView.as_view(), name="detail"),
    path("<public_id:offer_id>/tracking-link/", views.OfferTrackingLinkView.as_view(), name="tracking-link"),
    path("<public_id:offer_id>/request-access/", views.RequestAccessView.as_view(), name="request-access"),
]
