import json
from functools import partial
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection, models
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from rest_framework import serializers

from devmanager.api.exceptions import flatten_errors
from devmanager.api.filtering.expression import ATOM_START, ExpressionError, compile_expression, quoted_value
from devmanager.errors import DomainError, PreconditionFailed
from devmanager.forms import ExactTextModelForm
from devmanager.strictjson import load_json

from . import services
from .aggregation import MAX_LIMIT, count_by
from .api.serializers import DeviceCreateSerializer, DeviceUpdateSerializer
from .choices import DeviceStatus
from .filters import DEVICE_FILTER_FIELDS
from .models import Device, DeviceEvent
from .validators import validate_metadata


def add_body_errors(form: forms.Form, errors, fields: dict[str, str]) -> None:
    """A body serializer's errors on the form: each on the form field of its body field (`fields` names those the
    form calls otherwise), the rest above the form; each message names the body field as the API would."""
    for error in flatten_errors(errors):
        name = error["name"].split("[")[0]
        field = fields.get(name, name)
        form.add_error(field if field in form.fields else None, f"{error['name']}: {error['message']}")


class DeviceCreationForm(ExactTextModelForm):
    """Creating a device in the admin validates exactly as `POST /devices` does."""

    tags_text = forms.CharField(label="Tags", required=False, help_text="Comma-separated, in order.")
    metadata_text = forms.CharField(
        label="Metadata", required=False, widget=forms.Textarea(attrs={"rows": 8}), help_text="A JSON object."
    )

    class Meta:
        model = Device
        fields = ["id", "alias", "dms_owner", "icon", "icon_color"]

    def clean(self):
        cleaned = super().clean()
        body = {name: cleaned.get(name) or None for name in ("alias", "dms_owner", "icon", "icon_color")}
        body["id"] = cleaned.get("id") or self.data.get("id", "")
        tags = [tag.strip() for tag in (cleaned.get("tags_text") or "").split(",") if tag.strip()]
        body["tags"] = tags
        metadata_text = (cleaned.get("metadata_text") or "").strip()
        if metadata_text:
            try:
                body["metadata"] = load_json(metadata_text)
            except ValueError as exc:
                self.add_error("metadata_text", f"Invalid JSON: {exc}")
                return cleaned
        serializer = DeviceCreateSerializer(data=body)
        if body["id"] and Device.objects.filter(pk=body["id"]).exists():
            self.add_error("id", "A device with this id already exists.")
        elif not serializer.is_valid():
            add_body_errors(self, serializer.errors, {"tags": "tags_text", "metadata": "metadata_text"})
        else:
            self.validated_body = serializer.validated_data
        return cleaned

    def validate_unique(self):
        pass  # a duplicate id is reported by the service, as in the API


class DeviceChangeForm(ExactTextModelForm):
    """An existing device's editable fields, validated as `PUT /devices/{id}` validates them, and its metadata,
    edited as JSON with the API's validation."""

    alias = forms.CharField(required=False)
    tags_text = forms.CharField(label="Tags", required=False, help_text="Comma-separated, in order.")
    dms_owner = forms.CharField(label="DMS owner", required=False)
    icon = forms.CharField(required=False)
    icon_color = forms.CharField(required=False, help_text="#RGB, #RRGGBB or #RRGGBB-#RRGGBB.")
    metadata_json = forms.CharField(
        label="Metadata", widget=forms.Textarea(attrs={"rows": 16, "cols": 100}), help_text="A JSON object."
    )

    class Meta:
        model = Device
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        device = self.instance
        for name in ("alias", "dms_owner", "icon", "icon_color"):
            self.fields[name].initial = getattr(device, name)
        self.fields["tags_text"].initial = ", ".join(device.tags)
        self.fields["metadata_json"].initial = json.dumps(device.metadata, indent=2, ensure_ascii=False)

    def clean_metadata_json(self):
        try:
            metadata = load_json(self.cleaned_data["metadata_json"])
        except ValueError as exc:
            raise forms.ValidationError(f"Invalid JSON: {exc}") from exc
        try:
            return validate_metadata(metadata)
        except serializers.ValidationError as exc:
            raise forms.ValidationError(list(exc.detail)) from exc

    def clean(self):
        cleaned = super().clean()
        body = {name: cleaned.get(name, "") for name in ("alias", "icon", "icon_color")}
        body["dms_id"] = cleaned.get("dms_owner", "")
        body["tags"] = [tag.strip() for tag in (cleaned.get("tags_text") or "").split(",") if tag.strip()]
        serializer = DeviceUpdateSerializer(data=body)
        if serializer.is_valid():
            self.validated_fields = serializer.validated_data
            return cleaned
        add_body_errors(self, serializer.errors, {"tags": "tags_text", "dms_id": "dms_owner"})
        return cleaned


