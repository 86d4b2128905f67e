"""JSON no database stores: U+0000 in any JSON a client sends (PostgreSQL cannot store it) and nesting deeper than
100 levels. Every path refuses it alike, on both databases, with a 400 naming the field (or a form error, or a
failed import row), and nothing is stored."""

import json

import pytest
from django.urls import reverse

from devices.models import Device
from tests.admin_pages import change_form_data, device_change_url
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory
from tests.helpers import device_snapshot

pytestmark = pytest.mark.django_db

NUL = "\x00"


@pytest.mark.parametrize(
    ("metadata", "where"),
    [
        ({"name": f"a{NUL}b"}, "/name"),
        ({f"ke{NUL}y": 1}, "/ke\\u0000y"),
        ({"sensors": [{"type": "t"}, {"labels": ["x", NUL]}]}, "/sensors/1/labels/1"),
        ({"a": {"b": {f"{NUL}": None}}}, "/a/b/\\u0000"),
    ],
)
def test_create_with_nul_in_metadata_is_400(api_client, metadata, where):
    response = api_client.post(f"{API}/devices", {"id": "d-1", "metadata": metadata}, format="json")

    body = assert_error(response, 400, "validation_error", field="metadata")
    assert where in body["fields"][0]["message"]
    assert not Device.objects.filter(pk="d-1").exists()


def test_put_metadata_with_nul_is_400(api_client):
    DeviceFactory(id="d-1")
    before = device_snapshot("d-1")

    response = api_client.put(f"{API}/devices/d-1/metadata", {"metadata": {"k": [NUL]}}, format="json")

    assert_error(response, 400, "validation_error", field="metadata")
    assert device_snapshot("d-1") == before


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "add", "path": "/k", "value": f"x{NUL}"},
        {"op": "add", "path": "/k", "value": {f"{NUL}": 1}},
        {"op": "replace", "path": "/location", "value": [NUL]},
        {"op": "add", "path": f"/k{NUL}", "value": 1},
        {"op": "copy", "from": "/location", "path": f"/{NUL}"},
    ],
)
def test_patch_with_nul_is_400_naming_the_operation(api_client, operation):
    DeviceFactory(id="d-1")
    before = device_snapshot("d-1")

    response = api_client.patch(f"{API}/devices/d-1/metadata", {"patches": [operation]}, format="json")

    assert_error(response, 400, "validation_error", field="patches[0]")
    assert device_snapshot("d-1") == before


def test_json_patch_body_with_nul_is_400(api_client):
    DeviceFactory(id="d-1")
    before = device_snapshot("d-1")

    response = api_client.patch(
        f"{API}/devices/d-1/metadata",
        json.dumps([{"op": "add", "path": "/k", "value": NUL}]),
        content_type="application/json-patch+json",
    )

    assert_error(response, 400, "validation_error", field="patches[0]")
    assert device_snapshot("d-1") == before


@pytest.mark.parametrize("versions", [{"1": f"pem{NUL}"}, {"1": {f"serial{NUL}": "01"}}, {"2": [{"a": NUL}]}])
def test_slot_versions_with_nul_is_400(api_client, versions):
    DeviceFactory(id="d-1")
    before = device_snapshot("d-1")
    body = {"status": "ACTIVE", "active_version": 1, "type": "X509", "versions": versions}

    response = api_client.put(f"{API}/devices/d-1/idslot", body, format="json")

    assert_error(response, 400, "validation_error", field="versions")
    assert device_snapshot("d-1") == before


def nested(depth: int):
    value = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_slot_versions_nested_too_deep_is_400(api_client):
    DeviceFactory(id="d-1")
    body = {"status": "ACTIVE", "active_version": 1, "type": "X509", "versions": {"1": nested(100)}}

    response = api_client.put(f"{API}/devices/d-1/idslot", body, format="json")

    assert "100 levels" in assert_error(response, 400, "validation_error", field="versions")["message"]
    body["versions"] = {"1": nested(98)}
    assert api_client.put(f"{API}/devices/d-1/idslot", body, format="json").status_code == 200


def test_text_that_spells_an_escape_is_no_nul(api_client):
    # The text `\u0000` (backslash, u, four digits) is no NUL: stored and shown as sent.
    response = api_client.post(f"{API}/devices", {"id": "d-1", "metadata": {"k": "\\u0000"}}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["metadata"] == {"k": "\\u0000"}


def test_admin_add_form_refuses_nul_in_metadata(admin_client):
    response = admin_client.post(
        reverse("admin:devices_device_add"),
        {"id": "admin-made", "metadata_text": '{"k": "a\\u0000b"}', "_save": "Save"},
    )

    assert response.status_code == 200
    assert "U+0000" in str(response.context["adminform"].form.errors["metadata_text"])
    assert not Device.objects.filter(pk="admin-made").exists()


def test_admin_metadata_form_refuses_nul(admin_client):
    DeviceFactory(id="d-1")
    before = device_snapshot("d-1")
    data = {**change_form_data(admin_client, "d-1"), "metadata_json": '{"\\u0000": 1}'}

    response = admin_client.post(device_change_url("d-1"), data)

    assert response.status_code == 200
    assert "U+0000" in str(response.context["adminform"].form.errors["metadata_json"])
    assert device_snapshot("d-1") == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/devices", {"id": f"a{NUL}"}, "id"),
        ("/devices", {"id": "d-2", "dms_id": f"dms{NUL}"}, "dms_id"),
        ("/devices", {"id": "d-2", "tags": [f"t{NUL}"]}, "tags[0]"),
        ("/devices", {"id": "d-2", "alias": NUL}, "alias"),
        ("/device-groups", {"name": f"g{NUL}"}, "name"),
        ("/devices/d-1/network-adapters", {"type": "generic", "description": NUL}, "description"),
    ],
)
def test_nul_in_text_is_refused_in_the_same_words_once(api_client, path, body, field):
    DeviceFactory(id="d-1")

    error = assert_error(api_client.post(f"{API}{path}", body, format="json"), 400, "validation_error", field)

    assert [item["message"] for item in error["fields"]] == ["must not contain the character U+0000 (NUL)"]


def test_nul_in_a_filter_is_refused_in_the_same_words(api_client):
    error = assert_error(api_client.get(f"{API}/devices", {"filter": f"id[eq]:{NUL}"}), 400, "validation_error")

    assert "must not contain the character U+0000 (NUL)" in error["fields"][0]["message"]
