from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import DeviceGroupDeviceListView, DeviceGroupViewSet, DeviceMembershipDetailView, DeviceMembershipListView

router = SimpleRouter(trailing_slash=False)
router.register("device-groups", DeviceGroupViewSet, basename="device-group")

urlpatterns = [
    path("device-groups/<str:group_id>/devices", DeviceGroupDeviceListView.as_view(), name="device-group-devices"),
    path("devices/<str:device_id>/device-groups", DeviceMembershipListView.as_view(), name="device-memberships"),
    path(
        "devices/<str:device_id>/device-groups/<str:group_id>",
        DeviceMembershipDetailView.as_view(),
        name="device-membership",
    ),
    *router.urls,
]
