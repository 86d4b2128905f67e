"""Replacing and patching a device's metadata: `PUT` and `PATCH /devices/{id}/metadata` (contract, section 3)."""

import json
import time

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from devices.validators import json_size
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory
from tests.helpers import device_snapshot, device_url, get_etag

pytestmark = pytest.mark.django_db

JSON_PATCH = "application/json-patch+json"


def metadata_url(device_id: str) -> str:
    return device_url(device_id, "/metadata")


def patch_metadata(client, device_id: str, patches, **extra):
    return client.patch(metadata_url(device_id), {"patches": patches}, format="json", **extra)


def put_metadata(client, device_id: str, body, **extra):
    return client.put(metadata_url(device_id), body, format="json", **extra)


def metadata_events(device_id: str) -> list[DeviceEvent]:
    return list(DeviceEvent.objects.filter(device_id=device_id, type=EventType.METADATA_UPDATED).order_by("timestamp"))


# --- The seed's examples ----------------------------------------------------------------------------------------


def test_put_metadata_seed_example_works_as_written(api_client):
    DeviceFactory(id="device-12345", metadata={"location": "warehouse-a"})
    body = """{
    "patches": [
      {
        "op": "replace",
        "path": "/location",
        "value": "warehouse-b"
      },
      {
        "op": "add",
        "path": "/firmware_version",
        "value": "2.1.0"
      }
    ]
  }"""

    response = api_client.put(f"{API}/devices/device-12345/metadata", body, content_type="application/json")

    assert response.status_code == 200, response.content
    expected = {"location": "warehouse-b", "firmware_version": "2.1.0"}
    assert response.json()["id"] == "device-12345"
    assert response.json()["metadata"] == expected
    assert Device.objects.get(pk="device-12345").metadata == expected
    assert [event.source for event in metadata_events("device-12345")] == ["test-key"]


def test_patch_metadata_seed_example_works_as_written(api_client):
    DeviceFactory(id="device-12345", metadata={"location": "warehouse-a"})
    body = """{
    "patches": [
      {
        "op": "add",
        "path": "/last_maintenance",
        "value": "2026-03-09T10:00:00Z"
      }
    ]
  }"""

    response = api_client.patch(f"{API}/devices/device-12345/metadata", body, content_type="application/json")

    assert response.status_code == 200, response.content
    expected = {"location": "warehouse-a", "last_maintenance": "2026-03-09T10:00:00Z"}
    assert response.json()["metadata"] == expected
    assert Device.objects.get(pk="device-12345").metadata == expected
    assert len(metadata_events("device-12345")) == 1


def test_patch_metadata_answer_is_device_as_get_shows_it(api_client):
    device = DeviceFactory()

    response = patch_metadata(api_client, device.id, [{"op": "add", "path": "/floor", "value": 3}])

    fetched = api_client.get(device_url(device.id))
    assert response.json() == fetched.json()
    assert response["ETag"] == fetched["ETag"]


# --- PUT {"metadata": ...} replaces -----------------------------------------------------------------------------


def test_put_metadata_replaces_whole_object(api_client):
    device = DeviceFactory(metadata={"location": "warehouse-a", "floor": 2})
    replacement = {"site": {"name": "north", "racks": [1, 2, None]}, "active": True, "note": None}

    response = put_metadata(api_client, device.id, {"metadata": replacement})

    assert response.status_code == 200, response.content
    assert response.json()["metadata"] == replacement
    assert Device.objects.get(pk=device.id).metadata == replacement
    [event] = metadata_events(device.id)
    assert (event.description, event.source) == ("Metadata replaced", "test-key")


def test_put_metadata_empty_object_clears(api_client):
    device = DeviceFactory(metadata={"location": "warehouse-a"})

    response = put_metadata(api_client, device.id, {"metadata": {}})

    assert response.status_code == 200
    assert Device.objects.get(pk=device.id).metadata == {}


def test_put_metadata_keeps_other_fields(api_client):
    device = DeviceFactory(alias="Boiler", tags=["a"], metadata={"x": 1})

    body = put_metadata(api_client, device.id, {"metadata": {"y": 2}}).json()

    assert (body["alias"], body["tags"], body["status"], body["identity"]) == ("Boiler", ["a"], "NO_IDENTITY", None)


@pytest.mark.parametrize("value", [[], [{"a": 1}], "text", 5, True, None])
def test_put_metadata_not_object_validation_error(api_client, value):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = put_metadata(api_client, device.id, {"metadata": value})

    assert_error(response, 400, "validation_error", field="metadata")
    assert device_snapshot(device.id) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"metadata": {"a": 1}, "patches": [{"op": "add", "path": "/b", "value": 2}]},
        {"metadata": {}, "patches": []},
    ],
)
def test_put_metadata_neither_or_both_validation_error(api_client, body):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = put_metadata(api_client, device.id, body)

    assert_error(response, 400, "validation_error", field="metadata")
    assert device_snapshot(device.id) == before


