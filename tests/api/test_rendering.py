"""Response bodies: JSON written by orjson, with DRF's renderer as the fallback for what orjson refuses."""

import pytest

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
