from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import DeviceEventListView, DeviceViewSet, StatsView

router = SimpleRouter(trailing_slash=False)
router.register("devices", DeviceViewSet, basename="device")

urlpatterns = [
    path("stats", StatsView.as_view(), name="stats"),
    path("devices/<str:device_id>/events", DeviceEventListView.as_view(), name="device-events"),
    *router.urls,
]