def test_put_metadata_unknown_field_validation_error(api_client):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = put_metadata(api_client, device.id, {"metadata": {"a": 1}, "tags": ["x"]})

    assert_error(response, 400, "validation_error", field="tags")
    assert device_snapshot(device.id) == before


def test_put_metadata_bare_object_validation_error(api_client):
    """The body wraps the metadata: a bare object is not taken for it."""
    device = DeviceFactory()

    response = put_metadata(api_client, device.id, {"location": "warehouse-b"})

    assert_error(response, 400, "validation_error", field="location")
    assert Device.objects.get(pk=device.id).metadata == {"location": "warehouse-a"}


def test_put_metadata_patches_applied_like_patch(api_client):
    device = DeviceFactory(metadata={"a": 1})

    response = put_metadata(api_client, device.id, {"patches": [{"op": "remove", "path": "/a"}]})

    assert response.status_code == 200
    assert Device.objects.get(pk=device.id).metadata == {}
    assert metadata_events(device.id)[0].description == "Metadata patched (1 operation(s))"


# --- PATCH bodies -----------------------------------------------------------------------------------------------


def test_patch_metadata_bare_array_json_patch_content_type(api_client):
    device = DeviceFactory(metadata={"location": "warehouse-a"})
    patch = [{"op": "replace", "path": "/location", "value": "dock"}, {"op": "add", "path": "/floor", "value": 1}]

    response = api_client.patch(metadata_url(device.id), json.dumps(patch), content_type=JSON_PATCH)

    assert response.status_code == 200, response.content
    assert Device.objects.get(pk=device.id).metadata == {"location": "dock", "floor": 1}
    assert len(metadata_events(device.id)) == 1


def test_patch_metadata_bare_array_with_charset_accepted(api_client):
    device = DeviceFactory(metadata={})

    response = api_client.patch(
        metadata_url(device.id),
        json.dumps([{"op": "add", "path": "/x", "value": 1}]),
        content_type=f"{JSON_PATCH}; charset=utf-8",
    )

    assert response.status_code == 200, response.content
    assert Device.objects.get(pk=device.id).metadata == {"x": 1}


def test_patch_metadata_empty_array_changes_nothing(api_client):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = api_client.patch(metadata_url(device.id), "[]", content_type=JSON_PATCH)

    assert response.status_code == 200
    assert device_snapshot(device.id) == before


def test_patch_metadata_replace_body_validation_error(api_client):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = api_client.patch(metadata_url(device.id), {"metadata": {"a": 1}}, format="json")

    body = assert_error(response, 400, "validation_error", field="metadata")
    assert "patches" in {item["name"] for item in body["fields"]}
    assert device_snapshot(device.id) == before


@pytest.mark.parametrize("content_type", ["application/json", JSON_PATCH])
@pytest.mark.parametrize("raw", ['[{"op": "add", "path": "/a", "value": 1}', "{patches: []}", '{"patches": [NaN]}'])
def test_patch_metadata_malformed_json_bad_request(api_client, raw, content_type):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = api_client.patch(metadata_url(device.id), raw, content_type=content_type)

    assert_error(response, 400, "bad_request")
    assert device_snapshot(device.id) == before


def test_patch_metadata_wrong_content_type_bad_request(api_client):
    device = DeviceFactory()

    response = api_client.patch(metadata_url(device.id), "[]", content_type="text/plain")

    assert_error(response, 400, "bad_request")


# --- The six operations -----------------------------------------------------------------------------------------