class CountedListFilter(admin.SimpleListFilter):
    """A filter of the device list whose choices show, when the list shows counts (Django's "Show counts"), how many
    devices each would list: one aggregation of `count_by` by its `group_by` key over the list as the other filters,
    the search and the expression narrow it; not one count per choice as Django's facets run. Without `group_by`,
    no counts (a group's members are not one key of the device)."""

    group_by: str | None = None

    def choices(self, changelist):
        counts = self._counts(changelist) if changelist.add_facets and self.group_by else None
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title if counts is None else f"{title} ({counts.get(lookup, 0):,})",
            }

    def selection(self) -> tuple[list[str], list[str]] | None:
        """What the chosen value keeps, in the filter language: (filters, expressions), all of which must hold; None
        when it cannot be written so (a fleet action over the whole list then refuses)."""
        return None

    def _counts(self, changelist) -> dict:
        devices = changelist.get_queryset(self.request, exclude_parameters=self.expected_parameters())
        buckets = count_by(devices, self.group_by, MAX_LIMIT)["buckets"]
        return {"" if bucket["key"] is None else bucket["key"]: bucket["count"] for bucket in buckets}


class StatusListFilter(CountedListFilter):
    title = "status"
    parameter_name = "status__exact"  # the parameter of Django's own filter on the field, which this one replaces
    group_by = "status"

    def lookups(self, request, model_admin):
        return DeviceStatus.choices

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(status=self.value())

    def selection(self):
        return [f"status[eq]:{self.value()}"], []


class DmsOwnerListFilter(CountedListFilter):
    """The DMS owners, read from the (dms_owner, ...) index: Django's own filter runs a DISTINCT over every row."""

    title = "DMS owner"
    parameter_name = "dms_owner"
    max_choices = 100
    group_by = "dms_owner"

    def lookups(self, request, model_admin):
        owners = distinct_dms_owners(self.max_choices)
        if self.value() is not None and self.value() not in owners:
            owners.append(self.value())
        return [(owner, owner or "(none)") for owner in owners]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(dms_owner=self.value())

    def selection(self):
        return [], [f"dms_owner[eq]:{quoted_value(self.value())}"]


def distinct_dms_owners(limit: int) -> list[str]:
    """The first `limit` DMS owners in order, by a loose index scan: each step asks the index for the next value
    above the last one, so the cost follows the number of owners, not of devices."""
    table = Device._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE owners(dms_owner, n) AS ("
            f"  SELECT MIN(dms_owner), 1 FROM {table}"
            f"  UNION ALL"
            f"  SELECT (SELECT MIN(dms_owner) FROM {table} WHERE dms_owner > owners.dms_owner), n + 1"
            f"  FROM owners WHERE owners.dms_owner IS NOT NULL AND n < %s"
            f") SELECT dms_owner FROM owners WHERE dms_owner IS NOT NULL",
            [limit],
        )
        return [owner for (owner,) in cursor.fetchall()]


