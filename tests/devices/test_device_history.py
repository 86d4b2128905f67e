"""A device's life told by its history: from NO_IDENTITY through provisioning, the refresh_device_status moves,
renewal or expiry, to decommissioning, each step one entry in `GET /devices/{id}/events` and the `events` map."""

from datetime import timedelta
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.utils import timezone

from devices.choices import DeviceStatus
from devices.models import Device
from tests.conftest import API, assert_error
from tests.helpers import device_url

pytestmark = pytest.mark.django_db

COMMAND = "refresh_device_status"


def refresh() -> None:
    call_command(COMMAND, stdout=StringIO(), stderr=StringIO())


def rfc3339(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def put_idslot(client, device_id: str, status: str, active_version: int, expires_in: timedelta):
    body = {
        "status": status,
        "active_version": active_version,
        "type": "X509",
        "versions": {str(active_version): {"serial": f"{active_version:04d}"}},
        "expiration_date": rfc3339(timezone.now() + expires_in),
    }
    response = client.put(device_url(device_id, "/idslot"), body, format="json")
    assert response.status_code == 200, response.content
    return response


def history(client, device_id: str) -> list[dict]:
    """The whole history, oldest first, read page by page through the API."""
    items, params = [], {"page_size": 3}
    while True:
        page = client.get(device_url(device_id, "/events"), params).json()
        items.extend(page["list"])
        if not page["next"]:
            return list(reversed(items))
        params = {"bookmark": page["next"]}


class Walk:
    """Follows one device through the API, checking at each step its status, the slot's status and its ETag."""

    def __init__(self, client, device_id: str):
        self.client, self.device_id, self.etags = client, device_id, []

    def expect(self, status: str, slot_status: str | None) -> dict:
        response = self.client.get(device_url(self.device_id))
        body = response.json()
        assert body["status"] == status
        assert (body["identity"] or {}).get("status") == slot_status
        assert body["identity"] == (body["slots"].get("default"))
        assert response["ETag"] not in self.etags, "every step changes the device"
        self.etags.append(response["ETag"])
        return body


def assert_events_map_agrees(client, device_id: str, events: list[dict]) -> None:
    device = client.get(device_url(device_id)).json()
    assert list(device["events"].items()) == [
        (event["timestamp"], {"type": event["type"], "description": event["description"]}) for event in events[-20:]
    ]


def test_device_history_no_identity_to_expired_to_decommissioned(api_client):
    created = api_client.post(f"{API}/devices", {"id": "boiler-7", "alias": "Boiler 7"}, format="json")
    assert created.status_code == 201
    walk = Walk(api_client, "boiler-7")
    walk.expect("NO_IDENTITY", None)

    # Provisioned with a certificate that expires in 20 days: inside the default 30-day renewal window.
    put_idslot(api_client, "boiler-7", "ACTIVE", 1, timedelta(days=20))
    walk.expect("ACTIVE", "ACTIVE")
    refresh()
    walk.expect("RENEWAL_WINDOW", "RENEWAL_WINDOW")
    refresh()  # nothing more is due
    assert Device.objects.get(pk="boiler-7").status == DeviceStatus.RENEWAL_WINDOW

    # The PKI reports the true expiry, 3 days away, without changing the status: IDENTITY-UPDATED, a new ETag.
    put_idslot(api_client, "boiler-7", "RENEWAL_WINDOW", 1, timedelta(days=3))
    walk.expect("RENEWAL_WINDOW", "RENEWAL_WINDOW")
    refresh()
    walk.expect("ABOUT_TO_EXPIRE", "ABOUT_TO_EXPIRE")

    # The renewal never came: the certificate lapsed a second ago.
    put_idslot(api_client, "boiler-7", "ABOUT_TO_EXPIRE", 1, timedelta(seconds=-1))
    walk.expect("ABOUT_TO_EXPIRE", "ABOUT_TO_EXPIRE")
    refresh()
    walk.expect("EXPIRED", "EXPIRED")

    assert api_client.delete(device_url("boiler-7", "/decommission")).status_code == 204
    body = walk.expect("DECOMMISSIONED", "EXPIRED")  # an expired identity stays EXPIRED
    refresh()  # a decommissioned device is out of reach of the command
    slot = {"status": "ACTIVE", "active_version": 2, "type": "X509"}
    assert_error(api_client.put(device_url("boiler-7", "/idslot"), slot, format="json"), 409, "conflict")
    assert api_client.get(device_url("boiler-7")).json() == body
    assert_boiler_history(api_client)


def assert_boiler_history(api_client) -> None:
    events = history(api_client, "boiler-7")
    assert [(event["type"], event["source"]) for event in events] == [
        ("CREATED", "test-key"),
        ("PROVISIONED", "test-key"),
        ("STATUS-UPDATED", "test-key"),
        ("STATUS-UPDATED", COMMAND),
        ("IDENTITY-UPDATED", "test-key"),
        ("STATUS-UPDATED", COMMAND),
        ("IDENTITY-UPDATED", "test-key"),
        ("STATUS-UPDATED", COMMAND),
        ("DECOMMISSIONED", "test-key"),
    ]
    assert {event["description"] for event in events if event["type"] == "IDENTITY-UPDATED"} == {
        "Identity slot updated: expiration_date"
    }
    moves = [event["description"] for event in events if event["type"] == "STATUS-UPDATED"]
    assert moves[0] == "Status changed from NO_IDENTITY to ACTIVE"
    assert [move.split(" (")[0] for move in moves[1:]] == [
        "Status changed from ACTIVE to RENEWAL_WINDOW",
        "Status changed from RENEWAL_WINDOW to ABOUT_TO_EXPIRE",
        "Status changed from ABOUT_TO_EXPIRE to EXPIRED",
    ]
    assert all(later["timestamp"] > earlier["timestamp"] for earlier, later in pairwise(events))
    assert_events_map_agrees(api_client, "boiler-7", events)


def test_device_history_renewed_then_revoked_then_decommissioned(api_client):
    api_client.post(f"{API}/devices", {"id": "meter-3"}, format="json")
    walk = Walk(api_client, "meter-3")
    walk.expect("NO_IDENTITY", None)

    put_idslot(api_client, "meter-3", "ACTIVE", 1, timedelta(days=10))
    walk.expect("ACTIVE", "ACTIVE")
    refresh()
    walk.expect("RENEWAL_WINDOW", "RENEWAL_WINDOW")

    # Renewed in time: a new version valid for a year, back to ACTIVE, which the command then leaves alone.
    put_idslot(api_client, "meter-3", "ACTIVE", 2, timedelta(days=365))
    body = walk.expect("ACTIVE", "ACTIVE")
    assert set(body["identity"]["versions"]) == {"1", "2"}
    refresh()
    assert Device.objects.get(pk="meter-3").status == DeviceStatus.ACTIVE

    # Revoked, then past its expiry: REVOKED is final for the command.
    put_idslot(api_client, "meter-3", "REVOKED", 2, timedelta(seconds=-1))
    walk.expect("REVOKED", "REVOKED")
    refresh()
    assert Device.objects.get(pk="meter-3").status == DeviceStatus.REVOKED

    assert api_client.delete(device_url("meter-3", "/decommission")).status_code == 204
    walk.expect("DECOMMISSIONED", "REVOKED")

    events = history(api_client, "meter-3")
    assert [event["type"] for event in events] == [
        "CREATED",
        "PROVISIONED",
        "STATUS-UPDATED",
        "STATUS-UPDATED",
        "RENEWED",
        "STATUS-UPDATED",
        "IDENTITY-UPDATED",
        "STATUS-UPDATED",
        "DECOMMISSIONED",
    ]
    assert events[4]["description"] == "Identity renewed: version 1 -> 2"
    assert [event["description"] for event in events if event["type"] == "STATUS-UPDATED"][-2:] == [
        "Status changed from RENEWAL_WINDOW to ACTIVE",
        "Status changed from ACTIVE to REVOKED",
    ]
    assert all(later["timestamp"] > earlier["timestamp"] for earlier, later in pairwise(events))
    assert_events_map_agrees(api_client, "meter-3", events)


def test_device_history_filtered_by_type(api_client):
    api_client.post(f"{API}/devices", {"id": "pump-1"}, format="json")
    put_idslot(api_client, "pump-1", "ACTIVE", 1, timedelta(days=20))
    refresh()
    api_client.patch(
        device_url("pump-1", "/metadata"), {"patches": [{"op": "add", "path": "/a", "value": 1}]}, format="json"
    )

    status_moves = api_client.get(device_url("pump-1", "/events"), {"filter": "type[eq]:STATUS-UPDATED"}).json()
    metadata = api_client.get(device_url("pump-1", "/events"), {"filter": "type[eq]:METADATA-UPDATED"}).json()

    assert [event["source"] for event in status_moves["list"]] == [COMMAND, "test-key"]  # newest first
    assert [event["description"] for event in metadata["list"]] == ["Metadata patched (1 operation(s))"]


def test_device_history_long_life_events_map_holds_latest_twenty(api_client):
    api_client.post(f"{API}/devices", {"id": "gate-9"}, format="json")
    for version in range(1, 13):
        put_idslot(api_client, "gate-9", "ACTIVE" if version % 2 else "RENEWAL_WINDOW", version, timedelta(days=90))

    events = history(api_client, "gate-9")

    # CREATED, PROVISIONED + STATUS-UPDATED, then 11 renewals each with a status change.
    assert len(events) == 3 + 11 * 2
    assert_events_map_agrees(api_client, "gate-9", events)