SENSORS = {"location": "warehouse-a", "sensors": [{"type": "temp"}, {"type": "humidity"}], "note": None}


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param(
            [{"op": "add", "path": "/floor", "value": 3}],
            {**SENSORS, "floor": 3},
            id="add-member",
        ),
        pytest.param(
            [{"op": "add", "path": "/location", "value": "dock"}],
            {**SENSORS, "location": "dock"},
            id="add-existing-member-replaces",
        ),
        pytest.param(
            [{"op": "add", "path": "/gone", "value": None}],
            {**SENSORS, "gone": None},
            id="add-null",
        ),
        pytest.param(
            [{"op": "add", "path": "/site", "value": {"racks": [1, {"u": None}]}}],
            {**SENSORS, "site": {"racks": [1, {"u": None}]}},
            id="add-nested-value",
        ),
        pytest.param(
            [{"op": "add", "path": "/sensors/0", "value": {"type": "co2"}}],
            {**SENSORS, "sensors": [{"type": "co2"}, {"type": "temp"}, {"type": "humidity"}]},
            id="add-array-index-inserts",
        ),
        pytest.param(
            [{"op": "add", "path": "/sensors/2", "value": {"type": "co2"}}],
            {**SENSORS, "sensors": [{"type": "temp"}, {"type": "humidity"}, {"type": "co2"}]},
            id="add-array-index-at-length-appends",
        ),
        pytest.param(
            [{"op": "add", "path": "/sensors/-", "value": {"type": "co2"}}],
            {**SENSORS, "sensors": [{"type": "temp"}, {"type": "humidity"}, {"type": "co2"}]},
            id="add-array-dash-appends",
        ),
        pytest.param(
            [{"op": "add", "path": "/sensors/-", "value": None}],
            {**SENSORS, "sensors": [{"type": "temp"}, {"type": "humidity"}, None]},
            id="add-array-dash-null",
        ),
        pytest.param(
            [{"op": "add", "path": "/sensors/1/unit", "value": "%"}],
            {**SENSORS, "sensors": [{"type": "temp"}, {"type": "humidity", "unit": "%"}]},
            id="add-inside-array-element",
        ),
        pytest.param(
            [{"op": "add", "path": "", "value": {"fresh": True}}],
            {"fresh": True},
            id="add-root-object",
        ),
        pytest.param(
            [{"op": "add", "path": "/a~1b", "value": 1}, {"op": "add", "path": "/m~0n", "value": 2}],
            {**SENSORS, "a/b": 1, "m~n": 2},
            id="add-escaped-member-names",
        ),
        pytest.param(
            [{"op": "add", "path": "/", "value": "empty name"}],
            {**SENSORS, "": "empty name"},
            id="add-empty-member-name",
        ),
        pytest.param(
            [{"op": "add", "path": "/Größe ✓", "value": "groß"}],
            {**SENSORS, "Größe ✓": "groß"},
            id="add-unicode-member-name",
        ),
        pytest.param(
            [{"op": "remove", "path": "/location"}],
            {"sensors": SENSORS["sensors"], "note": None},
            id="remove-member",
        ),
        pytest.param(
            [{"op": "remove", "path": "/note"}],
            {"location": "warehouse-a", "sensors": SENSORS["sensors"]},
            id="remove-null-member",
        ),
        pytest.param(
            [{"op": "remove", "path": "/sensors/0"}],
            {**SENSORS, "sensors": [{"type": "humidity"}]},
            id="remove-array-element",
        ),
        pytest.param(
            [{"op": "replace", "path": "/location", "value": "dock"}],
            {**SENSORS, "location": "dock"},
            id="replace-member",
        ),
        pytest.param(
            [{"op": "replace", "path": "/location", "value": None}],
            {**SENSORS, "location": None},
            id="replace-with-null",
        ),
        pytest.param(
            [{"op": "replace", "path": "/note", "value": {"text": "hi"}}],
            {**SENSORS, "note": {"text": "hi"}},
            id="replace-null",
        ),
        pytest.param(
            [{"op": "replace", "path": "/sensors/1", "value": {"type": "co2"}}],
            {**SENSORS, "sensors": [{"type": "temp"}, {"type": "co2"}]},
            id="replace-array-element",
        ),
        pytest.param(
            [{"op": "replace", "path": "", "value": {"fresh": True}}],
            {"fresh": True},
            id="replace-root",
        ),
        pytest.param(
            [{"op": "move", "from": "/location", "path": "/site"}],
            {"site": "warehouse-a", "sensors": SENSORS["sensors"], "note": None},
            id="move-member",
        ),
        pytest.param(
            [{"op": "move", "from": "/note", "path": "/remark"}],
            {"location": "warehouse-a", "sensors": SENSORS["sensors"], "remark": None},
            id="move-null",
        ),
        pytest.param(
            [{"op": "move", "from": "/sensors/0", "path": "/sensors/-"}],
            {**SENSORS, "sensors": [{"type": "humidity"}, {"type": "temp"}]},
            id="move-array-element-to-end",
        ),
        pytest.param(
            [{"op": "move", "from": "/sensors/1/type", "path": "/kind"}],
            {**SENSORS, "sensors": [{"type": "temp"}, {}], "kind": "humidity"},
            id="move-out-of-array-element",
        ),
        pytest.param(
            [{"op": "move", "from": "/location", "path": "/location"}],
            SENSORS,
            id="move-onto-itself",
        ),
        pytest.param(
            [{"op": "copy", "from": "/location", "path": "/origin"}],
            {**SENSORS, "origin": "warehouse-a"},
            id="copy-member",
        ),
        pytest.param(
            [{"op": "copy", "from": "/note", "path": "/note2"}],
            {**SENSORS, "note2": None},
            id="copy-null",
        ),
        pytest.param(
            [{"op": "copy", "from": "/sensors/0", "path": "/sensors/-"}],
            {**SENSORS, "sensors": [{"type": "temp"}, {"type": "humidity"}, {"type": "temp"}]},
            id="copy-array-element",
        ),
        pytest.param(
            [{"op": "copy", "from": "/sensors", "path": "/backup"}, {"op": "remove", "path": "/sensors/0"}],
            {**SENSORS, "sensors": [{"type": "humidity"}], "backup": SENSORS["sensors"]},
            id="copy-is-deep",
        ),
        pytest.param(
            [
                {"op": "test", "path": "/location", "value": "warehouse-a"},
                {"op": "replace", "path": "/location", "value": "dock"},
            ],
            {**SENSORS, "location": "dock"},
            id="test-string-then-replace",
        ),
        pytest.param(
            [{"op": "test", "path": "/note", "value": None}, {"op": "remove", "path": "/note"}],
            {"location": "warehouse-a", "sensors": SENSORS["sensors"]},
            id="test-null-then-remove",
        ),
        pytest.param(
            [
                {"op": "test", "path": "/sensors", "value": [{"type": "temp"}, {"type": "humidity"}]},
                {"op": "test", "path": "/sensors/1", "value": {"type": "humidity"}},
                {"op": "test", "path": "", "value": SENSORS},
                {"op": "add", "path": "/checked", "value": True},
            ],
            {**SENSORS, "checked": True},
            id="test-array-object-root",
        ),
        pytest.param(
            [
                {"op": "add", "path": "/tmp", "value": 1},
                {"op": "test", "path": "/tmp", "value": 1},
                {"op": "remove", "path": "/tmp"},
                {"op": "add", "path": "/done", "value": "yes"},
            ],
            {**SENSORS, "done": "yes"},
            id="ops-see-earlier-ops",
        ),
    ],
)
def test_patch_metadata_operation_applied(api_client, operations, expected):
    device = DeviceFactory(metadata=SENSORS)

    response = patch_metadata(api_client, device.id, operations)

    assert response.status_code == 200, response.content
    assert response.json()["metadata"] == expected
    assert Device.objects.get(pk=device.id).metadata == expected