class CappedCountPaginator(Paginator):
    """Counts at most `cap` + 1 rows: the list of a million devices never counts the whole table. Beyond the cap
    the page says "more than 10,000" and offers the first 200 pages; filters and search narrow it down."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @property
    def cap_display(self) -> str:
        return f"{self.cap:,}"


# Each sortable column, with the ties broken in the order of the index that serves it and in the same direction,
# so that one index scan, forward or backward, reads just the page (the admin would add "-pk" whatever the sort).
INDEXED_ORDERINGS = {
    "id": ["id"],
    "alias": ["alias", "id"],
    "status": ["status", "creation_timestamp", "id"],
    "dms_owner": ["dms_owner", "creation_timestamp", "id"],
    "creation_timestamp": ["creation_timestamp", "id"],
}


class DeviceChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        # Why the search's expression matched nothing, for the search form (which sees `cl` only).
        self.expression_error = getattr(request, "expression_error", None)
        return queryset

    def get_ordering(self, request, queryset):
        ordering = super().get_ordering(request, queryset)
        first = ordering[0] if ordering and isinstance(ordering[0], str) else ""
        if "." in self.params.get(ORDER_VAR, "") or first.lstrip("-") not in INDEXED_ORDERINGS:
            return ordering  # a sort on several columns is the user's choice, index or not
        direction = "-" if first.startswith("-") else ""
        return [direction + column for column in INDEXED_ORDERINGS[first.lstrip("-")]]


# A device's page shows its newest events; its whole history is the event list, filtered to it, a page at a time.
RECENT_EVENTS_SHOWN = 20


class RecentEventsFormSet(BaseInlineFormSet):
    """The device's newest events only, however long its history."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.queryset = self.queryset[:RECENT_EVENTS_SHOWN]  # newest first: the inline's ordering


