"""The device list's identity expiry filter, which the dashboard's expiry counts link to."""

from datetime import datetime

from django.contrib import admin
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from devices.admin import register_device_list_filter
from devices.filters import DEVICE_FILTER_FIELDS, identity_expiring_filters
from devmanager.api.filtering import compile_filters

EXPIRY_WINDOWS = (7, 30, 90)  # days


class IdentityExpiryListFilter(admin.SimpleListFilter):
    """Devices whose identity expires within 7, 30 or 90 days (`expires_within`), from now or from the instant in
    `expires_from`: a dashboard's link carries the instant it counted from, so the list shows the devices it
    counted, however long after the link is followed."""

    title = "identity expires within"
    parameter_name = "expires_within"
    since_parameter = "expires_from"

    def __init__(self, request, params, model, model_admin):
        since = params.pop(self.since_parameter, None)
        self.since_text = since[-1] if isinstance(since, list) else since
        super().__init__(request, params, model, model_admin)
        if self.since_text is not None:
            self.used_parameters[self.since_parameter] = self.since_text

    def expected_parameters(self):
        return [self.parameter_name, self.since_parameter]

    def lookups(self, request, model_admin):
        return [(str(days), f"{days} days") for days in EXPIRY_WINDOWS]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        filters = self.filters()
        return queryset.none() if filters is None else queryset.filter(compile_filters(filters, DEVICE_FILTER_FIELDS))

    def selection(self) -> tuple[list[str], list[str]] | None:
        """The window in the filter language, for a fleet action over the whole list (fleet/admin.py)."""
        filters = self.filters()
        return None if filters is None else (filters, [])

    def filters(self) -> list[str] | None:
        """The chosen window in the filter language (`identity_expiring_filters`); None for an unknown choice, a
        malformed instant, or a window beyond the calendar."""
        since = self.since()
        if since is None or self.value() not in {str(days) for days in EXPIRY_WINDOWS}:
            return None
        try:
            return identity_expiring_filters(since, int(self.value()))
        except OverflowError:
            return None

    def since(self) -> datetime | None:
        if self.since_text is None:
            return timezone.now()
        try:
            since = parse_datetime(self.since_text)
        except ValueError:  # well-formed but no instant (a 13th month)
            return None
        return since if since is None or timezone.is_aware(since) else timezone.make_aware(since)

    def choices(self, changelist):
        # A choice drops the instant: from the list itself, the windows start now.
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=self.expected_parameters()),
            "display": "All",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}, [self.since_parameter]),
                "display": title,
            }


register_device_list_filter(IdentityExpiryListFilter)
