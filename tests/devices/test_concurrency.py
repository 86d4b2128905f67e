"""Writes to one device are serialised (contract, section 1): concurrent metadata patches and identity-slot updates
through the whole HTTP stack all apply, and the device's event timestamps stay strictly increasing.

PostgreSQL only: SQLite serialises every writer on the whole database, so it would prove nothing here.
"""

from itertools import pairwise

import pytest
from django.db import connection
from rest_framework.test import APIClient

from devices.choices import EventType
from devices.models import Device, DeviceEvent
from tests.concurrency import run_concurrently
from tests.factories import DeviceFactory
from tests.helpers import device_url

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks under real concurrency need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8
PER_THREAD = 10


def event_timestamps_in_insertion_order(device_id: str, **filters) -> list:
    events = DeviceEvent.objects.filter(device_id=device_id, **filters).order_by("pk")
    return list(events.values_list("timestamp", flat=True))


def test_concurrent_metadata_patches_all_apply(api_key):
    device = DeviceFactory(metadata={"location": "warehouse-a"})
    version = Device.objects.get(pk=device.id).version
    statuses = []

    def patch_own_keys(client, index):
        for step in range(PER_THREAD):
            operation = {"op": "add", "path": f"/t{index}-{step}", "value": {"thread": index, "step": step}}
            response = client.patch(device_url(device.id, "/metadata"), {"patches": [operation]}, format="json")
            statuses.append(response.status_code)

    errors = run_concurrently(patch_own_keys, api_key(), THREADS)

    assert errors == []
    assert statuses == [200] * (THREADS * PER_THREAD)
    after = Device.objects.get(pk=device.id)
    expected = {
        f"t{index}-{step}": {"thread": index, "step": step} for index in range(THREADS) for step in range(PER_THREAD)
    }
    assert after.metadata == {"location": "warehouse-a", **expected}
    assert after.version == version + THREADS * PER_THREAD
    timestamps = event_timestamps_in_insertion_order(device.id, type=EventType.METADATA_UPDATED)
    assert len(timestamps) == THREADS * PER_THREAD
    assert all(later > earlier for earlier, later in pairwise(timestamps))
    assert DeviceEvent.objects.filter(device=device).count() == 1 + THREADS * PER_THREAD


def test_concurrent_test_and_replace_patches_lose_no_increment(api_key):
    """Read-modify-write through a `test` guard: each patch sees the metadata the previous one left."""
    device = DeviceFactory(metadata={"counter": 0})
    increments_per_thread = 5
    unexpected = []

    def increment(client, index):
        done = 0
        while done < increments_per_thread:
            current = client.get(device_url(device.id)).json()["metadata"]["counter"]
            operations = [
                {"op": "test", "path": "/counter", "value": current},
                {"op": "replace", "path": "/counter", "value": current + 1},
            ]
            response = client.patch(device_url(device.id, "/metadata"), {"patches": operations}, format="json")
            if response.status_code == 200:
                done += 1
            elif response.status_code != 409:
                unexpected.append(response.status_code)
                return

    errors = run_concurrently(increment, api_key(), THREADS)

    assert errors == []
    assert unexpected == []
    assert Device.objects.get(pk=device.id).metadata == {"counter": THREADS * increments_per_thread}
    assert DeviceEvent.objects.filter(device=device, type=EventType.METADATA_UPDATED).count() == (
        THREADS * increments_per_thread
    )


def test_concurrent_identity_slot_renewals_reach_max_version(api_key):
    """Each thread raises active_version by one, guarded by If-Match, retrying when another thread got there first:
    the row lock makes the ETag check and the write one step, so no raise is lost and none is applied twice."""
    device = DeviceFactory()
    plaintext = api_key()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    slot = {"status": "ACTIVE", "type": "X509"}
    assert client.put(device_url(device.id, "/idslot"), {**slot, "active_version": 0}, format="json").status_code == 200
    unexpected = []

    def renew(client, index):
        done = 0
        while done < PER_THREAD:
            current = client.get(device_url(device.id))
            version = current.json()["identity"]["active_version"]
            response = client.put(
                device_url(device.id, "/idslot"),
                {**slot, "active_version": version + 1, "versions": {str(version + 1): f"thread {index}"}},
                format="json",
                HTTP_IF_MATCH=current["ETag"],
            )
            if response.status_code == 200:
                done += 1
            elif response.status_code != 412:
                unexpected.append(response.status_code)
                return

    errors = run_concurrently(renew, plaintext, THREADS)

    assert errors == []
    assert unexpected == []
    total = THREADS * PER_THREAD
    identity = Device.objects.get(pk=device.id).slots["default"]
    assert identity["active_version"] == total
    assert sorted(identity["versions"], key=int) == [str(version) for version in range(1, total + 1)]
    renewals = DeviceEvent.objects.filter(device=device, type=EventType.RENEWED).order_by("timestamp")
    assert [event.description for event in renewals] == [
        f"Identity renewed: version {version} -> {version + 1}" for version in range(total)
    ]
    timestamps = event_timestamps_in_insertion_order(device.id)
    assert len(timestamps) == 3 + total  # CREATED, PROVISIONED, STATUS-UPDATED, then the renewals
    assert len(set(timestamps)) == len(timestamps)
    assert all(later > earlier for earlier, later in pairwise(timestamps))


def test_concurrent_identity_slot_updates_without_if_match_all_apply(api_key):
    """Unguarded updates all succeed; the slot ends as the last one wrote it and the history explains every step."""
    device = DeviceFactory()
    statuses = []

    def update(client, index):
        for step in range(PER_THREAD):
            body = {
                "status": "ACTIVE",
                "type": "X509",
                "active_version": index * PER_THREAD + step + 1,
                "versions": {str(index * PER_THREAD + step + 1): f"thread {index}"},
            }
            statuses.append(client.put(device_url(device.id, "/idslot"), body, format="json").status_code)

    errors = run_concurrently(update, api_key(), THREADS)

    assert errors == []
    assert statuses == [200] * (THREADS * PER_THREAD)
    identity = Device.objects.get(pk=device.id).slots["default"]
    # Versions merge: every update's version is kept, whichever order they landed in.
    assert sorted(identity["versions"], key=int) == [str(version) for version in range(1, THREADS * PER_THREAD + 1)]
    events = list(DeviceEvent.objects.filter(device=device).order_by("pk"))
    assert [event.type for event in events[:3]] == [EventType.CREATED, EventType.PROVISIONED, EventType.STATUS_UPDATED]
    # Each RENEWED event starts from the version the previous write left: at most where the last renewal ended
    # (writes in between may only have lowered it), so no update was judged against a stale slot.
    renewals = [
        tuple(int(number) for number in event.description.rsplit(" ", 3)[1::2])
        for event in events
        if event.type == EventType.RENEWED
    ]
    assert renewals
    assert all(old < new for old, new in renewals)
    assert all(later[0] <= earlier[1] for earlier, later in pairwise(renewals))
    assert identity["active_version"] <= renewals[-1][1]
    timestamps = [event.timestamp for event in events]
    assert all(later > earlier for earlier, later in pairwise(timestamps))
