"""Reading, deleting and decommissioning one device: `GET`, `DELETE /devices/{id}` and `.../decommission`."""

import re
import threading
from datetime import timedelta
from itertools import pairwise

import pytest
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory
from tests.helpers import device_snapshot, device_url, get_etag

pytestmark = pytest.mark.django_db

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
DEVICE_KEYS = {
    "id",
    "alias",
    "tags",
    "status",
    "icon",
    "icon_color",
    "creation_timestamp",
    "updated_timestamp",
    "metadata",
    "dms_owner",
    "identity",
    "slots",
    "events",
}


def record_events(device: Device, count: int) -> None:
    """Append `count` events the way every service does: inside a transaction holding the device's row lock."""
    with transaction.atomic():
        locked = services.device_lock(device_id=device.pk)
        for index in range(count):
            services.device_record_event(
                device=locked, type=EventType.METADATA_UPDATED, description=f"change {index}", source="test"
            )


def set_identity_slot(device: Device, slot_status: str) -> None:
    """Give the device an identity slot directly in the database (the idslot endpoint is tested elsewhere)."""
    slot = {
        "status": slot_status,
        "active_version": 1,
        "type": "X509",
        "versions": {"1": "serial-0001"},
        "expiration_date": "2030-01-01T00:00:00.000000Z",
    }
    Device.objects.filter(pk=device.pk).update(slots={"default": slot}, status=slot_status)


# --- GET /devices/{id} ------------------------------------------------------------------------------------------


def test_get_device_returns_strong_etag(api_client):
    device = DeviceFactory()

    response = api_client.get(device_url(device.id))

    assert response.status_code == 200
    etag = response["ETag"]
    assert re.fullmatch(r'"[^"]+"', etag), etag
    assert not etag.startswith("W/")
    assert etag == Device.objects.get(pk=device.id).etag


def test_get_device_body_has_contract_shape(api_client):
    device = DeviceFactory(
        id="device-12345",
        alias="Warehouse Temperature Sensor",
        tags=["sensor", "temperature"],
        metadata={"location": "warehouse-a"},
        dms_owner="dms-production",
        icon="thermometer",
        icon_color="#FF5733",
    )

    body = api_client.get(device_url(device.id)).json()

    assert set(body) == DEVICE_KEYS
    assert body["id"] == "device-12345"
    assert body["alias"] == "Warehouse Temperature Sensor"
    assert body["tags"] == ["sensor", "temperature"]
    assert body["status"] == "NO_IDENTITY"
    assert body["icon"] == "thermometer"
    assert body["icon_color"] == "#FF5733"
    assert body["metadata"] == {"location": "warehouse-a"}
    assert body["dms_owner"] == "dms-production"
    assert body["identity"] is None
    assert body["slots"] == {}
    assert list(body["events"].values()) == [{"type": "CREATED", "description": "Device created"}]


def test_get_device_timestamps_rfc3339_utc(api_client):
    device = DeviceFactory()
    stored = Device.objects.get(pk=device.id)

    body = api_client.get(device_url(device.id)).json()

    assert RFC3339_UTC.fullmatch(body["creation_timestamp"]), body["creation_timestamp"]
    assert RFC3339_UTC.fullmatch(body["updated_timestamp"]), body["updated_timestamp"]
    assert body["creation_timestamp"] == stored.creation_timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert all(RFC3339_UTC.fullmatch(timestamp) for timestamp in body["events"])


def test_get_device_identity_is_default_slot(api_client):
    device = DeviceFactory()
    set_identity_slot(device, "ACTIVE")

    body = api_client.get(device_url(device.id)).json()

    assert body["status"] == "ACTIVE"
    assert body["identity"] == body["slots"]["default"]
    assert set(body["identity"]) == {"status", "active_version", "type", "versions", "expiration_date"}
    assert body["identity"]["status"] == "ACTIVE"


