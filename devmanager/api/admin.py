from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from devmanager.validation import dms_id_problem

from .models import SCOPES, ApiKey
from .services import api_key_create, api_key_revoke


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in SCOPES],
        initial=list(SCOPES),
        widget=forms.CheckboxSelectMultiple,
        help_text="`:write` implies `:read` of the same resource.",
    )
    dms = forms.CharField(
        required=False,
        label="DMSs",
        help_text="The DMSs whose devices the key sees and changes, separated by commas; empty: every device.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "dms", "expires_at"]

    def clean_dms(self) -> list[str] | None:
        names = [name.strip() for name in self.cleaned_data["dms"].split(",") if name.strip()]
        problems = [f"{name!r} {problem}" for name in names if (problem := dms_id_problem(name))]
        if problems:
            raise forms.ValidationError(problems)
        return names or None

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("must be in the future")
        return expires_at


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = [
        "name",
        "prefix",
        "scopes",
        "dms_shown",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "active",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="DMSs")
    def dms_shown(self, key):
        return ", ".join(key.dms) if key.dms is not None else "every DMS"

    @admin.display(boolean=True)
    def active(self, key):
        return key.is_active

    def get_readonly_fields(self, request, obj=None):
        # A key's scopes and DMSs are fixed once its plaintext has been handed out; revoke and create another instead.
        return [*self.readonly_fields, "scopes", "dms"] if obj else self.readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        key, plaintext = api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            dms=form.cleaned_data["dms"],
            expires_at=obj.expires_at,
        )
        obj.pk = key.pk
        obj.refresh_from_db()
        messages.warning(request, f"The new key, shown this once only: {plaintext}")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key=key)
        self.message_user(request, f"Revoked at {timezone.now():%Y-%m-%d %H:%M:%S} UTC.")
