from urllib.parse import quote

import pytest

from devices.models import Device, DeviceEvent
from tests.conftest import API, assert_error

pytestmark = pytest.mark.django_db

SEED_BODY = {
    "id": "device-12345",
    "alias": "Warehouse Temperature Sensor",
    "tags": ["sensor", "temperature", "warehouse-a"],
    "metadata": {"location": "warehouse-a", "floor": "2", "zone": "storage"},
    "dms_id": "dms-production",
    "icon": "thermometer",
    "icon_color": "#FF5733",
}


def test_create_device_seed_example(api_client):
    response = api_client.post(f"{API}/devices", SEED_BODY, format="json")

    assert response.status_code == 201
    assert response["Location"].endswith(f"{API}/devices/device-12345")
    assert response["ETag"]
    body = response.json()
    assert body["id"] == "device-12345"
    assert body["alias"] == "Warehouse Temperature Sensor"
    assert body["tags"] == ["sensor", "temperature", "warehouse-a"]
    assert body["status"] == "NO_IDENTITY"
    assert body["dms_owner"] == "dms-production"
    assert body["metadata"] == SEED_BODY["metadata"]
    assert body["identity"] is None and body["slots"] == {}
    assert [event["type"] for event in body["events"].values()] == ["CREATED"]
    device = Device.objects.get(pk="device-12345")
    assert device.icon_color == "#FF5733"
    assert device.tag_terms == [f"={tag}" for tag in SEED_BODY["tags"]] + [f"~{tag}" for tag in SEED_BODY["tags"]]
    assert DeviceEvent.objects.get(device=device).source == "test-key"


def test_create_device_duplicate_id_conflict(api_client):
    assert api_client.post(f"{API}/devices", SEED_BODY, format="json").status_code == 201
    response = api_client.post(f"{API}/devices", {**SEED_BODY, "alias": "other"}, format="json")

    assert_error(response, 409, "conflict")
    assert Device.objects.get(pk="device-12345").alias == SEED_BODY["alias"]
    assert DeviceEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "id"),
        ({"id": ""}, "id"),
        ({"id": "x" * 256}, "id"),
        ({"id": "a/b"}, "id"),
        ({"id": "bad\x07id"}, "id"),
        ({"id": "dms"}, "id"),
        ({"id": "."}, "id"),
        ({"id": ".."}, "id"),
        ({"id": 12}, "id"),
        ({"id": "d", "alias": "a" * 256}, "alias"),
        ({"id": "d", "tags": "sensor"}, "tags"),
        ({"id": "d", "tags": [f"t{i}" for i in range(51)]}, "tags"),
        ({"id": "d", "tags": ["ok", "x" * 129]}, "tags[1]"),
        ({"id": "d", "tags": ["ok", ""]}, "tags[1]"),
        ({"id": "d", "tags": ["a", "b", "a"]}, "tags[2]"),
        ({"id": "d", "metadata": ["not", "an", "object"]}, "metadata"),
        ({"id": "d", "metadata": {"blob": "x" * (64 * 1024)}}, "metadata"),
        ({"id": "d", "icon_color": "red"}, "icon_color"),
        ({"id": "d", "icon_color": "#12345"}, "icon_color"),
        ({"id": "d", "icon_color": "#112233-112233"}, "icon_color"),
        ({"id": "d", "dms_id": "a", "dms_owner": "b"}, "dms_owner"),
        ({"id": "d", "colour": "#fff"}, "colour"),
    ],
)
def test_create_device_invalid_body_rejected(api_client, body, field):
    response = api_client.post(f"{API}/devices", body, format="json")

    assert_error(response, 400, "validation_error", field=field)
    assert not Device.objects.exists()


def test_create_device_metadata_too_deep_rejected(api_client):
    nested = {}
    for _ in range(150):
        nested = {"a": nested}
    response = api_client.post(f"{API}/devices", {"id": "d", "metadata": nested}, format="json")

    assert_error(response, 400, "validation_error", field="metadata")


@pytest.mark.parametrize("color", ["#fff", "#FF5733", "#ff5733-#000000"])
def test_create_device_icon_color_formats_stored_as_given(api_client, color):
    response = api_client.post(f"{API}/devices", {"id": "d", "icon_color": color}, format="json")

    assert response.status_code == 201
    assert response.json()["icon_color"] == color


def test_create_device_dms_owner_alias(api_client):
    response = api_client.post(f"{API}/devices", {"id": "d", "dms_owner": "dms-a"}, format="json")

    assert response.status_code == 201
    assert response.json()["dms_owner"] == "dms-a"


def test_create_device_minimal_defaults(api_client):
    response = api_client.post(f"{API}/devices", {"id": "minimal", "alias": None}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["tags"] == [] and body["metadata"] == {} and body["alias"] == ""


def test_create_device_malformed_json_bad_request(api_client):
    response = api_client.post(f"{API}/devices", '{"id": "d",', content_type="application/json")

    assert_error(response, 400, "bad_request")


def test_create_device_wrong_content_type_bad_request(api_client):
    response = api_client.post(f"{API}/devices", "id=d", content_type="application/x-www-form-urlencoded")

    assert_error(response, 400, "bad_request")
    assert not Device.objects.exists()


def test_create_device_deeply_nested_json_bad_request(api_client):
    response = api_client.post(f"{API}/devices", "[" * 100_000 + "]" * 100_000, content_type="application/json")

    assert_error(response, 400, "bad_request")


def test_create_device_body_not_object(api_client):
    response = api_client.post(f"{API}/devices", ["d"], format="json")

    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize("dms", ["a/b", "/", ".", "..", "tab\there", "dms\x7f"])
@pytest.mark.parametrize("field", ["dms_id", "dms_owner"])
def test_create_device_dms_id_that_no_path_can_name_rejected(api_client, dms, field):
    # `/devices/dms/{dms_id}` must be able to list every DMS's devices.
    response = api_client.post(f"{API}/devices", {"id": "d-1", field: dms}, format="json")

    assert_error(response, 400, "validation_error", field)
    assert not Device.objects.exists()


@pytest.mark.parametrize("dms", ["dms production", "ünïcode-dms", "a%2Fb", "a?b#c", "a:b", "x" * 255])
def test_every_accepted_dms_id_is_reachable_through_its_list(api_client, dms):
    assert api_client.post(f"{API}/devices", {"id": "d-1", "dms_id": dms}, format="json").status_code == 201

    response = api_client.get(f"{API}/devices/dms/{quote(dms, safe='')}")

    assert [device["id"] for device in response.json()["list"]] == ["d-1"]
