"""The feed as Server-Sent Events (contract, section 7): `id:`, `event:` and `data:` per event, `Last-Event-ID` to
resume, comment lines while nothing happens, the stream ended after DEVMANAGER_SSE_MAX_SECONDS."""

import json

import pytest

from devices import services
from events.api.streaming import SLOTS
from tests.conftest import API, assert_error

pytestmark = pytest.mark.django_db

EVENTS = f"{API}/events"


@pytest.fixture(autouse=True)
def _short_streams(settings):
    settings.DEVMANAGER_SSE_MAX_SECONDS = 1


def messages(response) -> list[dict]:
    """The stream's messages: each a dict of its fields, a comment as {"comment": text}."""
    text = b"".join(response.streaming_content).decode()
    parsed = []
    for block in text.split("\n\n"):
        if not block:
            continue
        if block.startswith(":"):
            parsed.append({"comment": block[1:].strip()})
            continue
        parsed.append(dict(line.split(": ", 1) for line in block.split("\n")))
    return parsed


def stream(client, **headers):
    response = client.get(EVENTS, HTTP_ACCEPT="text/event-stream", **headers)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    return messages(response)


def test_each_event_is_one_message(api_client):
    services.device_create(id="d-1", source="key:x")
    services.device_replace_metadata(device_id="d-1", metadata={"a": 1}, source="key:x")

    events = [message for message in stream(api_client) if "id" in message]

    assert [message["event"] for message in events] == ["device.created", "device.metadata.updated"]
    first = json.loads(events[0]["data"])
    assert first["id"] == events[0]["id"] and first["subject"] == "d-1" and first["data"]["device"]["id"] == "d-1"


def test_last_event_id_resumes_after_it(api_client):
    services.device_create(id="d-1", source="key:x")
    services.device_create(id="d-2", source="key:x")
    first = next(message for message in stream(api_client) if "id" in message)

    resumed = [message for message in stream(api_client, HTTP_LAST_EVENT_ID=first["id"]) if "id" in message]

    assert [json.loads(message["data"])["subject"] for message in resumed] == ["d-2"]


def test_a_quiet_stream_sends_comments_and_ends(api_client):
    sent = stream(api_client)

    assert sent and all("comment" in message for message in sent)


def test_filters_apply_to_the_stream(api_client):
    services.device_create(id="d-1", source="key:x")
    services.device_replace_metadata(device_id="d-1", metadata={"a": 1}, source="key:x")

    events = [m for m in stream(api_client, QUERY_STRING="filter=type[eq]:device.metadata.updated") if "id" in m]

    assert [message["event"] for message in events] == ["device.metadata.updated"]


@pytest.mark.parametrize("last_id", ["x", "-1", "999999"])
def test_a_bad_last_event_id_is_refused_before_streaming(api_client, last_id):
    response = api_client.get(EVENTS, HTTP_ACCEPT="text/event-stream", HTTP_LAST_EVENT_ID=last_id)

    assert response.status_code == 400


def test_too_many_streams_is_429(api_client, settings, monkeypatch):
    monkeypatch.setattr(SLOTS, "open", settings.DEVMANAGER_SSE_MAX_STREAMS)

    assert_error(api_client.get(EVENTS, HTTP_ACCEPT="text/event-stream"), 429, "too_many_requests")