def test_patch_metadata_test_number_equal_to_float_passes(api_client):
    """RFC 6902: numbers are equal when their values are."""
    device = DeviceFactory(metadata={"count": 1})

    response = patch_metadata(
        api_client,
        device.id,
        [{"op": "test", "path": "/count", "value": 1.0}, {"op": "add", "path": "/ok", "value": True}],
    )

    assert response.status_code == 200
    assert Device.objects.get(pk=device.id).metadata == {"count": 1, "ok": True}


def test_patch_metadata_test_object_member_order_ignored(api_client):
    device = DeviceFactory(metadata={"site": {"a": 1, "b": 2}})

    response = patch_metadata(api_client, device.id, [{"op": "test", "path": "/site", "value": {"b": 2, "a": 1}}])

    assert response.status_code == 200


# --- Failed tests and missing paths: 409 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/location", "warehouse-b"),
        ("/location", None),
        ("/note", "null"),
        ("/note", False),
        ("/absent", None),
        ("/count", True),
        ("/flag", 1),
        ("/count", "1"),
        ("/sensors", [{"type": "humidity"}, {"type": "temp"}]),
        ("/sensors/0", {"type": "temp", "unit": "C"}),
        ("/sensors/5", {"type": "temp"}),
        ("/sensors/-", None),
        ("", {}),
    ],
)
def test_patch_metadata_failed_test_conflict(api_client, path, value):
    metadata = {**SENSORS, "count": 1, "flag": True}
    device = DeviceFactory(metadata=metadata)
    before = device_snapshot(device.id)

    response = patch_metadata(api_client, device.id, [{"op": "test", "path": path, "value": value}])

    assert_error(response, 409, "conflict")
    assert device_snapshot(device.id) == before


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": "/absent"},
        {"op": "remove", "path": "/sensors/2"},
        {"op": "remove", "path": "/sensors/-"},
        {"op": "remove", "path": "/location/0"},
        {"op": "remove", "path": "/absent/deeper"},
        {"op": "remove", "path": ""},
        {"op": "replace", "path": "/absent", "value": 1},
        {"op": "replace", "path": "/sensors/2", "value": 1},
        {"op": "replace", "path": "/sensors/-", "value": 1},
        {"op": "replace", "path": "/note/x", "value": 1},
        {"op": "add", "path": "/absent/child", "value": 1},
        {"op": "add", "path": "/sensors/3", "value": 1},
        {"op": "add", "path": "/sensors/01", "value": 1},
        {"op": "add", "path": "/sensors/x", "value": 1},
        {"op": "add", "path": "/location/x", "value": 1},
        {"op": "move", "from": "/absent", "path": "/x"},
        {"op": "move", "from": "/sensors/-", "path": "/x"},
        {"op": "move", "from": "/sensors", "path": "/sensors/0/inner"},
        {"op": "copy", "from": "/absent", "path": "/x"},
        {"op": "copy", "from": "/sensors/9", "path": "/x"},
        {"op": "copy", "from": "/location", "path": "/absent/x"},
    ],
)
def test_patch_metadata_missing_path_conflict(api_client, operation):
    device = DeviceFactory(metadata=SENSORS)
    before = device_snapshot(device.id)

    response = patch_metadata(api_client, device.id, [operation])

    assert_error(response, 409, "conflict")
    assert device_snapshot(device.id) == before


def test_patch_metadata_replace_member_named_dash_of_object_applies(api_client):
    """`-` means "after the last element" only in an array; in an object it is an ordinary member name."""
    device = DeviceFactory(metadata={"map": {"-": 1}})

    response = patch_metadata(api_client, device.id, [{"op": "replace", "path": "/map/-", "value": 2}])

    assert response.status_code == 200, response.content
    assert Device.objects.get(pk=device.id).metadata == {"map": {"-": 2}}


