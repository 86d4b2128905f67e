import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from mptt.admin import DraggableMPTTAdmin
from rest_framework import serializers

from devices.admin import CountedListFilter, admin_actor, register_device_list_filter
from devmanager.api.exceptions import flatten_errors
from devmanager.api.serializers import ListField
from devmanager.api.views import uuid_or_none
from devmanager.errors import DomainError, Invalid
from devmanager.forms import ExactTextModelForm
from devmanager.strictjson import load_json

from . import services
from .api.serializers import CriterionField
from .counting import attach_member_counts, group_count_members
from .criteria import criterion_text, q_error
from .models import MAX_CRITERIA, DeviceGroup
from .querysets import attach_inherited, member_condition, member_devices


class DeviceGroupForm(ExactTextModelForm):
    """Criteria edited as JSON, checked by the filter language; placement checked as the API checks it."""

    criteria_json = forms.CharField(
        label="Criteria",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 90}),
        help_text='A JSON list, e.g. [{"field": "tags", "operand": "contains", "value": "sensor"}].',
    )

    class Meta:
        model = DeviceGroup
        fields = ["name", "description", "parent", "q"]
        widgets = {"q": forms.Textarea(attrs={"rows": 3, "cols": 90})}
        help_texts = {"q": "A boolean expression ANDed with the criteria, e.g. status[eq]:ACTIVE or tags[ct]:lab."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["criteria_json"].initial = json.dumps(self.instance.criteria, indent=2, ensure_ascii=False)

    def clean_criteria_json(self):
        text = (self.cleaned_data.get("criteria_json") or "").strip() or "[]"
        try:
            criteria = load_json(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Invalid JSON: {exc}") from exc
        field = ListField(child=CriterionField(), max_length=MAX_CRITERIA)
        try:
            return field.run_validation(criteria)
        except serializers.ValidationError as exc:
            messages_ = [f"{error['name']}: {error['message']}" for error in flatten_errors(exc.detail, "criteria")]
            raise forms.ValidationError(messages_) from exc

    def clean_q(self):
        q = self.cleaned_data.get("q") or ""
        error = q_error(q) if q else None
        if error:
            raise forms.ValidationError(error)
        return q

    def clean(self):
        cleaned = super().clean()
        if "name" in cleaned:
            # A new instance already has its default UUID as pk; only `adding` tells it is not stored yet.
            group = None if self.instance._state.adding else self.instance
            try:
                services.group_check_placement(group=group, name=cleaned["name"], parent=cleaned.get("parent"))
            except Invalid as exc:
                for error in flatten_errors(exc.fields):
                    self.add_error("parent" if error["name"] == "parent_id" else None, error["message"])
            except DomainError as exc:
                self.add_error(None, exc.message)
        return cleaned


class DeviceGroupChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # Read (and, within the budget, recount) the page's member counts at once; the rows reuse these objects.
        groups = list(self.result_list)
        attach_member_counts(groups)
        members, now = reverse("admin:devices_device_changelist"), timezone.now()  # once for the 1,000 rows
        for group in groups:
            group.member_count_html = member_count_html(group, members, now)


def member_count_html(group, members: str, now) -> str:
    """A group's stored member count, linking to its members in the device list; marked when stale."""
    count = group.member_count
    if count is None:
        return format_html('<span class="member-count" title="{}">?</span>', "not counted yet")
    minutes = int((now - count.counted_at).total_seconds() // 60)
    age = f"counted {minutes} min ago" + (" (stale)" if group.member_count_stale else "")
    return format_html(
        '<a class="member-count" href="{}?group={}" title="{}">{}{}</a>', members, group.pk, age,
        "~" if group.member_count_stale else "", f"{count.devices:,}",
    )  # fmt: skip


@admin.register(DeviceGroup)
class DeviceGroupAdmin(DraggableMPTTAdmin):
    form = DeviceGroupForm
    list_display = ["tree_actions", "indented_title", "members_column", "criteria_summary", "created_at"]
    list_display_links = ["indented_title"]
    search_fields = ["name__fold_contains"]  # folding case as the `_ic` filters do
    readonly_fields = ["id", "inherited", "members", "created_at", "updated_at"]
    fields = [
        "id",
        "name",
        "description",
        "parent",
        "criteria_json",
        "q",
        "inherited",
        "members",
        "created_at",
        "updated_at",
    ]

    def get_changelist(self, request, **kwargs):
        return DeviceGroupChangeList

    @admin.display(description="Devices")
    def members_column(self, group):
        return group.member_count_html

    @admin.display(description="Criteria")
    def criteria_summary(self, group):
        parts = [f"{c['field']}[{c['operand']}]{c['value']}" for c in group.criteria] + ([group.q] if group.q else [])
        return "; ".join(parts) or "(all devices)"

    @admin.display(description="Inherited criteria and q")
    def inherited(self, group):
        if not group.pk:
            return "-"
        ancestors = list(group.get_ancestors())
        criteria = [c for ancestor in ancestors for c in ancestor.criteria]
        inherited_q = [ancestor.q for ancestor in ancestors if ancestor.q]
        if not criteria and not inherited_q:
            return "(none)"
        return format_html("<pre>{}</pre><pre>{}</pre>", json.dumps(criteria, indent=2), "\n".join(inherited_q))

    @admin.display(description="Member devices")
    def members(self, group):
        """The group's stats, as `GET /device-groups/{id}/stats` answers them (one aggregation), each count linking
        to those devices; the total is stored as the group's member count (groups/counting.py)."""
        if group._state.adding:  # a new group has its pk (a default UUID) before it is saved
            return "-"
        stats = member_devices(group).stats()
        group_count_members(group=group, devices=stats["total"])
        url = reverse("admin:devices_device_changelist") + f"?group={group.pk}"
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td class="count"><a href="{}&status__exact={}">{}</a></td></tr>',
            ((status, url, status, f"{count:,}") for status, count in stats["status_distribution"].items()),
        )
        return format_html(
            '{} device(s): <a href="{}">show them</a><table class="group-stats"><tr><th>status</th><th>devices</th>'
            "</tr>{}</table>",
            stats["total"],
            url,
            rows,
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {
            "name": data["name"],
            "description": data["description"],
            "criteria": data["criteria_json"],
            "q": data["q"],
        }
        parent_id = data["parent"].pk if data.get("parent") else None
        if change:
            group = services.group_update(group_id=obj.pk, parent_id=parent_id, actor=admin_actor(request), **fields)
        else:
            group = services.group_create(parent_id=parent_id, actor=admin_actor(request), **fields)
        obj.pk = group.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.group_delete(group_id=obj.pk, actor=admin_actor(request))

    def delete_view(self, request, object_id, extra_context=None):
        # A refused deletion (a child's name taken one level up) rolls back and is reported, not a 500.
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_user(request, f"Cannot delete this group: {exc.message}", level=messages.ERROR)
            return HttpResponseRedirect(reverse("admin:groups_devicegroup_change", args=[object_id]))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletion goes through the service, one group at a time
        return actions

    def _move_node(self, request):
        """Drag and drop moves through the same service (tree lock, depth and name checks) as the API."""
        position = request.POST.get("position")
        if position not in ("last-child", "left", "right"):
            self.message_user(request, "Did not understand moving instruction.", level=messages.ERROR)
            return HttpResponse("FAIL, unknown instruction.")
        try:
            cut = DeviceGroup.objects.get(pk=request.POST.get("cut_item"))
            target = DeviceGroup.objects.get(pk=request.POST.get("pasted_on"))
        except (DeviceGroup.DoesNotExist, ValueError, TypeError, forms.ValidationError):
            self.message_user(request, "Groups have disappeared, try again.", level=messages.ERROR)
            return HttpResponse("FAIL, invalid objects.")
        if not self.has_change_permission(request, cut):
            return HttpResponse("FAIL, no permission.")
        parent = target if position == "last-child" else target.parent
        try:
            services.group_update(group_id=cut.pk, parent_id=parent.pk if parent else None, actor=admin_actor(request))
        except DomainError as exc:
            self.message_user(request, f"Cannot move {cut.name}: {exc.message}", level=messages.ERROR)
            return HttpResponse("FAIL, invalid move.")
        self.message_user(request, f"{cut.name} moved.")
        return HttpResponse("OK")


class DeviceGroupListFilter(CountedListFilter):
    """The members of a device group (its criteria and inherited ones), as the group API computes them."""

    title = "device group"
    parameter_name = "group"
    max_choices = 200

    def lookups(self, request, model_admin):
        groups = list(DeviceGroup.objects.order_by("tree_id", "lft")[: self.max_choices])
        selected = self.value()
        if selected and all(str(group.pk) != selected for group in groups):
            groups += list(DeviceGroup.objects.filter(pk=uuid_or_none(selected)))
        return [(str(group.pk), f"{'  ' * group.level}{group.name}") for group in groups]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        group = DeviceGroup.objects.filter(pk=uuid_or_none(self.value())).first()
        return queryset.filter(member_condition(group)) if group else queryset.none()

    def selection(self):
        group = DeviceGroup.objects.filter(pk=uuid_or_none(self.value())).first()
        if group is None:
            return None
        attach_inherited([group])
        criteria = [criterion_text(criterion) for criterion in [*group.inherited_criteria, *group.criteria]]
        return criteria, [q for q in [*group.inherited_q, group.q] if q]


register_device_list_filter(DeviceGroupListFilter)
