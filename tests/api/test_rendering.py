"""Response bodies: JSON written by orjson, with DRF's renderer as the fallback for what orjson refuses."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from devmanager.api.renderers import JSONRenderer
from devmanager.strictjson import StoredJSON, compact_json
from tests.conftest import API
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db


def test_metadata_with_integer_beyond_64_bits_reads_back(api_client):
    body = b'{"id": "big-1", "metadata": {"counter": 123456789012345678901234567890, "small": 1}}'
    created = api_client.post(f"{API}/devices", body, content_type="application/json")
    assert created.status_code == 201, created.content

    response = api_client.get(f"{API}/devices/big-1")

    assert response.status_code == 200
    assert b'"counter":123456789012345678901234567890' in response.content.replace(b" ", b"")
    assert response.json()["metadata"] == {"counter": 123456789012345678901234567890, "small": 1}


def test_non_ascii_text_written_as_utf8(api_client):
    DeviceFactory(id="café-1", alias="Zürich ☂")

    response = api_client.get(f"{API}/devices/café-1")

    assert response["Content-Type"] == "application/json"
    assert "Zürich ☂".encode() in response.content
    assert response.json()["alias"] == "Zürich ☂"


def test_event_timestamps_written_in_utc_with_z(api_client):
    DeviceFactory(id="dev-1")

    events = api_client.get(f"{API}/devices/dev-1/events").json()["list"]

    assert events and all(event["timestamp"].endswith("Z") for event in events)


def test_list_passes_stored_documents_through_exactly(api_client):
    body = (
        b'{"id": "doc-1", "tags": ["b", "a"], "metadata": {"counter": 123456789012345678901234567890, '
        b'"nested": {"list": [1, 2.5, "x", null, true]}, "text": "tab\\t quote\\" \\u00e9"}}'
    )
    assert api_client.post(f"{API}/devices", body, content_type="application/json").status_code == 201

    device = api_client.get(f"{API}/devices").json()["list"][0]

    assert device["tags"] == ["b", "a"]
    assert device["metadata"] == {
        "counter": 123456789012345678901234567890,
        "nested": {"list": [1, 2.5, "x", None, True]},
        "text": 'tab\t quote" é',
    }
    assert device["identity"] is None and device["slots"] == {}


def test_list_shows_identity_slot_from_slots(api_client):
    DeviceFactory(id="dev-1")
    slot = {"status": "ACTIVE", "active_version": 0, "type": "X509", "versions": {"0": "cert"}}
    assert api_client.put(f"{API}/devices/dev-1/idslot", slot, format="json").status_code == 200

    listed = api_client.get(f"{API}/devices").json()["list"][0]
    fetched = api_client.get(f"{API}/devices/dev-1").json()

    assert listed["identity"] == fetched["identity"] == listed["slots"]["default"]
    assert listed["identity"]["status"] == "ACTIVE"


def test_fallback_renderer_writes_stored_documents():
    body = {"stored": StoredJSON('{"a": [1, 2]}'), "big": 2**70}

    rendered = JSONRenderer().render(body)  # orjson refuses 2**70: DRF's renderer writes it

    assert json.loads(rendered) == {"stored": {"a": [1, 2]}, "big": 2**70}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's timestamptz loader")
def test_timestamps_read_as_aware_utc_datetimes_by_the_c_loader():
    import psycopg
    from psycopg.pq import Format

    from devmanager.db import UtcTimestamptzLoader

    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", ["2024-01-01T08:30:00.000001+05:30"])
        (value,) = cursor.fetchone()
        loader = cursor.cursor.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, Format.TEXT)

    assert value == datetime(2024, 1, 1, 3, 0, 0, 1, tzinfo=UTC)
    assert value.tzinfo is UTC
    assert loader is UtcTimestamptzLoader


def test_compact_json_writes_a_stored_document_as_the_database_spelled_it():
    stored = StoredJSON('{"a": [1, 2.50]}')
    assert compact_json({"d": stored}) == '{"d":{"a": [1, 2.50]}}'
    # Where orjson refuses a value (an integer beyond 64 bits), the json module writes the stored document decoded.
    assert json.loads(compact_json({"d": stored, "big": 2**70})) == {"d": {"a": [1, 2.5]}, "big": 2**70}
