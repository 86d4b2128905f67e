from django import forms
from django.contrib import admin
from django.utils import timezone

from devmanager.api.exceptions import flatten_errors

from .api.serializers import NetworkAdapterWriteSerializer
from .models import MAX_ADAPTERS_PER_DEVICE, NetworkAdapter

WRITABLE = ["type", "imei", "iccid", "imsi", "msisdn", "dev_eui", "join_eui", "activation", "dvn_uuid", "description"]


class NetworkAdapterForm(forms.ModelForm):
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
            identifier = {"cellular": "imei", "lora": "dev_eui", "generic": "dvn_uuid"}[self.instance.type]
            if serializer.validated_data.get("type", self.instance.type) != self.instance.type:
                self.add_error("type", "an adapter's type cannot change")
            elif str(serializer.validated_data.get(identifier)) != str(getattr(self.instance, identifier)):
                self.add_error(identifier, "an adapter's identifier cannot change")
        cleaned.update(serializer.validated_data)
        return cleaned

    def save(self, commit=True):
        if not self.instance._state.adding:  # the formset saves an existing adapter only when a field changed
            self.instance.updated_at = timezone.now()
        return super().save(commit)


class NetworkAdapterInline(admin.TabularInline):
    model = NetworkAdapter
    form = NetworkAdapterForm
    fields = WRITABLE
    extra = 0
    max_num = MAX_ADAPTERS_PER_DEVICE

    def get_formset(self, request, obj=None, **kwargs):
        # max_num alone only limits the rows offered; validate_max refuses a post that would exceed it.
        return super().get_formset(request, obj, validate_max=True, **kwargs)
