"""Mounted at the admin's root, before the admin's own URLs (devmanager/urls.py): the dashboard is its index."""

from django.contrib import admin
from django.urls import path

from .views import dashboard

app_name = "console"
urlpatterns = [path("", admin.site.admin_view(dashboard), name="dashboard")]
