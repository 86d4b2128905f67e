from django.urls import path

from .views import FeedView

urlpatterns = [path("events", FeedView.as_view(), name="events")]
