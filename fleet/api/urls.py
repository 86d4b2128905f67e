from rest_framework.routers import SimpleRouter

from .views import DeviceActionViewSet

router = SimpleRouter(trailing_slash=False)
router.register("device-actions", DeviceActionViewSet, basename="device-action")

urlpatterns = router.urls
