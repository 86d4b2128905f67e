"""Changing a device's alias, tags, icon, icon colour and DMS: `PATCH` and `PUT /devices/{id}` (contract, section 9)."""

import pytest

from devices import services
from devices.choices import EventType
from devices.models import Device, DeviceEvent
from events.models import Event
from tests.conftest import API, assert_error
from tests.helpers import device_url, get_etag

pytestmark = pytest.mark.django_db

MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture
def device():
    return services.device_create(
        id="pump-1", source="test", alias="Pump", tags=["a", "b"], icon="drop", icon_color="#00F", dms_owner="dms-1"
    )


def merge_patch(client, device_id: str, body: str, **extra):
    return client.patch(device_url(device_id), body, content_type=MERGE_PATCH, **extra)


def history(device_id: str) -> list[tuple[str, str]]:
    events = DeviceEvent.objects.filter(device_id=device_id).order_by("timestamp")
    return [(event.type, event.description) for event in events]


def feed(after: int = 0) -> list[tuple[str, str, dict]]:
    import orjson

    events = Event.objects.filter(position__gt=after).order_by("position")
    return [(event.type, event.subject, orjson.loads(event.data)) for event in events]


def last_position() -> int:
    return Event.objects.order_by("-position").values_list("position", flat=True).first() or 0


def test_merge_patch_changes_the_fields_given_and_records_one_updated_event(api_client, device):
    before, etag = last_position(), get_etag(api_client, "pump-1")

    response = merge_patch(api_client, "pump-1", '{"alias": "Main pump", "tags": ["b", "c"], "dms_id": "dms-2"}')

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["alias"], body["tags"], body["dms_owner"], body["icon"]) == ("Main pump", ["b", "c"], "dms-2", "drop")
    assert response["ETag"] != etag
    assert body["updated_timestamp"] > body["creation_timestamp"]
    assert history("pump-1")[-1] == (EventType.UPDATED, "Updated: alias, tags, dms_owner")
    [(type, subject, data)] = feed(before)
    assert (type, subject) == ("device.updated", "pump-1")
    assert data["changes"] == {
        "alias": {"old": "Pump", "new": "Main pump"},
        "tags": {"old": ["a", "b"], "new": ["b", "c"]},
        "dms_owner": {"old": "dms-1", "new": "dms-2"},
    }
    assert data["device"]["alias"] == "Main pump"
    # The tag filters follow the new tags.
    found = api_client.get(f"{API}/devices", {"filter": "tags[ct]:c"}).json()["list"]
    assert [found_device["id"] for found_device in found] == ["pump-1"]
    assert api_client.get(f"{API}/devices", {"filter": "tags[ct]:a"}).json()["list"] == []


def test_plain_json_is_a_merge_patch_too(api_client, device):
    response = api_client.patch(device_url("pump-1"), {"icon_color": "#112233"}, format="json")

    assert response.status_code == 200
    assert response.json()["icon_color"] == "#112233"
    assert history("pump-1")[-1] == (EventType.UPDATED, "Updated: icon_color")


def test_null_in_a_merge_patch_sets_the_field_back_to_its_default(api_client, device):
    response = merge_patch(api_client, "pump-1", '{"alias": null, "tags": null, "dms_owner": null}')

    assert response.status_code == 200
    body = response.json()
    assert (body["alias"], body["tags"], body["dms_owner"], body["icon"]) == ("", [], "", "drop")