def test_get_device_events_hold_twenty_most_recent(api_client):
    device = DeviceFactory()
    record_events(device, 25)
    newest_twenty = list(DeviceEvent.objects.filter(device=device).order_by("-timestamp")[:20])

    events = api_client.get(device_url(device.id)).json()["events"]

    assert DeviceEvent.objects.filter(device=device).count() == 26
    assert len(events) == 20
    assert set(events) == {event.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for event in newest_twenty}
    assert "CREATED" not in {event["type"] for event in events.values()}
    assert {event["description"] for event in events.values()} == {f"change {index}" for index in range(5, 25)}


def test_get_device_events_under_limit_all_shown(api_client):
    device = DeviceFactory()
    record_events(device, 3)

    events = api_client.get(device_url(device.id)).json()["events"]

    assert [event["type"] for event in events.values()] == ["CREATED", *["METADATA-UPDATED"] * 3]


def test_get_device_events_limit_applies_per_device(api_client):
    busy, quiet = DeviceFactory(), DeviceFactory()
    record_events(busy, 30)

    events = api_client.get(device_url(quiet.id)).json()["events"]

    assert [event["type"] for event in events.values()] == ["CREATED"]


def test_get_device_if_none_match_current_not_modified(api_client):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = api_client.get(device_url(device.id), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""


def test_get_device_if_none_match_in_list_not_modified(api_client):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = api_client.get(device_url(device.id), HTTP_IF_NONE_MATCH=f'"stale", {etag}')

    assert response.status_code == 304


def test_get_device_if_none_match_weak_form_not_modified(api_client):
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): a proxy may have weakened the tag."""
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = api_client.get(device_url(device.id), HTTP_IF_NONE_MATCH=f"W/{etag}")

    assert response.status_code == 304


def test_get_device_if_none_match_star_not_modified(api_client):
    device = DeviceFactory()

    response = api_client.get(device_url(device.id), HTTP_IF_NONE_MATCH="*")

    assert response.status_code == 304


def test_get_device_if_none_match_stale_returns_body(api_client):
    device = DeviceFactory()
    stale = get_etag(api_client, device.id)
    services.device_decommission(device_id=device.id, source="test")

    response = api_client.get(device_url(device.id), HTTP_IF_NONE_MATCH=stale)

    assert response.status_code == 200
    assert response["ETag"] != stale
    assert response.json()["status"] == "DECOMMISSIONED"


def test_get_device_unknown_id_not_found(api_client):
    response = api_client.get(device_url("no-such-device"))

    assert_error(response, 404, "not_found")


def test_get_device_etag_differs_for_reused_id(api_client):
    device = DeviceFactory(id="reused")
    first = get_etag(api_client, "reused")
    services.device_delete(device_id=device.id, force=True)
    DeviceFactory(id="reused")

    assert get_etag(api_client, "reused") != first


@pytest.mark.parametrize(
    "device_id",
    [
        "with space",
        " leading-and-trailing ",
        "ünïcødé-Gerät-温度计",
        "emoji-📟",
        "100%",
        "percent%2Fslash",
        "a+b",
        "query?x=1",
        "hash#1",
        "semi;colon",
        "back\\slash",
        "dots...",
        "decommission",
    ],
)
def test_get_device_unusual_id_round_trips(api_client, device_id):
    DeviceFactory(id=device_id)

    response = api_client.get(device_url(device_id))

    assert response.status_code == 200, response.content
    assert response.json()["id"] == device_id


def test_get_device_unusual_id_location_resolves(api_client):
    created = api_client.post(f"{API}/devices", {"id": "Gerät 100% #1"}, format="json")

    response = api_client.get(created["Location"])

    assert response.status_code == 200
    assert response.json()["id"] == "Gerät 100% #1"


def test_get_device_read_scope_enough(client_with_scopes):
    device = DeviceFactory()

    response = client_with_scopes("devices:read").get(device_url(device.id))

    assert response.status_code == 200


def test_get_device_groups_scope_access_denied(client_with_scopes):
    device = DeviceFactory()

    response = client_with_scopes("groups:read", "groups:write").get(device_url(device.id))

    assert_error(response, 403, "access_denied")


def test_get_device_without_key_invalid_auth(anon_client):
    device = DeviceFactory()

    assert_error(anon_client.get(device_url(device.id)), 401, "invalid_auth")


# --- DELETE /devices/{id} ---------------------------------------------------------------------------------------


def test_delete_device_not_decommissioned_conflict(api_client):
    device = DeviceFactory()

    response = api_client.delete(device_url(device.id))

    assert_error(response, 409, "conflict")
    assert Device.objects.filter(pk=device.id).exists()
    assert DeviceEvent.objects.filter(device_id=device.id).count() == 1


@pytest.mark.parametrize("slot_status", ["ACTIVE", "EXPIRED", "REVOKED"])
def test_delete_device_with_identity_not_decommissioned_conflict(api_client, slot_status):
    device = DeviceFactory()
    set_identity_slot(device, slot_status)

    response = api_client.delete(device_url(device.id))

    assert_error(response, 409, "conflict")
    assert Device.objects.filter(pk=device.id).exists()


def test_delete_device_force_removes_device_events_and_tags(api_client):
    device = DeviceFactory(tags=["a", "b", "c"])
    record_events(device, 3)
    other = DeviceFactory(tags=["a"])

    response = api_client.delete(device_url(device.id), QUERY_STRING="force=true")

    assert response.status_code == 204
    assert response.content == b""
    assert not Device.objects.filter(pk=device.id).exists()
    assert not DeviceEvent.objects.filter(device_id=device.id).exists()
    assert DeviceEvent.objects.filter(device_id=other.id).count() == 1


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_delete_device_force_true_spellings_accepted(api_client, value):
    device = DeviceFactory()

    response = api_client.delete(device_url(device.id), QUERY_STRING=f"force={value}")

    assert response.status_code == 204
    assert not Device.objects.filter(pk=device.id).exists()


def test_delete_device_force_false_conflict(api_client):
    device = DeviceFactory()

    response = api_client.delete(device_url(device.id), QUERY_STRING="force=false")

    assert_error(response, 409, "conflict")
    assert Device.objects.filter(pk=device.id).exists()


@pytest.mark.parametrize("value", ["maybe", "", "tru"])
def test_delete_device_force_invalid_validation_error(api_client, value):
    device = DeviceFactory()

    response = api_client.delete(device_url(device.id), QUERY_STRING=f"force={value}")

    assert_error(response, 400, "validation_error", field="force")
    assert Device.objects.filter(pk=device.id).exists()


def test_delete_device_decommissioned_no_content(api_client):
    device = DeviceFactory(tags=["x"])
    services.device_decommission(device_id=device.id, source="test")

    response = api_client.delete(device_url(device.id))

    assert response.status_code == 204
    assert not Device.objects.filter(pk=device.id).exists()
    assert not DeviceEvent.objects.filter(device_id=device.id).exists()


def test_delete_device_then_get_not_found(api_client):
    device = DeviceFactory()
    api_client.delete(device_url(device.id), QUERY_STRING="force=true")

    assert_error(api_client.get(device_url(device.id)), 404, "not_found")


def test_delete_device_unknown_id_not_found(api_client):
    response = api_client.delete(device_url("no-such-device"), QUERY_STRING="force=true")

    assert_error(response, 404, "not_found")


def test_delete_device_unusual_id(api_client):
    DeviceFactory(id="Gerät 100% #1")

    response = api_client.delete(device_url("Gerät 100% #1"), QUERY_STRING="force=true")

    assert response.status_code == 204
    assert not Device.objects.exists()


def test_delete_device_stale_if_match_precondition_failed(api_client):
    device = DeviceFactory()
    services.device_decommission(device_id=device.id, source="test")
    stale = Device.objects.get(pk=device.id).etag
    Device.objects.filter(pk=device.id).update(version=Device.objects.get(pk=device.id).version + 1)

    response = api_client.delete(device_url(device.id), HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert Device.objects.filter(pk=device.id).exists()


def test_delete_device_force_stale_if_match_precondition_failed(api_client):
    device = DeviceFactory()
    stale = get_etag(api_client, device.id)
    services.device_decommission(device_id=device.id, source="test")
    before = device_snapshot(device.id)

    response = api_client.delete(device_url(device.id), QUERY_STRING="force=true", HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert device_snapshot(device.id) == before


def test_delete_device_current_if_match_no_content(api_client):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = api_client.delete(device_url(device.id), QUERY_STRING="force=true", HTTP_IF_MATCH=etag)

    assert response.status_code == 204
    assert not Device.objects.filter(pk=device.id).exists()


def test_delete_device_if_match_star_no_content(api_client):
    device = DeviceFactory()

    response = api_client.delete(device_url(device.id), QUERY_STRING="force=true", HTTP_IF_MATCH="*")

    assert response.status_code == 204
    assert not Device.objects.filter(pk=device.id).exists()


def test_delete_device_if_match_list_with_current_no_content(api_client):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = api_client.delete(device_url(device.id), QUERY_STRING="force=true", HTTP_IF_MATCH=f'"stale", {etag}')

    assert response.status_code == 204


def test_delete_device_weak_if_match_precondition_failed(api_client):
    """If-Match uses the strong comparison: a weak tag never matches."""
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = api_client.delete(device_url(device.id), QUERY_STRING="force=true", HTTP_IF_MATCH=f"W/{etag}")

    assert_error(response, 412, "precondition_failed")
    assert Device.objects.filter(pk=device.id).exists()


def test_delete_device_read_scope_access_denied(client_with_scopes):
    device = DeviceFactory()

    response = client_with_scopes("devices:read").delete(device_url(device.id), QUERY_STRING="force=true")

    assert_error(response, 403, "access_denied")
    assert Device.objects.filter(pk=device.id).exists()


# --- DELETE /devices/{id}/decommission --------------------------------------------------------------------------


def test_decommission_device_sets_status_and_records_event(api_client):
    device = DeviceFactory()
    before = Device.objects.get(pk=device.id)
    etag = get_etag(api_client, device.id)

    response = api_client.delete(device_url(device.id, "/decommission"))

    assert response.status_code == 204
    assert response.content == b""
    after = Device.objects.get(pk=device.id)
    assert after.status == DeviceStatus.DECOMMISSIONED
    assert after.updated_timestamp > before.updated_timestamp
    assert after.creation_timestamp == before.creation_timestamp
    events = DeviceEvent.objects.filter(device=device, type=EventType.DECOMMISSIONED)
    assert [(event.source, event.description) for event in events] == [("test-key", "Device decommissioned")]
    assert DeviceEvent.objects.filter(device=device).count() == 2
    assert get_etag(api_client, device.id) != etag


def test_decommission_device_shown_by_get(api_client):
    device = DeviceFactory()
    api_client.delete(device_url(device.id, "/decommission"))

    body = api_client.get(device_url(device.id)).json()

    assert body["status"] == "DECOMMISSIONED"
    assert [event["type"] for event in body["events"].values()] == ["CREATED", "DECOMMISSIONED"]


def test_decommission_device_source_is_key_name(api_key):
    device = DeviceFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key(scopes=['devices:write'], name='ops-robot')}")

    response = client.delete(device_url(device.id, "/decommission"))

    assert response.status_code == 204
    assert DeviceEvent.objects.get(device=device, type=EventType.DECOMMISSIONED).source == "ops-robot"


def test_decommission_device_repeated_changes_nothing(api_client):
    device = DeviceFactory()
    api_client.delete(device_url(device.id, "/decommission"))
    etag = get_etag(api_client, device.id)
    before = device_snapshot(device.id)

    response = api_client.delete(device_url(device.id, "/decommission"))

    assert response.status_code == 204
    assert device_snapshot(device.id) == before
    assert get_etag(api_client, device.id) == etag
    assert DeviceEvent.objects.filter(device=device, type=EventType.DECOMMISSIONED).count() == 1


@pytest.mark.parametrize("slot_status", ["ACTIVE", "RENEWAL_WINDOW", "ABOUT_TO_EXPIRE"])
def test_decommission_device_live_identity_revoked(api_client, slot_status):
    device = DeviceFactory()
    set_identity_slot(device, slot_status)

    response = api_client.delete(device_url(device.id, "/decommission"))

    assert response.status_code == 204
    after = Device.objects.get(pk=device.id)
    assert after.status == DeviceStatus.DECOMMISSIONED
    assert after.slots["default"]["status"] == "REVOKED"
    # The rest of the slot is kept.
    assert after.slots["default"]["versions"] == {"1": "serial-0001"}
    assert after.slots["default"]["active_version"] == 1
    body = api_client.get(device_url(device.id)).json()
    assert body["identity"]["status"] == "REVOKED"
    assert body["slots"]["default"]["status"] == "REVOKED"
    assert DeviceEvent.objects.filter(device=device).exclude(type=EventType.CREATED).count() == 1


@pytest.mark.parametrize("slot_status", ["EXPIRED", "REVOKED"])
def test_decommission_device_ended_identity_kept(api_client, slot_status):
    device = DeviceFactory()
    set_identity_slot(device, slot_status)

    response = api_client.delete(device_url(device.id, "/decommission"))

    assert response.status_code == 204
    after = Device.objects.get(pk=device.id)
    assert after.status == DeviceStatus.DECOMMISSIONED
    assert after.slots["default"]["status"] == slot_status


def test_decommission_device_without_identity_keeps_no_slots(api_client):
    device = DeviceFactory()

    api_client.delete(device_url(device.id, "/decommission"))

    assert Device.objects.get(pk=device.id).slots == {}


def test_decommission_device_other_slots_untouched(api_client):
    device = DeviceFactory()
    slots = {
        "default": {"status": "ACTIVE", "active_version": 0, "type": "X509", "versions": {}, "expiration_date": None},
        "backup": {"status": "ACTIVE", "active_version": 0, "type": "TOKEN", "versions": {}, "expiration_date": None},
    }
    Device.objects.filter(pk=device.id).update(slots=slots, status="ACTIVE")

    api_client.delete(device_url(device.id, "/decommission"))

    after = Device.objects.get(pk=device.id).slots
    assert after["default"]["status"] == "REVOKED"
    assert after["backup"] == slots["backup"]


def test_decommission_device_unknown_id_not_found(api_client):
    response = api_client.delete(device_url("no-such-device", "/decommission"))

    assert_error(response, 404, "not_found")


def test_decommission_device_unusual_id(api_client):
    DeviceFactory(id="Gerät 100% #1")

    response = api_client.delete(device_url("Gerät 100% #1", "/decommission"))

    assert response.status_code == 204
    assert Device.objects.get(pk="Gerät 100% #1").status == DeviceStatus.DECOMMISSIONED


def test_decommission_device_get_method_not_supported(api_client):
    device = DeviceFactory()

    response = api_client.get(device_url(device.id, "/decommission"))

    assert_error(response, 405, "method_not_supported")
    assert Device.objects.get(pk=device.id).status == DeviceStatus.NO_IDENTITY


@pytest.mark.django_db(transaction=True)
def test_decommission_device_concurrent_requests_one_event(api_key):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("SQLite's shared-cache in-memory test database fails concurrent writers with table locks")
    device = DeviceFactory()
    set_identity_slot(device, "ACTIVE")
    version = Device.objects.get(pk=device.id).version
    plaintext = api_key()
    barrier = threading.Barrier(4)
    statuses = []

    def decommission():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        try:
            barrier.wait(timeout=10)
            statuses.append(client.delete(device_url(device.id, "/decommission")).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decommission) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [204] * 4
    assert DeviceEvent.objects.filter(device_id=device.id, type=EventType.DECOMMISSIONED).count() == 1
    after = Device.objects.get(pk=device.id)
    assert after.status == DeviceStatus.DECOMMISSIONED
    assert after.slots["default"]["status"] == "REVOKED"
    assert after.version == version + 1


def test_decommission_device_stale_if_match_precondition_failed(api_client):
    device = DeviceFactory()
    set_identity_slot(device, "ACTIVE")
    stale = get_etag(api_client, device.id)
    Device.objects.filter(pk=device.id).update(version=Device.objects.get(pk=device.id).version + 1)
    before = device_snapshot(device.id)

    response = api_client.delete(device_url(device.id, "/decommission"), HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert device_snapshot(device.id) == before
    assert Device.objects.get(pk=device.id).slots["default"]["status"] == "ACTIVE"


def test_decommission_device_current_if_match_no_content(api_client):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = api_client.delete(device_url(device.id, "/decommission"), HTTP_IF_MATCH=etag)

    assert response.status_code == 204
    assert Device.objects.get(pk=device.id).status == DeviceStatus.DECOMMISSIONED


def test_decommission_device_if_match_star_no_content(api_client):
    device = DeviceFactory()

    response = api_client.delete(device_url(device.id, "/decommission"), HTTP_IF_MATCH="*")

    assert response.status_code == 204
    assert Device.objects.get(pk=device.id).status == DeviceStatus.DECOMMISSIONED


def test_decommission_device_etag_from_before_decommission_stale_for_delete(api_client):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)
    api_client.delete(device_url(device.id, "/decommission"), HTTP_IF_MATCH=etag)

    response = api_client.delete(device_url(device.id), HTTP_IF_MATCH=etag)

    assert_error(response, 412, "precondition_failed")
    assert Device.objects.filter(pk=device.id).exists()


def test_decommission_device_read_scope_access_denied(client_with_scopes):
    device = DeviceFactory()

    response = client_with_scopes("devices:read").delete(device_url(device.id, "/decommission"))

    assert_error(response, 403, "access_denied")
    assert Device.objects.get(pk=device.id).status == DeviceStatus.NO_IDENTITY


def test_decommission_device_admin_session_source_is_username(admin_client, admin_user):
    device = DeviceFactory()

    response = admin_client.delete(device_url(device.id, "/decommission"))

    assert response.status_code == 204
    assert DeviceEvent.objects.get(device=device, type=EventType.DECOMMISSIONED).source == admin_user.username


# --- Event timestamps -----------------------------------------------------------------------------------------


def test_record_event_tight_loop_timestamps_strictly_increase():
    device = DeviceFactory()

    record_events(device, 200)

    timestamps = list(DeviceEvent.objects.filter(device=device).order_by("id").values_list("timestamp", flat=True))
    assert len(timestamps) == 201
    assert all(later > earlier for earlier, later in pairwise(timestamps))


def test_record_event_clock_behind_latest_bumped_by_microsecond():
    device = DeviceFactory()
    created = DeviceEvent.objects.get(device=device)
    future = created.timestamp + timedelta(hours=1)
    DeviceEvent.objects.filter(pk=created.pk).update(timestamp=future)

    record_events(device, 1)

    latest = DeviceEvent.objects.filter(device=device).order_by("-timestamp").first()
    assert latest.timestamp == future + timedelta(microseconds=1)


def test_record_event_timestamps_independent_between_devices():
    first, second = DeviceFactory(), DeviceFactory()
    future = DeviceEvent.objects.get(device=first).timestamp + timedelta(hours=1)
    DeviceEvent.objects.filter(device=first).update(timestamp=future)

    record_events(second, 1)

    latest = DeviceEvent.objects.filter(device=second).order_by("-timestamp").first()
    assert latest.timestamp < future


def test_decommission_service_on_vanished_device_is_not_found():
    from devmanager.errors import NotFound

    with pytest.raises(NotFound):
        services.device_decommission(device_id="gone-meanwhile", source="test")
