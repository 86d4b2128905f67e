"""The fleet actions in the admin: the device list's actions (add tag, remove tag, set DMS, decommission, delete)
over the selected devices or all that the list's filters match, shown with their count before the operator
confirms, and run as the API's jobs; and the jobs' pages, whose progress updates without reloading."""

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from rest_framework import serializers

from devices.admin import add_body_errors, admin_actor, long_text, register_device_action
from devmanager.api.filtering.expression import ATOM_START, MAX_ATOMS, quoted_value
from devmanager.api.views import uuid_or_none
from devmanager.errors import DomainError

from . import selection, services
from .actions import validated_params
from .models import Action, Job, JobStatus

SHOWN_SALT = "devmanager.fleet.admin.shown"


class TagForm(forms.Form):
    tag = forms.CharField(max_length=128, help_text="One tag.")

    def params(self) -> dict:
        return {"tags": [self.cleaned_data["tag"]]}


class DmsForm(forms.Form):
    dms_id = forms.CharField(max_length=255, required=False, label="DMS", help_text="Empty: no DMS.")

    def params(self) -> dict:
        return {"dms_id": self.cleaned_data["dms_id"]}


class NoParamsForm(forms.Form):
    def params(self) -> dict:
        return {}


class DeleteForm(forms.Form):
    force = forms.BooleanField(required=False, help_text="Delete devices that are not decommissioned too.")

    def params(self) -> dict:
        return {"force": self.cleaned_data["force"]}


ADMIN_ACTIONS = [
    (Action.ADD_TAGS, "Add a tag", TagForm, "change"),
    (Action.REMOVE_TAGS, "Remove a tag", TagForm, "change"),
    (Action.SET_DMS, "Set the DMS", DmsForm, "change"),
    (Action.DECOMMISSION, "Decommission", NoParamsForm, "change"),
    (Action.DELETE, "Delete", DeleteForm, "delete"),
]


class SelectionError(Exception):
    pass


def list_selection(modeladmin, request, queryset) -> tuple[list[str], str]:
    """The action's selection in the filter language: the selected devices by id, or, for "select all", what the
    list's filters and search keep (the count of which must be the list's own: else SelectionError)."""
    if request.POST.get("select_across") != "1":
        ids = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        if len(ids) > MAX_ATOMS:
            raise SelectionError(f"Select at most {MAX_ATOMS} devices, or all that match the list's filters.")
        return _normalised([], [" or ".join(f"id[eq]:{quoted_value(device_id)}" for device_id in ids)])
    changelist = modeladmin.get_changelist_instance(request)
    filters, expressions = [], []
    for spec in changelist.filter_specs:
        if getattr(spec, "value", lambda: None)() is None:
            continue
        written = spec.selection() if hasattr(spec, "selection") else None
        if written is None:
            raise SelectionError(f"The {spec.title} filter cannot be applied by a fleet action.")
        filters += written[0]
        expressions += written[1]
    term = changelist.query.strip()
    if term and ATOM_START.search(term):
        expressions.append(term)
    elif term:
        raise SelectionError(
            "A search by text cannot be applied by a fleet action: write it as an expression (id[eq]:…, "
            "alias[ct_ic]:…), or select the devices on the page."
        )
    return _normalised(filters, expressions)


def _normalised(filters: list[str], expressions: list[str]) -> tuple[list[str], str]:
    q = " and ".join(f"({expression})" for expression in expressions if expression)
    try:
        return selection.normalised(filters, q)
    except DomainError as exc:  # `normalised` says what is wrong in the filter language's words
        raise SelectionError(f"The list's filters cannot be applied: {exc.message}") from exc


def make_device_action(action: str, label: str, form_class: type[forms.Form], permission: str):
    def fleet_action(modeladmin, request, queryset):
        return device_action(modeladmin, request, queryset, action, label, form_class)

    fleet_action.__name__ = f"fleet_{action}"
    return admin.action(description=f"{label} (a job over the selected devices)", permissions=[permission])(
        fleet_action
    )


