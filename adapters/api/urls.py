from django.urls import path

from .views import NetworkAdapterDetailView, NetworkAdapterListView

urlpatterns = [
    path("devices/<str:device_id>/network-adapters", NetworkAdapterListView.as_view(), name="network-adapters"),
    path(
        "devices/<str:device_id>/network-adapters/<str:adapter_id>",
        NetworkAdapterDetailView.as_view(),
        name="network-adapter",
    ),
]
