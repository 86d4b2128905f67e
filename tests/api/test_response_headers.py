"""The answers carry the headers the OpenAPI document declares (ETag, Location, WWW-Authenticate, the 304), checked
with schemathesis' conformance checks as the fuzzer applies them."""

import pytest

from tests.conftest import API
from tests.openapi import assert_conforms

pytestmark = pytest.mark.django_db


def test_device_answers_conform_to_their_declared_headers(api_client, anon_client):
    created = api_client.post(f"{API}/devices", {"id": "conform-1"}, format="json")
    assert_conforms(created, "/api/devmanager/v1/devices")
    read = api_client.get(f"{API}/devices/conform-1")
    assert_conforms(read, "/api/devmanager/v1/devices/{device_id}")
    unchanged = api_client.get(f"{API}/devices/conform-1", HTTP_IF_NONE_MATCH=read["ETag"])
    assert unchanged.status_code == 304
    assert_conforms(unchanged, "/api/devmanager/v1/devices/{device_id}")
    patched = api_client.put(f"{API}/devices/conform-1/metadata", {"metadata": {"a": 1}}, format="json")
    assert_conforms(patched, "/api/devmanager/v1/devices/{device_id}/metadata")
    unauthenticated = anon_client.get(f"{API}/devices/conform-1")
    assert unauthenticated.status_code == 401
    assert_conforms(unauthenticated, "/api/devmanager/v1/devices/{device_id}")


def test_group_answers_conform_to_their_declared_headers(api_client):
    created = api_client.post(f"{API}/device-groups", {"name": "g"}, format="json")
    assert_conforms(created, "/api/devmanager/v1/device-groups")
    path = f"{API}/device-groups/{created.json()['id']}"
    read = api_client.get(path)
    assert_conforms(read, "/api/devmanager/v1/device-groups/{group_id}")
    unchanged = api_client.get(path, HTTP_IF_NONE_MATCH=read["ETag"])
    assert unchanged.status_code == 304
    assert_conforms(unchanged, "/api/devmanager/v1/device-groups/{group_id}")
    assert_conforms(api_client.put(path, {"name": "h"}, format="json"), "/api/devmanager/v1/device-groups/{group_id}")