class DeviceEventInline(admin.TabularInline):
    model = DeviceEvent
    formset = RecentEventsFormSet
    template = "admin/devices/device/recent_events_inline.html"
    verbose_name_plural = f"Newest {RECENT_EVENTS_SHOWN} events"
    fields = ["timestamp", "type", "description", "source"]
    readonly_fields = fields
    ordering = ["-timestamp"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


DEVICE_PARAMETER = "device"  # the history's filter: Django's own lookup on the event's device


def device_history_url(device_id: str) -> str:
    return f"{reverse('admin:devices_deviceevent_changelist')}?{urlencode({DEVICE_PARAMETER: device_id})}"


def long_text(value: str) -> str:
    """A value that may be long (a device's id, alias or DMS owner: up to 255 characters with no space) as a table
    cell shows it: cut short by the stylesheet (static/devices/admin.css), the whole value on hover."""
    return format_html('<span class="long-value" title="{}">{}</span>', value, value) if value else ""


def long_value(name: str, description: str):
    """A list column of a text field that may be long (`long_text`). Named as the field, so the column keeps the
    field's CSS class (`field-id`) and sorts by it."""

    @admin.display(description=description, ordering=name)
    def column(obj):
        return long_text(getattr(obj, name))

    column.__name__ = name
    return column


# What a device's change page edits (the rest of its fields are shown read-only).
CHANGE_FORM_FIELDS = ["alias", "tags_text", "dms_owner", "icon", "icon_color", "metadata_json"]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = [
        long_value("id", "Id"),
        long_value("alias", "Alias"),
        "status",
        long_value("dms_owner", "DMS owner"),
        "tag_list",
        "creation_timestamp",
    ]
    # Apps above `devices` add their own (groups: membership) with `register_device_list_filter`.
    list_filter = [StatusListFilter, DmsOwnerListFilter]
    # The exact id is the primary key; the alias is found by substring through a trigram index on PostgreSQL.
    search_fields = ["id__exact", "alias__fold_contains"]
    search_help_text = (
        "An exact device id, part of an alias, or an adapter identifier (IMEI, DevEUI, UUID, imei:…); or an "
        "expression of filters, as the API's q: status[in]:EXPIRED,REVOKED and not dms_owner[eq]:lab."
    )
    ordering = ["-creation_timestamp", "-id"]
    # No count of the whole table on a page load; the filters' counts only on "Show counts" (CountedListFilter).
    show_full_result_count = False
    show_facets = admin.ShowFacets.ALLOW
    paginator = CappedCountPaginator
    list_per_page = 50
    # Apps above `devices` add theirs (fleet: the fleet actions, run as jobs) with `register_device_action`.
    actions: list = []
    # Apps above `devices` add theirs first (adapters) with `register_device_inline`.
    inlines = [DeviceEventInline]
    readonly_fields = [
        "id",
        "alias",
        "status",
        "tags",
        "dms_owner",
        "icon",
        "icon_color",
        "identity_slot",
        "slots",
        "creation_timestamp",
        "updated_timestamp",
    ]

    class Media:
        css = {"all": ["devices/admin.css"]}

    def get_object(self, request, object_id, from_field=None):
        device = super().get_object(request, object_id, from_field)
        if device is not None and request.method == "POST":
            # A save runs in one transaction (the admin's): the device's row lock, taken here before the forms are
            # validated, serialises it with the API's writes to the device, its metadata and its adapters.
            services.device_lock(device_id=device.pk)
        return device

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A write the services refuse once the forms were valid (an identifier another device took meanwhile) rolls
        # back the whole save and is reported on the page, not a 500.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, f"Nothing was saved: {exc.message}", level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_search_results(self, request, queryset, search_term):
        """A term holding a filter (`status[eq]:ACTIVE`) is an expression, as the API's `q` (an error is shown above
        the list, which is then empty). Otherwise the id, the alias, and what higher apps name devices by (adapters:
        an identifier, bare or in a path form)."""
        if ATOM_START.search(search_term):
            try:
                return queryset.filter(compile_expression(search_term, DEVICE_FILTER_FIELDS)), False
            except ExpressionError as exc:
                request.expression_error = f"The expression cannot be applied: {exc}"
                return queryset.none(), False
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        for search in DEVICE_SEARCHES:
            owners = search(search_term.strip())
            if owners:
                # The ids are read first, so the list's query stays an OR of indexed conditions: a join or a
                # subquery there would make PostgreSQL test every device.
                results = results | queryset.filter(pk__in=owners)
        return results, may_have_duplicates

    def get_changelist(self, request, **kwargs):
        return DeviceChangeList

    @admin.display(description="Identity slot")
    def identity_slot(self, device):
        return format_html("<pre>{}</pre>", json.dumps(device.identity, indent=2)) if device.identity else "-"

    @admin.display(description="Tags")
    def tag_list(self, device):
        return ", ".join(device.tags)

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = DeviceCreationForm if obj is None else DeviceChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [name for name in self.readonly_fields if name not in CHANGE_FORM_FIELDS] if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["id", "alias", "tags_text", "dms_owner", "icon", "icon_color", "metadata_text"]
        return [*self.get_readonly_fields(request, obj), *CHANGE_FORM_FIELDS]

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            # Through the services of PUT /devices/{id} and PUT /devices/{id}/metadata, in the admin's transaction:
            # their events, and none for what the form leaves as it was.
            services.device_update(device_id=obj.pk, fields=form.validated_fields, source=admin_actor(request))
            services.device_replace_metadata(
                device_id=obj.pk, metadata=form.cleaned_data["metadata_json"], source=admin_actor(request)
            )
            return
        device = services.device_create(**form.validated_body, source=admin_actor(request))
        obj.pk = device.pk
        obj.refresh_from_db()

    def get_actions(self, request):
        # Bulk deletion would bypass the rule that only decommissioned devices may be deleted.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        # The rule (only a decommissioned device is deleted: no force here) is the service's; a device it refuses is
        # said on its page before any confirmation, and one refused meanwhile (gone already) after it.
        device = self.get_queryset(request).filter(pk=unquote(object_id)).first()
        refusal = device and self.has_delete_permission(request, device) and services.deletion_refusal(device)
        if refusal:
            return self.refused(request, device, f"Not deleted: {refusal}")
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            return self.refused(request, device, f"Not deleted: {exc.message}")

    def get_deleted_objects(self, objs, request):
        """What a deletion takes with the device, counted per kind: Django would list every event of its history."""
        (device,) = objs
        counts = {
            relation.related_model._meta.verbose_name_plural: count
            for relation in device._meta.related_objects
            if relation.on_delete is models.CASCADE
            and (count := relation.related_model._base_manager.filter(**{relation.field.name: device}).count())
        }
        return [format_html("Device: {}", device.pk)], counts, set(), []

    def delete_model(self, request, obj):
        services.device_delete(device_id=obj.pk, source=admin_actor(request))

    # --- The buttons of a device's page: decommission and renew-slot (delete is Django's, above) ----------------

    def get_urls(self):
        return [
            path(
                f"<path:object_id>/{form.name}/",
                self.admin_site.admin_view(partial(self.device_action_view, form_class=form)),
                name=form.url_name(),
            )
            for form in DEVICE_ACTION_FORMS
        ] + super().get_urls()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The device the page shows, read once (by get_object), gives its buttons.
        if change and obj is not None:
            context.update(
                device_buttons=self.device_buttons(request, obj), device_history_url=device_history_url(obj.pk)
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def device_buttons(self, request, device) -> list[tuple[str, str]]:
        """(label, address) of each button the device's page offers: the user may, and the device's state allows."""
        buttons = [
            (form.label, reverse(f"admin:{form.url_name()}", args=[quote(device.pk)]))
            for form in DEVICE_ACTION_FORMS
            if self.has_change_permission(request, device) and form.refusal(device) is None
        ]
        if self.has_delete_permission(request, device):
            buttons.append(("Delete", reverse("admin:devices_device_delete", args=[quote(device.pk)])))
        return buttons

    def device_action_view(self, request, object_id, form_class):
        """A button's confirmation page; confirmed, its service, as the user; then the device's page, with what was
        done or why nothing was."""
        device = self.get_queryset(request).filter(pk=unquote(object_id)).first()
        if device is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, device):
            raise PermissionDenied
        form = form_class(request.POST if request.method == "POST" else None, device=device)
        if form.is_bound and form.is_valid():
            try:
                form.apply(source=admin_actor(request))
            except DomainError as exc:
                return self.refused(request, device, f"{form.label}: nothing was done. {refusal_message(exc)}")
            self.message_user(request, form.done, messages.SUCCESS)
            return HttpResponseRedirect(device_change_url(device.pk))
        if not form.is_bound and (refusal := form.refusal(device)):
            return self.refused(request, device, f"{form.label}: nothing to do. {refusal}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "device": device,
            "form": form,
            "title": f"{form.label}: are you sure?",
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/devices/device/confirm_device_action.html", context)

    def refused(self, request, device, message: str):
        self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(
            device_change_url(device.pk) if device else reverse("admin:devices_device_changelist")
        )


def device_change_url(device_id: str) -> str:
    return reverse("admin:devices_device_change", args=[quote(device_id)])


def refusal_message(error: DomainError) -> str:
    if isinstance(error, PreconditionFailed):  # the If-Match of the confirmation page
        return "The device changed after the confirmation page was shown: look at it again."
    return error.message


class DeviceActionForm(forms.Form):
    """The confirmation of a button of a device's page. It carries the device's ETag as the page showed it, so that
    the service refuses (If-Match, as in the API) a device that changed meanwhile rather than act on it unseen."""

    name: str  # in the address: /admin/devices/device/<id>/<name>/
    label: str
    etag = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, device: Device, **kwargs):
        super().__init__(*args, **kwargs)
        self.device = device
        self.fields["etag"].initial = device.etag

    @classmethod
    def url_name(cls) -> str:
        return f"devices_device_{cls.name.replace('-', '_')}"

    @staticmethod
    def refusal(device: Device) -> str | None:
        """Why the device, as it is, has nothing for this button (which is then not shown); None when it has."""
        return None

    def explanation(self) -> str:
        raise NotImplementedError

    def apply(self, *, source: str) -> None:
        raise NotImplementedError


class DecommissionForm(DeviceActionForm):
    name = "decommission"
    label = "Decommission"

    @staticmethod
    def refusal(device):
        return (
            f"Device {device.pk!r} is decommissioned already." if device.status == DeviceStatus.DECOMMISSIONED else None
        )

    @property
    def done(self) -> str:
        return f"Device {self.device.pk!r} was decommissioned."

    def explanation(self) -> str:
        return (
            "Decommissioning is final: the status becomes DECOMMISSIONED, an identity slot that is not already "
            "EXPIRED or REVOKED becomes REVOKED, and the identity slot can no longer change (its metadata stays "
            "editable). One DECOMMISSIONED event is recorded. A decommissioned device may then be deleted."
        )

    def apply(self, *, source):
        services.device_decommission(device_id=self.device.pk, source=source, if_match=self.cleaned_data["etag"])


class RenewSlotForm(DeviceActionForm):
    name = "renew-slot"
    label = "Renew identity slot"
    expiration_date = forms.DateTimeField(
        required=False,
        label="New expiration date",
        help_text="UTC, e.g. 2030-01-31 00:00. Empty: the renewed slot has no expiration date.",
    )

    @staticmethod
    def refusal(device):
        return services.renewal_refusal(device)

    @property
    def done(self) -> str:
        return f"The identity slot of device {self.device.pk!r} was renewed."

    def explanation(self) -> str:
        slot = self.device.identity or {}
        version = slot.get("active_version")
        return (
            f"Renewal makes version {version + 1 if isinstance(version, int) else '?'} the active version of the "
            f"{slot.get('type', '')} identity slot (now version {version}, {slot.get('status', '')}), and the slot and "
            "the device ACTIVE, with the expiration date below: a RENEWED event, and STATUS-UPDATED if the status "
            "changes."
        )

    def clean_expiration_date(self):
        value = self.cleaned_data["expiration_date"]
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("must be in the future")
        return value

    def apply(self, *, source):
        services.device_renew_identity_slot(
            device_id=self.device.pk,
            source=source,
            expiration_date=self.cleaned_data["expiration_date"],
            if_match=self.cleaned_data["etag"],
        )


DEVICE_ACTION_FORMS = [DecommissionForm, RenewSlotForm]


@admin.register(DeviceEvent)
class DeviceEventAdmin(admin.ModelAdmin):
    """A device's whole history, newest first, a page at a time: its page shows the newest events and links here.
    Read only; reached from a device (the list of every device's events would sort the whole table)."""

    list_display = ["timestamp", "type", "description", "source"]
    list_display_links = None  # the row says it all
    list_filter = ["type"]
    # The filter (`?device=<id>`) is Django's own lookup on the foreign key, which the index on (device, timestamp)
    # serves with the ordering.
    ordering = ["-timestamp"]
    sortable_by: list = []
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50

    class Media:
        css = {"all": ["devices/admin.css"]}

    def changelist_view(self, request, extra_context=None):
        device = Device.objects.filter(pk=request.GET.get(DEVICE_PARAMETER, "")).first()
        if device is None:
            self.message_user(request, "A device's history is reached from its page.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:devices_device_changelist"))
        context = {"title": f"History of device {device.pk}", "subtitle": None, "device": device}
        return super().changelist_view(request, {**context, **(extra_context or {})})

    def has_module_permission(self, request):
        return False  # not on the admin's index: a history belongs to a device

    def has_view_permission(self, request, obj=None):
        # Whoever may see devices may see their histories (which their pages show in part).
        opts = Device._meta
        return any(
            request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("view", "change")
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def admin_actor(request) -> str:
    """Who acts in the admin, as the feed's `actor`."""
    return f"admin:{request.user.get_username()}"


# Extensions of the device admin by the apps above `devices`, registered from their own admin modules.
DEVICE_SEARCHES: list = []  # search term -> ids of the devices it names, or None


def register_device_action(action) -> None:
    DeviceAdmin.actions.append(action)


def register_device_inline(inline) -> None:
    DeviceAdmin.inlines.insert(0, inline)


def register_device_panel(name: str, panel) -> None:
    """Show `panel(device)` (HTML, with its `short_description`) on a device's page, below its fields."""
    setattr(DeviceAdmin, name, staticmethod(panel))
    DeviceAdmin.readonly_fields.append(name)


def register_device_list_filter(list_filter) -> None:
    DeviceAdmin.list_filter.append(list_filter)


def register_device_search(search) -> None:
    DEVICE_SEARCHES.append(search)
