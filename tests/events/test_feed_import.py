"""The import's events show what the API shows: on PostgreSQL they are encoded by hand from the rows' COPY text
(devices.batch.encode_created, adapters' encode_added), which must agree with the device's and the adapter's
representation whatever the row holds (escapes, non-ASCII text, numbers beyond 64 bits, no identity); they are
written by COPY's binary format (events.recording.record_encoded), with the time of their recording."""

import io
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.management import call_command
from django.utils import timezone as django_timezone

from adapters.api.serializers import adapter_data, encode_added
from adapters.models import NetworkAdapter
from tests.conftest import API
from tests.factories import DeviceFactory

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
    before = django_timezone.now()
    import_rows(tmp_path, DEVICES[:2] + ADAPTERS[:1])
    after = django_timezone.now()

    events = feed_events(api_client, "device.created") + feed_events(api_client, "device.adapter.added")

    assert len(events) == 4
    for event in events:
        assert before <= datetime.fromisoformat(event["time"]) <= after, event
        assert event["actor"] == "command:import_devices"


def encoded_fields(encoded: bytes) -> list[str]:
    """The fields of an `EncodedChanges` line: each its length in four bytes, then its text."""
    fields, at = [], 0
    while at < len(encoded):
        length = int.from_bytes(encoded[at : at + 4], "big")
        fields.append(encoded[at + 4 : at + 4 + length].decode("utf-8", "surrogatepass"))
        at += 4 + length
    return fields


WITH_MICROSECONDS = datetime(2026, 3, 9, 10, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("created", "updated"),
    [
        (WITH_MICROSECONDS, WITH_MICROSECONDS),  # orjson's own spelling of the times and UUIDs
        (WITH_MICROSECONDS.replace(microsecond=0), WITH_MICROSECONDS),  # orjson would leave ".000000" out
        (WITH_MICROSECONDS, WITH_MICROSECONDS.replace(microsecond=0)),
        (WITH_MICROSECONDS.astimezone(timezone(timedelta(hours=2))), WITH_MICROSECONDS),  # orjson would keep "+02:00"
    ],
)
@pytest.mark.parametrize("description", ["gate \\ way\n", "lone \ud800 surrogate"])  # orjson refuses the second
def test_an_adapter_s_encoded_event_agrees_with_the_api_whatever_its_times_and_text(created, updated, description):
    device = DeviceFactory(dms_owner="dms-1")
    adapter = NetworkAdapter(
        id=uuid.uuid4(), device_id=device.pk, type="generic", dvn_uuid=uuid.uuid4(), description=description,
        created_at=created, updated_at=updated,
    )  # fmt: skip
    fields = {field.attname: getattr(adapter, field.attname) for field in NetworkAdapter._meta.concrete_fields}

    subject, dms, data = encoded_fields(encode_added(fields, "dms-1"))

    assert (subject, dms) == (device.pk, "dms-1")
    assert json.loads(data) == json.loads(json.dumps(adapter_data(adapter)))
    assert json.loads(data)["adapter"]["created_at"].endswith(".000000Z" if created.microsecond == 0 else ".123456Z")
