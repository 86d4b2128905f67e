"""Webhook subscriptions in the admin: their status and last deliveries; made, changed, rotated and deleted
through the same services as the API (webhooks/services.py)."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from devmanager.api.exceptions import flatten_errors
from devmanager.errors import Invalid

from . import services
from .models import Subscription

LAST_DELIVERIES = 20
DELIVERY_COLUMNS = ("time", "event", "attempt", "outcome", "status", "took", "error")


class SubscriptionForm(forms.ModelForm):
    """Types as a comma-separated list; every field checked by the services' own checks."""

    event_types_text = forms.CharField(
        label="Event types", required=False, help_text="Comma-separated, a trailing * as wildcard; empty: every type."
    )

    class Meta:
        model = Subscription
        fields = ["url", "description", "q", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.fields["event_types_text"].initial = ", ".join(self.instance.event_types)

    def clean(self):
        cleaned = super().clean()
        types = [name.strip() for name in cleaned.get("event_types_text", "").split(",") if name.strip()]
        try:
            checked = services.checked_fields(url=cleaned.get("url", ""), event_types=types, q=cleaned.get("q", ""))
        except Invalid as exc:
            for error in flatten_errors(exc.fields):
                field = "event_types_text" if error["name"] == "event_types" else error["name"]
                self.add_error(field if field in self.fields else None, error["message"])
            return cleaned
        cleaned.update(checked)
        return cleaned


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["url", "status_shown", "active", "position", "last_success_at", "last_failure_at", "failed_count"]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "status_shown", "position", "created_at", "updated_at", "last_success_at", "last_failure_at",
        "next_attempt_at", "delivered_count", "failed_count", "last_deliveries",
    ]  # fmt: skip
    actions = ["rotate_secret", "enable"]

    @admin.display(description="status")
    def status_shown(self, subscription):
        return subscription.status

    @admin.display(description=f"Last {LAST_DELIVERIES} deliveries")
    def last_deliveries(self, subscription):
        rows = subscription.deliveries.order_by("-id")[:LAST_DELIVERIES]
        body = format_html_join(
            "",
            "<tr>" + "<td>{}</td>" * len(DELIVERY_COLUMNS) + "</tr>",
            (_delivery_cells(delivery) for delivery in rows),
        )
        header = format_html_join("", "<th>{}</th>", ((name,) for name in DELIVERY_COLUMNS))
        return format_html("<table><tr>{}</tr>{}</table>", header, body)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {name: data[name] for name in ("url", "description", "event_types", "q", "active")}
        if change:
            subscription = services.subscription_update(subscription_id=obj.pk, **fields)
        else:
            subscription = services.subscription_create(**fields)
            self._show_secret(request, subscription)
        obj.pk = subscription.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.subscription_delete(subscription_id=obj.pk)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletion goes through the service, one at a time
        return actions

    @admin.action(description="Rotate the secret (the old one signs too for 24 hours)")
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            self._show_secret(request, services.subscription_rotate_secret(subscription_id=subscription.pk))

    @admin.action(description="Enable (resume after the last event handed out)")
    def enable(self, request, queryset):
        for subscription in queryset:
            services.subscription_update(subscription_id=subscription.pk, active=True)
        self.message_user(request, f"Enabled {queryset.count()} webhook(s).")

    def _show_secret(self, request, subscription):
        self.message_user(
            request,
            f"The secret of {subscription.url} (shown only now): {subscription.secret}",
            level=messages.WARNING,
        )


def _delivery_cells(delivery) -> tuple:
    status_code = delivery.status_code or "no answer"
    return (delivery.timestamp, delivery.event_id, delivery.attempt, delivery.outcome, status_code,
            f"{delivery.duration_ms} ms", delivery.error)  # fmt: skip