def device_action(modeladmin, request, queryset, action: str, label: str, form_class):
    """The confirmation page (the count, and the action's parameters), then the job over the selection that page
    showed and counted: carried, signed, by the confirmation, so a filter of the list that moves with time (the
    identity expiry window, from now) is not written anew, and the list is not read again."""
    confirming = "_confirm" in request.POST
    form = form_class(request.POST if confirming else None)
    if confirming and form.is_valid():
        try:
            shown = signing.loads(
                request.POST.get("shown", ""), salt=SHOWN_SALT, max_age=selection.CONFIRMATION_SECONDS
            )
            params = validated_params(action, form.params())
            token = selection.confirmation(action, params, shown["f"], shown["q"], shown["n"])
            job = services.job_create(action=action, params=params, filters=shown["f"], q=shown["q"],
                                      confirmation=token, actor=admin_actor(request))  # fmt: skip
        except signing.BadSignature:
            modeladmin.message_user(request, "The confirmation has expired: start the action again.", messages.ERROR)
            return None
        except serializers.ValidationError as exc:
            fields = {"params.tags": "tag", "params.dms_id": "dms_id", "params.force": "force"}
            add_body_errors(form, exc.detail, fields)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            url = reverse("admin:fleet_job_change", args=[job.pk])
            modeladmin.message_user(
                request, format_html('Job started: <a href="{}">{} over {} device(s)</a>.', url, label, job.limit)
            )
            return HttpResponseRedirect(url)
    try:
        filters, q = list_selection(modeladmin, request, queryset)
    except SelectionError as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return None
    devices = selection.selected(filters, q)
    count = devices.count()
    shown = signing.dumps({"f": filters, "q": q, "n": count}, salt=SHOWN_SALT)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{label}: {count:,} device(s)",
        "opts": modeladmin.model._meta,
        "label": label,
        "action": request.POST["action"],
        "count": count,
        "sample": selection.sample(devices),
        "filters": filters,
        "q": q,
        "form": form,
        "shown": shown,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/fleet/confirm_action.html", context)


for _action, _label, _form, _permission in ADMIN_ACTIONS:
    register_device_action(make_device_action(_action, _label, _form, _permission))


def progress_percent(job: Job) -> int:
    if job.status == JobStatus.SUCCEEDED:
        return 100
    return 100 * job.processed // job.total if job.total else 0


def progress_bar(job: Job) -> str:
    return format_html(
        '<span class="job-progress" data-job="{}" data-finished="{}">'
        '<progress max="100" value="{}"></progress> <span class="job-progress-text">{}</span></span>',
        job.pk,
        "true" if job.finished else "false",
        progress_percent(job),
        progress_text(job),
    )


def progress_text(job: Job) -> str:
    done = f"{job.processed:,} / {job.total:,}" if job.total or job.finished else "selecting…"
    failed = f", {job.failed:,} failed" if job.failed else ""
    return f"{job.status}: {done}{failed}"


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["short_id", "action", "status", "progress", "succeeded", "failed", "actor", "created_at"]
    list_filter = ["status", "action"]
    ordering = ["-created_at"]
    actions = ["cancel"]
    readonly_fields = [
        "id", "action", "params", "filter", "q", "status", "progress", "message", "total", "processed", "succeeded",
        "failed", "error_list", "actor", "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    fields = readonly_fields

    class Media:
        css = {"all": ["devices/admin.css"]}  # long device ids in the errors
        js = ["fleet/progress.js"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        progress = path("progress/", self.admin_site.admin_view(self.progress_view), name="fleet_job_progress")
        return [progress, *super().get_urls()]

    def progress_view(self, request):
        """The progress of the jobs named (`?id=…`), for the pages' script."""
        ids = [job_id for value in request.GET.getlist("id") if (job_id := uuid_or_none(value))][:200]
        jobs = Job.objects.filter(pk__in=ids)
        return JsonResponse(
            {
                str(job.pk): {
                    "status": job.status,
                    "finished": job.finished,
                    "percent": progress_percent(job),
                    "text": progress_text(job),
                    "message": job.message,
                }
                for job in jobs
            }
        )

    @admin.display(description="job")
    def short_id(self, job):
        return str(job.pk)[:8]

    @admin.display(description="progress")
    def progress(self, job):
        return progress_bar(job)

    @admin.display(description="errors (the first 100)")
    def error_list(self, job):
        if not job.errors:
            return "-"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>", ((long_text(e["device_id"]), e["message"]) for e in job.errors)
        )
        return format_html('<table class="device-errors"><tr><th>device</th><th>why</th></tr>{}</table>', rows)

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset):
        for job in queryset:
            try:
                services.job_cancel(job_id=job.pk)
            except DomainError as exc:
                self.message_user(request, f"{str(job.pk)[:8]}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{str(job.pk)[:8]}: cancelled.")