# --- Atomicity --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "third",
    [
        {"op": "test", "path": "/location", "value": "elsewhere"},
        {"op": "remove", "path": "/absent"},
        {"op": "replace", "path": "/sensors/7", "value": 1},
    ],
)
def test_patch_metadata_third_operation_fails_nothing_changes(api_client, third):
    device = DeviceFactory(metadata=SENSORS)
    etag = get_etag(api_client, device.id)
    before = device_snapshot(device.id)
    operations = [
        {"op": "replace", "path": "/location", "value": "dock"},
        {"op": "add", "path": "/sensors/-", "value": {"type": "co2"}},
        third,
        {"op": "add", "path": "/never", "value": 1},
    ]

    response = patch_metadata(api_client, device.id, operations)

    body = assert_error(response, 409, "conflict")
    assert "patches[2]" in body["message"]
    assert device_snapshot(device.id) == before
    assert get_etag(api_client, device.id) == etag
    assert api_client.get(device_url(device.id)).json()["metadata"] == SENSORS


def test_patch_metadata_third_operation_malformed_nothing_changes(api_client):
    device = DeviceFactory(metadata=SENSORS)
    before = device_snapshot(device.id)
    operations = [
        {"op": "replace", "path": "/location", "value": "dock"},
        {"op": "remove", "path": "/note"},
        {"op": "replace", "path": "/location"},
    ]

    response = patch_metadata(api_client, device.id, operations)

    assert_error(response, 400, "validation_error", field="patches[2]")
    assert device_snapshot(device.id) == before


def test_patch_metadata_put_with_patches_failing_changes_nothing(api_client):
    device = DeviceFactory(metadata=SENSORS)
    before = device_snapshot(device.id)
    operations = [{"op": "add", "path": "/a", "value": 1}, {"op": "test", "path": "/a", "value": 2}]

    response = put_metadata(api_client, device.id, {"patches": operations})

    assert_error(response, 409, "conflict")
    assert device_snapshot(device.id) == before


# --- Malformed operations: 400 naming patches[i] ----------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param({"path": "/a", "value": 1}, id="missing-op"),
        pytest.param({"op": "append", "path": "/a", "value": 1}, id="unknown-op"),
        pytest.param({"op": "ADD", "path": "/a", "value": 1}, id="op-wrong-case"),
        pytest.param({"op": None, "path": "/a", "value": 1}, id="op-null"),
        pytest.param({"op": 1, "path": "/a", "value": 1}, id="op-number"),
        pytest.param({"op": ["add"], "path": "/a", "value": 1}, id="op-list"),
        pytest.param({"op": "add", "value": 1}, id="add-missing-path"),
        pytest.param({"op": "remove"}, id="remove-missing-path"),
        pytest.param({"op": "add", "path": "location", "value": 1}, id="path-not-pointer"),
        pytest.param({"op": "remove", "path": "sensors/0"}, id="path-no-leading-slash"),
        pytest.param({"op": "add", "path": "/a~2", "value": 1}, id="path-bad-escape"),
        pytest.param({"op": "add", "path": "/a~", "value": 1}, id="path-dangling-tilde"),
        pytest.param({"op": "add", "path": None, "value": 1}, id="path-null"),
        pytest.param({"op": "add", "path": 5, "value": 1}, id="path-number"),
        pytest.param({"op": "add", "path": ["a"], "value": 1}, id="path-list"),
        pytest.param({"op": "add", "path": "/a"}, id="add-without-value"),
        pytest.param({"op": "replace", "path": "/location"}, id="replace-without-value"),
        pytest.param({"op": "test", "path": "/location"}, id="test-without-value"),
        pytest.param({"op": "move", "path": "/a"}, id="move-without-from"),
        pytest.param({"op": "copy", "path": "/a"}, id="copy-without-from"),
        pytest.param({"op": "move", "from": "location", "path": "/a"}, id="from-not-pointer"),
        pytest.param({"op": "copy", "from": "/a~3", "path": "/b"}, id="from-bad-escape"),
        pytest.param({"op": "copy", "from": 1, "path": "/b"}, id="from-number"),
        pytest.param("add", id="op-string"),
        pytest.param(["add", "/a", 1], id="op-list-form"),
        pytest.param(None, id="op-null-item"),
        pytest.param(42, id="op-number-item"),
    ],
)
def test_patch_metadata_malformed_operation_validation_error(api_client, operation):
    device = DeviceFactory(metadata=SENSORS)
    before = device_snapshot(device.id)

    response = patch_metadata(api_client, device.id, [{"op": "add", "path": "/ok", "value": 1}, operation])

    body = assert_error(response, 400, "validation_error", field="patches[1]")
    assert [item["name"] for item in body["fields"]] == ["patches[1]"]
    assert device_snapshot(device.id) == before


