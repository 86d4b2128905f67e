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


def test_every_creation_answers_the_location_it_declares(api_client, settings):
    settings.DEVMANAGER_WEBHOOK_ALLOW_PRIVATE = True
    api_client.post(f"{API}/devices", {"id": "located"}, format="json")
    created = {
        "/api/devmanager/v1/devices/{device_id}/network-adapters": api_client.post(
            f"{API}/devices/located/network-adapters", {"type": "lora", "dev_eui": "0004A30B001C0530"}, format="json"
        ),
        "/api/devmanager/v1/webhooks": api_client.post(
            f"{API}/webhooks", {"url": "https://127.0.0.1:9/in", "event_types": ["device.*"]}, format="json"
        ),
        "/api/devmanager/v1/api-keys": api_client.post(
            f"{API}/api-keys", {"name": "k", "scopes": ["devices:read"]}, format="json"
        ),
        "/api/devmanager/v1/device-actions": api_client.post(
            f"{API}/device-actions", {"action": "add_tags", "params": {"tags": ["x"]}, "filter": ["id[eq]:located"]},
            format="json",
        ),
    }  # fmt: skip

    for path, answer in created.items():
        assert answer.status_code in (201, 202), answer.json()
        assert_conforms(answer, path)  # the declared Location is there
        assert answer["Location"] == f"http://testserver{path.replace('{device_id}', 'located')}/{answer.json()['id']}"
        if "network-adapters" not in path:  # an adapter's URL is for PUT and DELETE
            assert api_client.get(answer["Location"]).status_code == 200


def test_a_pruned_feed_position_answers_the_gone_it_declares(api_client):
    from events.models import FeedCounter

    api_client.post(f"{API}/devices", {"id": "pruned"}, format="json")
    FeedCounter.objects.filter(pk=1).update(pruned_through=1)

    gone = api_client.get(f"{API}/events", {"after": "0"})

    assert gone.status_code == 410
    assert_conforms(gone, "/api/devmanager/v1/events")
