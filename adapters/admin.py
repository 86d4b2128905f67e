from django import forms
from django.contrib import admin
from django.db.models import Q
from django.forms.models import BaseInlineFormSet

from devices.admin import admin_actor, register_device_inline, register_device_search
from devmanager.api.exceptions import flatten_errors
from devmanager.forms import ExactTextModelForm

from . import services
from .api.serializers import TYPE_FIELDS, NetworkAdapterWriteSerializer
from .identifiers import NORMALISERS, parse_device_identifier
from .models import MAX_ADAPTERS_PER_DEVICE, AdapterType, NetworkAdapter

WRITABLE = ["type", "imei", "iccid", "imsi", "msisdn", "dev_eui", "join_eui", "activation", "dvn_uuid", "description"]


class NetworkAdapterForm(ExactTextModelForm):
    """Validates and normalises as the API does; an existing adapter's type and identifier stay as they are."""

    class Meta:
        model = NetworkAdapter
        fields = WRITABLE

    def clean(self):
        cleaned = super().clean()
        body = {name: str(cleaned[name]) for name in WRITABLE if cleaned.get(name) not in (None, "")}
        creating = self.instance._state.adding
        serializer = NetworkAdapterWriteSerializer(data=body, context={"creating": creating})
        if not serializer.is_valid():
            for error in flatten_errors(serializer.errors):
                self.add_error(error["name"] if error["name"] in self.fields else None, error["message"])
            return cleaned
        if not creating:
            identifier = AdapterType(self.instance.type).identifier_field
            if serializer.validated_data.get("type", self.instance.type) != self.instance.type:
                self.add_error("type", "an adapter's type cannot change")
            elif str(serializer.validated_data.get(identifier)) != str(getattr(self.instance, identifier)):
                self.add_error(identifier, "an adapter's identifier cannot change")
        cleaned.update(serializer.validated_data)
        self.validated_body = serializer.validated_data
        return cleaned


class NetworkAdapterFormSet(BaseInlineFormSet):
    """Saves through the adapter services, as the API does (the device's ETag changes with its adapters). The device
    admin holds the device's row lock while the formset is validated and saved, so the count below is the count."""

    actor = ""  # the staff user, as the feed's actor: set per request by the inline

    def clean(self):
        super().clean()
        if self.instance.pk is None or any(self.errors):
            return
        deleted = sum(1 for form in self.deleted_forms if form.instance.pk)
        added = sum(1 for form in self.extra_forms if form.has_changed() and form not in self.deleted_forms)
        stored = NetworkAdapter.objects.filter(device=self.instance).count()
        if stored - deleted + added > MAX_ADAPTERS_PER_DEVICE:
            raise forms.ValidationError(f"A device has at most {MAX_ADAPTERS_PER_DEVICE} network adapters.")

    def save_new(self, form, commit=True):
        return services.adapter_create(device_id=self.instance.pk, actor=self.actor, **form.validated_body)

    def save_existing(self, form, obj, commit=True):
        # Every field of its type: a field emptied in the form is cleared, where the API's PUT would keep it.
        fields = {name: form.cleaned_data.get(name) for name in TYPE_FIELDS[obj.type]}
        if fields.get("description") is None and "description" in fields:
            fields["description"] = ""
        return services.adapter_update(adapter=obj, actor=self.actor, **fields)

    def delete_existing(self, obj, commit=True):
        services.adapter_delete(adapter=obj, actor=self.actor)


class NetworkAdapterInline(admin.TabularInline):
    model = NetworkAdapter
    form = NetworkAdapterForm
    formset = NetworkAdapterFormSet
    fields = WRITABLE
    extra = 0
    max_num = MAX_ADAPTERS_PER_DEVICE

    def get_formset(self, request, obj=None, **kwargs):
        # max_num alone only limits the rows offered; validate_max refuses a post that would exceed it.
        formset = super().get_formset(request, obj, validate_max=True, **kwargs)
        formset.actor = admin_actor(request)
        return formset


def devices_named_by_identifier(term: str) -> list[str] | None:
    """The ids of the devices whose adapters have the identifier a search term gives, bare or in a path form
    (`imei:…`, `urn:dev:…`); None when the term is no identifier. Read through the unique indexes."""
    identifiers = [parse_device_identifier(term)] + [_normalised(column, term) for column in NORMALISERS]
    identifiers = [identifier for identifier in identifiers if identifier is not None]
    if not identifiers:
        return None
    condition = Q()
    for column, value in identifiers:
        condition |= Q(**{column: value})
    return list(NetworkAdapter.objects.filter(condition).values_list("device_id", flat=True))


def _normalised(column: str, term: str):
    try:
        return column, NORMALISERS[column](term)
    except ValueError:
        return None


register_device_inline(NetworkAdapterInline)
register_device_search(devices_named_by_identifier)