def test_patch_metadata_malformed_operation_bare_array_named_by_index(api_client):
    device = DeviceFactory()
    patch = [{"op": "add", "path": "/a", "value": 1}, {"op": "add", "path": "/b", "value": 2}, {"op": "nope"}]

    response = api_client.patch(metadata_url(device.id), json.dumps(patch), content_type=JSON_PATCH)

    assert_error(response, 400, "validation_error", field="patches[2]")


def test_patch_metadata_every_malformed_operation_named(api_client):
    device = DeviceFactory()
    operations = [{"op": "bad", "path": "/a"}, {"op": "add", "path": "/b", "value": 1}, {"op": "remove"}]

    response = patch_metadata(api_client, device.id, operations)

    body = assert_error(response, 400, "validation_error")
    assert {item["name"] for item in body["fields"]} == {"patches[0]", "patches[2]"}


def test_patch_metadata_malformed_operation_reported_before_failed_test(api_client):
    device = DeviceFactory(metadata=SENSORS)

    response = patch_metadata(
        api_client,
        device.id,
        [{"op": "test", "path": "/location", "value": "elsewhere"}, {"op": "add", "path": "nope", "value": 1}],
    )

    assert_error(response, 400, "validation_error", field="patches[1]")


@pytest.mark.parametrize("patches", [{"op": "add", "path": "/a", "value": 1}, "add", 1, None, True])
@pytest.mark.parametrize("method", ["put", "patch"])
def test_patch_metadata_patches_not_list_validation_error(api_client, patches, method):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = getattr(api_client, method)(metadata_url(device.id), {"patches": patches}, format="json")

    assert_error(response, 400, "validation_error", field="patches")
    assert device_snapshot(device.id) == before


@pytest.mark.parametrize("raw", ['{"op": "add", "path": "/a", "value": 1}', '"add"', "1", "null"])
def test_patch_metadata_json_patch_body_not_array_validation_error(api_client, raw):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = api_client.patch(metadata_url(device.id), raw, content_type=JSON_PATCH)

    assert_error(response, 400, "validation_error")
    assert device_snapshot(device.id) == before


def test_patch_metadata_unknown_operation_member_ignored(api_client):
    """RFC 6902 section 4: members not defined for the operation are ignored."""
    device = DeviceFactory(metadata={})

    response = patch_metadata(api_client, device.id, [{"op": "add", "path": "/a", "value": 1, "comment": "why"}])

    assert response.status_code == 200
    assert Device.objects.get(pk=device.id).metadata == {"a": 1}


# --- The 64 KiB limit holds after patching ----------------------------------------------------------------------


def filler(total_bytes: int, existing: dict) -> str:
    """A string that, added as member `blob`, makes `existing` serialise to exactly `total_bytes`."""
    return "x" * (total_bytes - json_size({**existing, "blob": ""}))


def test_patch_metadata_over_limit_after_patch_validation_error(api_client):
    device = DeviceFactory(metadata={"location": "warehouse-a"})
    before = device_snapshot(device.id)
    value = filler(settings.DEVMANAGER_METADATA_MAX_BYTES + 1, {"location": "warehouse-a"})

    response = patch_metadata(api_client, device.id, [{"op": "add", "path": "/blob", "value": value}])

    assert_error(response, 400, "validation_error", field="metadata")
    assert device_snapshot(device.id) == before


def test_patch_metadata_exactly_at_limit_accepted(api_client):
    device = DeviceFactory(metadata={"location": "warehouse-a"})
    value = filler(settings.DEVMANAGER_METADATA_MAX_BYTES, {"location": "warehouse-a"})

    response = patch_metadata(api_client, device.id, [{"op": "add", "path": "/blob", "value": value}])

    assert response.status_code == 200
    assert json_size(Device.objects.get(pk=device.id).metadata) == settings.DEVMANAGER_METADATA_MAX_BYTES


def test_patch_metadata_over_limit_by_copy_validation_error(api_client):
    big = {"blob": "x" * 40_000}
    device = DeviceFactory(metadata=big)
    before = device_snapshot(device.id)

    response = patch_metadata(api_client, device.id, [{"op": "copy", "from": "/blob", "path": "/blob2"}])

    assert_error(response, 400, "validation_error", field="metadata")
    assert device_snapshot(device.id) == before


def test_patch_metadata_over_limit_midway_back_under_accepted(api_client):
    """Only the result counts: a patch may pass through a larger document."""
    device = DeviceFactory(metadata={"location": "warehouse-a"})
    value = "x" * settings.DEVMANAGER_METADATA_MAX_BYTES

    response = patch_metadata(
        api_client, device.id, [{"op": "add", "path": "/tmp", "value": value}, {"op": "remove", "path": "/tmp"}]
    )

    assert response.status_code == 200
    assert Device.objects.get(pk=device.id).metadata == {"location": "warehouse-a"}