def test_put_replaces_all_five_fields(api_client, device):
    response = api_client.put(device_url("pump-1"), {"alias": "New", "dms_id": "dms-3"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["alias"], body["tags"], body["icon"], body["icon_color"], body["dms_owner"]) == (
        "New", [], "", "", "dms-3",
    )  # fmt: skip
    assert history("pump-1")[-1] == (EventType.UPDATED, "Updated: alias, tags, icon, icon_color, dms_owner")


def test_a_body_that_changes_nothing_records_nothing(api_client, device):
    before, etag = last_position(), get_etag(api_client, "pump-1")

    for response in (
        merge_patch(api_client, "pump-1", '{"alias": "Pump", "tags": ["a", "b"]}'),
        merge_patch(api_client, "pump-1", "{}"),
        api_client.put(
            device_url("pump-1"),
            {"alias": "Pump", "tags": ["a", "b"], "icon": "drop", "icon_color": "#00F", "dms_owner": "dms-1"},
            format="json",
        ),
    ):
        assert response.status_code == 200
        assert response["ETag"] == etag

    assert last_position() == before
    assert history("pump-1") == [(EventType.CREATED, "Device created")]


def test_the_same_tags_in_another_order_are_a_change(api_client, device):
    response = merge_patch(api_client, "pump-1", '{"tags": ["b", "a"]}')

    assert response.json()["tags"] == ["b", "a"]
    assert history("pump-1")[-1] == (EventType.UPDATED, "Updated: tags")


def test_if_match_is_honoured(api_client, device):
    etag = get_etag(api_client, "pump-1")
    services.device_replace_metadata(device_id="pump-1", metadata={"x": 1}, source="test")

    stale = merge_patch(api_client, "pump-1", '{"alias": "Late"}', HTTP_IF_MATCH=etag)

    assert_error(stale, 412, "precondition_failed")
    assert Device.objects.get(pk="pump-1").alias == "Pump"
    current = get_etag(api_client, "pump-1")
    assert merge_patch(api_client, "pump-1", '{"alias": "Now"}', HTTP_IF_MATCH=current).status_code == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ('{"id": "other"}', "id"),
        ('{"metadata": {}}', "metadata"),
        ('{"status": "ACTIVE"}', "status"),
        ('{"tags": ["a", "a"]}', "tags[1]"),
        ('{"tags": "a"}', "tags"),
        ('{"tags": [""]}', "tags[0]"),
        ('{"tags": [' + ",".join(f'"t{n}"' for n in range(51)) + "]}", "tags"),
        ('{"alias": 5}', "alias"),
        ('{"alias": "' + "x" * 256 + '"}', "alias"),
        ('{"icon_color": "red"}', "icon_color"),
        ('{"dms_id": "a/b"}', "dms_id"),
        ('{"dms_id": "a", "dms_owner": "b"}', "dms_owner"),
        ('{"alias": "a\\u0000b"}', "alias"),
    ],
)
def test_bad_fields_are_400_and_change_nothing(api_client, device, body, field):
    before = last_position()

    for response in (
        merge_patch(api_client, "pump-1", body),
        api_client.put(device_url("pump-1"), body, content_type="application/json"),
    ):
        assert_error(response, 400, "validation_error", field)

    assert Device.objects.get(pk="pump-1").alias == "Pump"
    assert last_position() == before


@pytest.mark.parametrize("body", ["[]", '"alias"', "null"])
def test_a_body_that_is_not_an_object_is_400(api_client, device, body):
    assert_error(merge_patch(api_client, "pump-1", body), 400, "validation_error", "body")
    assert Device.objects.get(pk="pump-1").version == 1


def test_malformed_json_is_400(api_client, device):
    assert_error(merge_patch(api_client, "pump-1", '{"alias": '), 400, "bad_request")


def test_an_unknown_device_is_404_and_an_adapter_identifier_names_one(api_client, device):
    assert_error(merge_patch(api_client, "nope", '{"alias": "x"}'), 404, "not_found")


def test_updates_need_devices_write(client_with_scopes, device):
    reader = client_with_scopes("devices:read")

    response = reader.patch(device_url("pump-1"), '{"alias": "x"}', content_type=MERGE_PATCH)

    assert_error(response, 403, "access_denied")


def test_a_decommissioned_device_can_still_be_renamed(api_client, device):
    services.device_decommission(device_id="pump-1", source="test")

    response = merge_patch(api_client, "pump-1", '{"alias": "Retired pump"}')

    assert response.status_code == 200
    assert response.json()["status"] == "DECOMMISSIONED"
