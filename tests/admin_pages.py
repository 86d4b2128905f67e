"""Driving the device admin's change page as a browser does."""

from django.contrib.admin.utils import quote
from django.urls import reverse

from devices.admin import CHANGE_FORM_FIELDS


def device_change_url(device_id: str) -> str:
    return reverse("admin:devices_device_change", args=[quote(device_id)])


def change_form_data(client, device_id: str) -> dict:
    """What a browser posts back from the change page as loaded: the metadata text, both inlines' management
    forms and every field of every inline form (an unchecked box and an empty value are not sent)."""
    response = client.get(device_change_url(device_id))
    assert response.status_code == 200
    form = response.context["adminform"].form
    data = {name: form[name].value() for name in CHANGE_FORM_FIELDS} | {"_save": "Save"}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({management[name].html_name: management[name].value() for name in management.fields})
        for form in formset.forms:
            data.update({field.html_name: str(field.value()) for field in form if field.value() not in (None, False)})
    return data