def test_patch_metadata_copies_doubling_document_refused_quickly(api_client):
    """Each copy of the root into itself doubles the document: 60 of them (2 KB of body) would need 2**60 times the
    memory before the size check ran, so the copies are capped as they are applied."""
    device = DeviceFactory(metadata={"a": "x" * 10})
    before = device_snapshot(device.id)
    operations = [{"op": "copy", "from": "", "path": f"/c{index}"} for index in range(60)]
    started = time.monotonic()

    response = patch_metadata(api_client, device.id, operations)

    assert time.monotonic() - started < 5
    body = assert_error(response, 400, "validation_error")
    assert body["fields"][0]["name"].startswith("patches[")
    assert device_snapshot(device.id) == before


def test_patch_metadata_copies_within_limit_accepted(api_client):
    device = DeviceFactory(metadata={"a": "x" * 10})
    operations = [{"op": "copy", "from": "", "path": f"/c{index}"} for index in range(8)]

    response = patch_metadata(api_client, device.id, operations)

    assert response.status_code == 200, response.content
    assert json_size(Device.objects.get(pk=device.id).metadata) < settings.DEVMANAGER_METADATA_MAX_BYTES


def test_put_metadata_over_limit_validation_error(api_client):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = put_metadata(api_client, device.id, {"metadata": {"blob": filler(65_537, {})}})

    assert_error(response, 400, "validation_error", field="metadata")
    assert device_snapshot(device.id) == before


def test_patch_metadata_result_not_object_validation_error(api_client):
    device = DeviceFactory(metadata=SENSORS)
    before = device_snapshot(device.id)

    response = patch_metadata(api_client, device.id, [{"op": "replace", "path": "", "value": [1, 2]}])

    assert_error(response, 400, "validation_error", field="metadata")
    assert device_snapshot(device.id) == before


# --- Events -----------------------------------------------------------------------------------------------------


def test_patch_metadata_many_operations_one_event(api_key):
    device = DeviceFactory(metadata=SENSORS)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key(scopes=['devices:write'], name='inventory-sync')}")
    operations = [{"op": "add", "path": f"/k{index}", "value": index} for index in range(5)]

    response = patch_metadata(client, device.id, operations)

    assert response.status_code == 200
    [event] = metadata_events(device.id)
    assert (event.source, event.description) == ("inventory-sync", "Metadata patched (5 operation(s))")
    assert list(response.json()["events"].values())[-1] == {
        "type": "METADATA-UPDATED",
        "description": "Metadata patched (5 operation(s))",
    }


def test_metadata_each_change_records_one_event(api_client):
    device = DeviceFactory(metadata={})
    version = Device.objects.get(pk=device.id).version

    put_metadata(api_client, device.id, {"metadata": {"a": 1}})
    put_metadata(api_client, device.id, {"patches": [{"op": "add", "path": "/b", "value": 2}]})
    patch_metadata(api_client, device.id, [{"op": "remove", "path": "/a"}])

    events = metadata_events(device.id)
    assert [(event.description, event.source) for event in events] == [
        ("Metadata replaced", "test-key"),
        ("Metadata patched (1 operation(s))", "test-key"),
        ("Metadata patched (1 operation(s))", "test-key"),
    ]
    after = Device.objects.get(pk=device.id)
    assert after.metadata == {"b": 2}
    assert after.version == version + 3


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "test", "path": "/location", "value": "warehouse-a"}],
        [{"op": "replace", "path": "/location", "value": "warehouse-a"}],
        [{"op": "add", "path": "/tmp", "value": 1}, {"op": "remove", "path": "/tmp"}],
        [{"op": "move", "from": "/location", "path": "/location"}],
        [{"op": "copy", "from": "/location", "path": "/location"}],
        [],
    ],
)
def test_patch_metadata_no_op_records_nothing(api_client, operations):
    device = DeviceFactory(metadata={"location": "warehouse-a", "n": 1})
    etag = get_etag(api_client, device.id)
    before = device_snapshot(device.id)

    response = patch_metadata(api_client, device.id, operations)

    assert response.status_code == 200
    assert response["ETag"] == etag
    assert device_snapshot(device.id) == before


def test_put_metadata_identical_records_nothing(api_client):
    device = DeviceFactory(metadata={"location": "warehouse-a", "site": {"a": 1, "b": [1, None]}})
    etag = get_etag(api_client, device.id)
    before = device_snapshot(device.id)

    response = put_metadata(
        api_client, device.id, {"metadata": {"site": {"b": [1, None], "a": 1}, "location": "warehouse-a"}}
    )

    assert response.status_code == 200
    assert response["ETag"] == etag
    assert device_snapshot(device.id) == before


@pytest.mark.parametrize(("old", "new"), [(1, True), (0, False), (True, 1), (1, 1.5), ("1", 1), (None, False)])
def test_patch_metadata_value_of_other_json_type_is_a_change(api_client, old, new):
    """1 and true are different JSON values, though Python calls them equal."""
    device = DeviceFactory(metadata={"v": old})

    response = patch_metadata(api_client, device.id, [{"op": "replace", "path": "/v", "value": new}])

    assert response.status_code == 200
    stored = Device.objects.get(pk=device.id).metadata["v"]
    assert stored == new and type(stored) is type(new)
    assert len(metadata_events(device.id)) == 1


