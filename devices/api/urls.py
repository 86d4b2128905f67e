from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import DeviceViewSet, StatsView

router = SimpleRouter(trailing_slash=False)
router.register("devices", DeviceViewSet, basename="device")

urlpatterns = [
    path("stats", StatsView.as_view(), name="stats"),
    *router.urls,
]
