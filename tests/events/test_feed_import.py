"""The import's events show what the API shows: on PostgreSQL they are encoded by hand from the rows' COPY text
(devices.batch.encode_created, adapters' encode_added), which must agree with the device's and the adapter's
representation whatever the row holds (escapes, non-ASCII text, numbers beyond 64 bits, no identity); they are
written by COPY's binary format (events.recording.record_encoded), with the time of their recording."""

import io
import json
from datetime import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import API

pytestmark = pytest.mark.django_db

SLOT = {
    "status": "ACTIVE",
    "active_version": 2,
    "type": "X509",
    "versions": {"1": {"serial": "01"}, "2": {"serial": "0\\2"}},
    "expiration_date": "2031-05-01T10:00:00.000000Z",
}
METADATA = {
    "path": "C:\\temp\\x",
    "lines": "a\nb\tc\rd",
    "quote": '"',
    "text": "é✓😀",
    "small": 1e-07,
    "nested": {"list": [1, 2.5, None, True], "empty": {}},
}
DEVICES = [
    {"id": "plain"},
    {
        "id": "rich",
        "alias": 'back \\ slash "q"',
        "tags": ["a", "b c"],
        "icon": "bolt",
        "icon_color": "#AABBCC",
        "dms_id": "dms-1",
        "metadata": METADATA,
    },
    {"id": "unicode", "alias": "Café ✓", "tags": ["Ünïcode"], "metadata": {"k": "tab\there"}},
    {
        "id": "state",
        "status": "ACTIVE",
        "slots": {"default": SLOT},
        "creation_timestamp": "2024-01-01T00:00:00Z",
        "updated_timestamp": "2024-02-01T00:00:00.5+02:00",
    },
    {"id": "big", "metadata": {"n": [2**64, 10**30]}, "slots": {"default": {**SLOT, "versions": {"1": {"s": 2**70}}}}},
    {"id": "no-identity", "slots": {"backup": SLOT}},
]
ADAPTERS = [
    {
        "id": "a-cell",
        "network_adapters": [
            {
                "type": "cellular",
                "imei": "490154203237518",
                "iccid": "89310410106543789301",
                "imsi": "204080123456789",
                "msisdn": "+31612345678",
            }
        ],
    },
    {
        "id": "a-lora",
        "network_adapters": [
            {"type": "lora", "dev_eui": "0004A30B001C0530", "join_eui": "70B3D57ED0000000", "activation": "abp"}
        ],
    },
    {
        "id": "a-generic",
        "imei": "356938035643809",
        "network_adapters": [
            {"type": "generic", "dvn_uuid": "7C9E6679-7425-40DE-944B-E07FC1F90AE7", "description": "gate \\ way\n"}
        ],
    },
    {"id": "a-generated", "network_adapters": [{"type": "generic"}]},
]


def import_rows(tmp_path, rows) -> None:
    path = tmp_path / "devices.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    call_command("import_devices", str(path), stdout=io.StringIO(), stderr=io.StringIO())


def feed_events(client, event_type: str) -> list[dict]:
    response = client.get(f"{API}/events", {"page_size": 1000, "filter": f"type[eq]:{event_type}"})
    assert response.status_code == 200, response.content
    return response.json()["list"]


def test_an_imported_device_s_created_event_holds_the_device_as_the_api_shows_it(api_client, tmp_path):
    import_rows(tmp_path, DEVICES)

    events = feed_events(api_client, "device.created")

    assert [event["subject"] for event in events] == [row["id"] for row in DEVICES]
    for event in events:
        device = api_client.get(f"{API}/devices/{event['subject']}").json()
        del device["events"]
        assert event["data"] == {"device": device}, event["subject"]


def test_an_imported_adapter_s_added_event_holds_the_adapter_as_the_api_shows_it(api_client, tmp_path):
    import_rows(tmp_path, ADAPTERS)

    events = feed_events(api_client, "device.adapter.added")

    assert len(events) == 5
    for event in events:
        listed = api_client.get(f"{API}/devices/{event['subject']}/network-adapters").json()["list"]
        (adapter,) = [adapter for adapter in listed if adapter["id"] == event["data"]["adapter"]["id"]]
        assert event["data"] == {"adapter": adapter, "device_id": event["subject"]}


def test_an_imported_change_carries_the_time_it_was_recorded_and_the_import_as_its_actor(api_client, tmp_path):
    before = timezone.now()
    import_rows(tmp_path, DEVICES[:2] + ADAPTERS[:1])
    after = timezone.now()

    events = feed_events(api_client, "device.created") + feed_events(api_client, "device.adapter.added")

    assert len(events) == 4
    for event in events:
        assert before <= datetime.fromisoformat(event["time"]) <= after, event
        assert event["actor"] == "command:import_devices"
