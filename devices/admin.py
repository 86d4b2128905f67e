import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpResponseRedirect
from django.utils.functional import cached_property
from django.utils.html import format_html
from rest_framework import serializers

from devmanager.api.exceptions import flatten_errors
from devmanager.api.filtering.expression import ATOM_START, ExpressionError, compile_expression, quoted_value
from devmanager.errors import DomainError
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


class DeviceEventInline(admin.TabularInline):
    model = DeviceEvent
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


# What a device's change page edits (the rest of its fields are shown read-only).
CHANGE_FORM_FIELDS = ["alias", "tags_text", "dms_owner", "icon", "icon_color", "metadata_json"]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["id", "alias", "status", "dms_owner", "tag_list", "creation_timestamp"]
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

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == DeviceStatus.DECOMMISSIONED)

    def delete_model(self, request, obj):
        services.device_delete(device_id=obj.pk, source=admin_actor(request))


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
