from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import DeliveryListView, WebhookViewSet

router = SimpleRouter(trailing_slash=False)
router.register("webhooks", WebhookViewSet, basename="webhook")

urlpatterns = [
    path("webhooks/<str:webhook_id>/deliveries", DeliveryListView.as_view(), name="webhook-deliveries"),
    *router.urls,
]