# --- Decommissioned devices -------------------------------------------------------------------------------------


def test_patch_metadata_decommissioned_device_still_editable(api_client):
    device = DeviceFactory(metadata={"location": "warehouse-a"})
    services.device_decommission(device_id=device.id, source="test")

    response = patch_metadata(api_client, device.id, [{"op": "add", "path": "/disposal", "value": "recycled"}])

    assert response.status_code == 200, response.content
    after = Device.objects.get(pk=device.id)
    assert after.metadata == {"location": "warehouse-a", "disposal": "recycled"}
    assert after.status == DeviceStatus.DECOMMISSIONED
    assert len(metadata_events(device.id)) == 1


def test_put_metadata_decommissioned_device_still_editable(api_client):
    device = DeviceFactory()
    services.device_decommission(device_id=device.id, source="test")

    response = put_metadata(api_client, device.id, {"metadata": {"archived": True}})

    assert response.status_code == 200
    assert response.json()["status"] == "DECOMMISSIONED"
    assert Device.objects.get(pk=device.id).metadata == {"archived": True}
    assert len(metadata_events(device.id)) == 1


# --- Refusals: existence, scope ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_metadata_unknown_device_not_found(api_client, method):
    body = {"patches": [{"op": "add", "path": "/a", "value": 1}]}

    response = getattr(api_client, method)(metadata_url("no-such-device"), body, format="json")

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("method", ["put", "patch"])
def test_metadata_read_scope_access_denied(client_with_scopes, method):
    device = DeviceFactory()
    before = device_snapshot(device.id)
    body = {"patches": [{"op": "add", "path": "/a", "value": 1}]}

    response = getattr(client_with_scopes("devices:read"), method)(metadata_url(device.id), body, format="json")

    assert_error(response, 403, "access_denied")
    assert device_snapshot(device.id) == before


def test_metadata_without_key_invalid_auth(anon_client):
    device = DeviceFactory()

    response = patch_metadata(anon_client, device.id, [{"op": "add", "path": "/a", "value": 1}])

    assert_error(response, 401, "invalid_auth")


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_metadata_other_methods_not_supported(api_client, method):
    device = DeviceFactory()

    response = getattr(api_client, method)(metadata_url(device.id))

    assert_error(response, 405, "method_not_supported")


def test_patch_metadata_unusual_id(api_client):
    DeviceFactory(id="Gerät 100% #1", metadata={})

    response = patch_metadata(api_client, "Gerät 100% #1", [{"op": "add", "path": "/a", "value": 1}])

    assert response.status_code == 200
    assert Device.objects.get(pk="Gerät 100% #1").metadata == {"a": 1}


# --- If-Match ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("put", {"metadata": {"a": 1}}),
        ("put", {"patches": [{"op": "add", "path": "/a", "value": 1}]}),
        ("patch", {"patches": [{"op": "add", "path": "/a", "value": 1}]}),
    ],
)
def test_metadata_stale_if_match_precondition_failed(api_client, method, body):
    device = DeviceFactory(metadata={"location": "warehouse-a"})
    stale = get_etag(api_client, device.id)
    patch_metadata(api_client, device.id, [{"op": "add", "path": "/floor", "value": 1}])
    before = device_snapshot(device.id)

    response = getattr(api_client, method)(metadata_url(device.id), body, format="json", HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert device_snapshot(device.id) == before


def test_patch_metadata_bare_array_stale_if_match_precondition_failed(api_client):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = api_client.patch(
        metadata_url(device.id),
        json.dumps([{"op": "add", "path": "/a", "value": 1}]),
        content_type=JSON_PATCH,
        HTTP_IF_MATCH='"0-0"',
    )

    assert_error(response, 412, "precondition_failed")
    assert device_snapshot(device.id) == before


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", {"metadata": {"a": 1}}), ("patch", {"patches": [{"op": "add", "path": "/a", "value": 1}]})],
)
def test_metadata_current_if_match_new_etag_in_answer(api_client, method, body):
    device = DeviceFactory(metadata={})
    etag = get_etag(api_client, device.id)

    response = getattr(api_client, method)(metadata_url(device.id), body, format="json", HTTP_IF_MATCH=etag)

    assert response.status_code == 200
    assert response["ETag"] != etag
    assert response["ETag"] == get_etag(api_client, device.id)
    assert Device.objects.get(pk=device.id).metadata == {"a": 1}


def test_metadata_stale_if_match_failing_test_precondition_failed_first(api_client):
    device = DeviceFactory(metadata={"location": "warehouse-a"})

    response = patch_metadata(
        api_client, device.id, [{"op": "test", "path": "/location", "value": "x"}], HTTP_IF_MATCH='"stale"'
    )

    assert_error(response, 412, "precondition_failed")


def test_metadata_weak_if_match_precondition_failed(api_client):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = patch_metadata(
        api_client, device.id, [{"op": "add", "path": "/a", "value": 1}], HTTP_IF_MATCH=f"W/{etag}"
    )

    assert_error(response, 412, "precondition_failed")
