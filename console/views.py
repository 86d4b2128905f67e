from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from .figures import fleet_dashboard


def dashboard(request):
    """The admin's index: the fleet dashboard above the admin's list of apps. Only for those who may see devices
    (its numbers count them); others see the list of apps alone."""
    context = {
        **admin.site.each_context(request),
        "title": admin.site.index_title,  # the index's own title: "Site administration"
        "subtitle": None,
        "app_list": admin.site.get_app_list(request),
        "dashboard": fleet_dashboard(timezone.now()) if request.user.has_perm("devices.view_device") else None,
    }
    request.current_app = admin.site.name
    return TemplateResponse(request, "console/dashboard.html", context)
