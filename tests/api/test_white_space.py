"""One rule for white space in every text field, API and admin alike: text is stored exactly as sent, never trimmed,
and a value with a format (a colour, an identifier, an enum, a UUID) must match it exactly."""

import pytest
from django.urls import reverse

from devices.models import Device
from groups.models import DeviceGroup
from tests.admin_pages import change_form_data, device_change_url
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

DEVICES = f"{API}/devices"


def test_device_text_fields_are_stored_exactly_as_sent(api_client):
    body = {"id": " spaced ", "alias": " Boiler 7\t", "dms_id": " dms a ", "icon": "fire ", "tags": [" t", "u "]}

    response = api_client.post(DEVICES, body, format="json")

    assert response.status_code == 201, response.content
    answered = response.json()
    assert (answered["id"], answered["alias"], answered["dms_owner"], answered["icon"], answered["tags"]) == (
        " spaced ", " Boiler 7\t", " dms a ", "fire ", [" t", "u "]
    )  # fmt: skip
    assert Device.objects.get(pk=" spaced ").alias == " Boiler 7\t"


@pytest.mark.parametrize("color", ["#FFFFFF-#000000\n", " #FFF", "#FF5733 "])
def test_icon_color_with_white_space_is_400(api_client, color):
    response = api_client.post(DEVICES, {"id": "d-1", "icon_color": color}, format="json")

    assert_error(response, 400, "validation_error", "icon_color")
    assert not Device.objects.exists()


def test_group_text_fields_are_stored_exactly_as_sent(api_client):
    response = api_client.post(f"{API}/device-groups", {"name": " Sensors ", "description": "\nall\n"}, format="json")

    assert response.status_code == 201, response.content
    assert (response.json()["name"], response.json()["description"]) == (" Sensors ", "\nall\n")
    assert DeviceGroup.objects.get().name == " Sensors "


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "cellular", "imei": " 490154203237518"}, "imei"),
        ({"type": "cellular", "imei": "490154203237518", "msisdn": "+31612345678 "}, "msisdn"),
        ({"type": "lora", "dev_eui": "0004A30B001C0530 "}, "dev_eui"),
        ({"type": "lora", "dev_eui": "0004A30B001C0530", "activation": " OTAA"}, "activation"),
        ({"type": "generic", "dvn_uuid": " 7c9e6679-7425-40de-944b-e07fc1f90ae7"}, "dvn_uuid"),
    ],
)
def test_adapter_value_with_a_format_and_white_space_is_400(api_client, body, field):
    DeviceFactory(id="d-1")

    response = api_client.post(f"{DEVICES}/d-1/network-adapters", body, format="json")

    assert_error(response, 400, "validation_error", field)


@pytest.mark.parametrize(("change", "field"), [({"status": " ACTIVE"}, "status"), ({"type": "X509 "}, "type")])
def test_slot_enum_with_white_space_is_400(api_client, change, field):
    DeviceFactory(id="d-1")
    body = {"status": "ACTIVE", "active_version": 1, "type": "X509", **change}

    assert_error(api_client.put(f"{DEVICES}/d-1/idslot", body, format="json"), 400, "validation_error", field)


def test_admin_add_form_keeps_text_exactly_as_typed(admin_client):
    form = {"id": "admin-made", "alias": "  Boiler  ", "dms_owner": "dms ", "icon_color": "", "_save": "Save"}

    response = admin_client.post(reverse("admin:devices_device_add"), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    device = Device.objects.get(pk="admin-made")
    assert (device.alias, device.dms_owner) == ("  Boiler  ", "dms ")


def test_admin_add_form_refuses_a_colour_with_white_space(admin_client):
    form = {"id": "admin-made", "icon_color": "#FF5733 ", "_save": "Save"}

    response = admin_client.post(reverse("admin:devices_device_add"), form)

    assert "icon_color" in response.context["adminform"].form.errors
    assert not Device.objects.exists()


def test_admin_adapter_inline_refuses_an_identifier_with_white_space(admin_client):
    DeviceFactory(id="d-1")
    data = change_form_data(admin_client, "d-1")
    data.update({"adapters-TOTAL_FORMS": "1", "adapters-0-type": "cellular", "adapters-0-imei": "490154203237518 "})
    data["adapters-0-device"] = "d-1"

    response = admin_client.post(device_change_url("d-1"), data)

    assert response.status_code == 200
    assert not Device.objects.get(pk="d-1").adapters.exists()


def test_admin_group_form_keeps_the_name_exactly_as_typed(admin_client):
    form = {"name": " Sensors ", "description": "", "criteria_json": "[]", "_save": "Save"}

    response = admin_client.post(reverse("admin:groups_devicegroup_add"), form)

    assert response.status_code == 302
    assert DeviceGroup.objects.get().name == " Sensors "
