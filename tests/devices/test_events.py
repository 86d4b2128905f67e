"""A device's history: `GET /devices/{id}/events` (order, bookmarks, filters, errors) and the `events` map."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devices import services
from devices.choices import EventType
from devices.models import Device, DeviceEvent
from tests.conftest import API, assert_error, mark_key_used
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
BASE = datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)
# The history of the `history` fixture, oldest first: (hours after BASE, type, description, source).
HISTORY = [
    (0, EventType.CREATED, "Device created", "factory"),
    (1, EventType.PROVISIONED, "Identity slot provisioned (X509, version 1)", "ops-key"),
    (2, EventType.STATUS_UPDATED, "Status changed from NO_IDENTITY to ACTIVE", "ops-key"),
    (3, EventType.RENEWED, "Identity renewed: version 1 -> 2", "ops-key"),
    (4, EventType.METADATA_UPDATED, "Metadata replaced", "admin"),
    (5, EventType.STATUS_UPDATED, "Status changed from ACTIVE to RENEWAL_WINDOW", "refresh_device_status"),
    (6, EventType.DECOMMISSIONED, "Device decommissioned", "ops-key"),
]


def events_url(device_id: str) -> str:
    return f"{API}/devices/{quote(device_id, safe='')}/events"


def at(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def listed(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["list"]


def types(response) -> list[str]:
    return [event["type"] for event in listed(response)]


def stamps(response) -> list[str]:
    return [event["timestamp"] for event in listed(response)]


def add_events(device: Device, count: int, *, start: datetime, step=timedelta(seconds=1), **fields) -> None:
    """`count` events at `start`, `start + step`, ... (bulk-inserted: these tests read history, not write it)."""
    DeviceEvent.objects.bulk_create(
        DeviceEvent(
            device=device,
            timestamp=start + index * step,
            type=fields.get("type", EventType.METADATA_UPDATED),
            description=fields.get("description", f"change {index}"),
            source=fields.get("source", "test"),
        )
        for index in range(count)
    )


def record_events(device: Device, count: int, description: str = "change") -> None:
    """Append events the way every service does: holding the device's row lock, stamped by the clock."""
    with transaction.atomic():
        locked = services.device_lock(device_id=device.pk)
        for index in range(count):
            services.device_record_event(
                device=locked, type=EventType.METADATA_UPDATED, description=f"{description} {index}", source="test"
            )


def db_stamps(device: Device, descending: bool = True) -> list[str]:
    order = "-timestamp" if descending else "timestamp"
    return [stamp(value) for value in device.events.order_by(order).values_list("timestamp", flat=True)]


def walk(client, url: str, params: dict, between_pages=None) -> list[list[dict]]:
    """Follow `next`, sending the bookmark alone; the events of each page. `between_pages()` runs after each page."""
    response = client.get(url, params)
    pages = [listed(response)]
    while response.json()["next"]:
        if between_pages:
            between_pages()
        response = client.get(url, {"bookmark": response.json()["next"]})
        pages.append(listed(response))
    return pages


@pytest.fixture
def history() -> Device:
    """A device with the seven events of HISTORY, at fixed instants."""
    device = DeviceFactory(id="sensor-1")
    DeviceEvent.objects.filter(device=device).update(timestamp=at(0))
    DeviceEvent.objects.bulk_create(
        DeviceEvent(device=device, timestamp=at(hours), type=type_, description=description, source=source)
        for hours, type_, description, source in HISTORY[1:]
    )
    return device


# --- Shape and order ------------------------------------------------------------------------------------------


def test_events_items_shape_newest_first(api_client, history):
    response = api_client.get(events_url(history.id))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "list"}
    assert body["next"] == ""
    expected = [
        {"timestamp": stamp(at(hours)), "type": type_, "description": description, "source": source}
        for hours, type_, description, source in reversed(HISTORY)
    ]
    assert body["list"] == expected


def test_events_timestamps_rfc3339_utc_with_microseconds(api_client, history):
    assert stamps(api_client.get(events_url(history.id)))[-1] == "2026-03-01T10:00:00.250000Z"


def test_events_sort_mode_asc_oldest_first(api_client, history):
    response = api_client.get(events_url(history.id), {"sort_mode": "asc"})

    assert types(response) == [type_ for _, type_, _, _ in HISTORY]
    assert stamps(response) == db_stamps(history, descending=False)


def test_events_sort_by_timestamp_spelled_out_accepted(api_client, history):
    response = api_client.get(events_url(history.id), {"sort_by": "timestamp", "sort_mode": "desc"})

    assert stamps(response) == db_stamps(history)


@pytest.mark.parametrize("sort_by", ["type", "source", "description", "id", "creation_timestamp", "", "-timestamp"])
def test_events_sort_by_other_than_timestamp_validation_error(api_client, history, sort_by):
    response = api_client.get(events_url(history.id), {"sort_by": sort_by})

    assert_error(response, 400, "validation_error", field="sort_by")


@pytest.mark.parametrize("sort_mode", ["DESC", "newest", ""])
def test_events_sort_mode_invalid_validation_error(api_client, history, sort_mode):
    response = api_client.get(events_url(history.id), {"sort_mode": sort_mode})

    assert_error(response, 400, "validation_error", field="sort_mode")


def test_events_only_created_for_new_device(api_client):
    device = DeviceFactory(id="fresh")

    events = listed(api_client.get(events_url(device.id)))

    assert [(event["type"], event["description"], event["source"]) for event in events] == [
        ("CREATED", "Device created", "factory")
    ]


def test_events_written_by_services_listed_with_key_name_as_source(api_client):
    api_client.post(f"{API}/devices", {"id": "via-api"}, format="json")
    api_client.put(f"{API}/devices/via-api/metadata", {"metadata": {"floor": 3}}, format="json")
    api_client.delete(f"{API}/devices/via-api/decommission")

    events = listed(api_client.get(events_url("via-api")))

    assert [(event["type"], event["source"]) for event in events] == [
        ("DECOMMISSIONED", "test-key"),
        ("METADATA-UPDATED", "test-key"),
        ("CREATED", "test-key"),
    ]


def test_events_of_device_with_unusual_id(api_client):
    DeviceFactory(id="Gerät 100% #1?x")

    assert types(api_client.get(events_url("Gerät 100% #1?x"))) == ["CREATED"]


def test_events_of_another_device_not_listed(api_client, history):
    other = DeviceFactory(id="sensor-2")
    add_events(other, 5, start=at(2.5), step=timedelta(minutes=1), source="other-key")

    mine = listed(api_client.get(events_url(history.id), {"page_size": "1000"}))
    theirs = listed(api_client.get(events_url(other.id), {"page_size": "1000"}))

    assert len(mine) == len(HISTORY)
    assert "other-key" not in {event["source"] for event in mine}
    assert len(theirs) == 6
    assert {event["source"] for event in theirs} == {"factory", "other-key"}


def test_events_of_another_device_not_listed_under_filter(api_client, history):
    other = DeviceFactory(id="sensor-2")
    add_events(other, 3, start=at(2.5), step=timedelta(minutes=1), type=EventType.STATUS_UPDATED)

    response = api_client.get(events_url(history.id), {"filter": "type[eq]:STATUS-UPDATED"})

    assert stamps(response) == [stamp(at(5)), stamp(at(2))]


def test_events_device_with_id_prefix_of_another_kept_apart(api_client):
    DeviceFactory(id="sensor")
    longer = DeviceFactory(id="sensor-10")
    record_events(longer, 3)

    assert types(api_client.get(events_url("sensor"))) == ["CREATED"]


# --- page_size, bookmarks and walking -------------------------------------------------------------------------


def test_events_default_page_size_25(api_client):
    device = DeviceFactory()
    add_events(device, 30, start=timezone.now() + timedelta(seconds=1))

    response = api_client.get(events_url(device.id))

    assert len(listed(response)) == 25
    assert response.json()["next"]


@pytest.mark.parametrize("page_size", ["0", "1001", "-5", "ten", ""])
def test_events_page_size_invalid_validation_error(api_client, history, page_size):
    response = api_client.get(events_url(history.id), {"page_size": page_size})

    assert_error(response, 400, "validation_error", field="page_size")


@pytest.mark.parametrize("page_size", [1, 3, 7, 10])
def test_events_walk_returns_every_event_once_newest_first(api_client, page_size):
    device = DeviceFactory()
    record_events(device, 9)  # with CREATED: ten events, stamped by the clock and bumped where equal

    pages = walk(api_client, events_url(device.id), {"page_size": str(page_size)})

    walked = [event["timestamp"] for page in pages for event in page]
    assert [len(page) for page in pages[:-1]] == [page_size] * (len(pages) - 1)
    assert 1 <= len(pages[-1]) <= page_size
    assert walked == db_stamps(device)
    assert all(newer > older for newer, older in pairwise(walked))


def test_events_walk_ascending_oldest_first(api_client, history):
    pages = walk(api_client, events_url(history.id), {"page_size": "2", "sort_mode": "asc"})

    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [event["type"] for page in pages for event in page] == [type_ for _, type_, _, _ in HISTORY]


def test_events_walk_same_second_events_kept_apart_by_microseconds(api_client):
    device = DeviceFactory()
    add_events(device, 12, start=timezone.now().replace(microsecond=0) + timedelta(seconds=5), step=timedelta(0, 0, 1))

    pages = walk(api_client, events_url(device.id), {"page_size": "5"})

    walked = [event["timestamp"] for page in pages for event in page]
    assert walked == db_stamps(device)
    assert len(set(walked)) == 13


def test_events_walk_while_events_appended_nothing_repeats(api_client):
    device = DeviceFactory()
    record_events(device, 11, description="before")
    before = db_stamps(device)

    pages = walk(api_client, events_url(device.id), {"page_size": "4"}, between_pages=lambda: record_events(device, 2))

    walked = [event["timestamp"] for page in pages for event in page]
    # Events appended after the first page are newer than the cursor: the walk goes on through the old ones only.
    assert walked == before
    assert all(newer > older for newer, older in pairwise(walked))
    assert device.events.count() == len(before) + 2 * (len(pages) - 1)


def test_events_walk_ascending_while_events_appended_reaches_them_once(api_client):
    device = DeviceFactory()
    record_events(device, 5, description="before")

    pages = walk(
        api_client, events_url(device.id), {"page_size": "3", "sort_mode": "asc"}, lambda: record_events(device, 1)
    )

    walked = [event["timestamp"] for page in pages for event in page]
    # Events appended beyond the cursor are reached, each once, in order.
    assert walked == db_stamps(device, descending=False)
    assert len(walked) == 6 + len(pages) - 1


def test_events_bookmark_alone_keeps_filter_sort_and_page_size(api_client, history):
    first = api_client.get(events_url(history.id), {"filter": "type[ne]:CREATED", "sort_mode": "asc", "page_size": "2"})
    assert types(first) == ["PROVISIONED", "STATUS-UPDATED"]

    response = api_client.get(events_url(history.id), {"bookmark": first.json()["next"]})

    assert types(response) == ["RENEWED", "METADATA-UPDATED"]
    following = api_client.get(events_url(history.id), {"bookmark": response.json()["next"]})
    assert types(following) == ["STATUS-UPDATED", "DECOMMISSIONED"]
    assert following.json()["next"] == ""


def test_events_bookmark_with_same_filter_accepted(api_client, history):
    params = {"filter": "type[eq]:STATUS-UPDATED", "page_size": "1"}
    bookmark = api_client.get(events_url(history.id), params).json()["next"]

    response = api_client.get(events_url(history.id), {"bookmark": bookmark, "filter": "type[eq]:STATUS-UPDATED"})

    assert stamps(response) == [stamp(at(2))]


def test_events_bookmark_with_other_filter_validation_error(api_client, history):
    bookmark = api_client.get(events_url(history.id), {"page_size": "2"}).json()["next"]

    response = api_client.get(events_url(history.id), {"bookmark": bookmark, "filter": "type[eq]:CREATED"})

    assert_error(response, 400, "validation_error", field="filter")


def test_events_bookmark_with_other_sort_mode_validation_error(api_client, history):
    bookmark = api_client.get(events_url(history.id), {"page_size": "2"}).json()["next"]

    response = api_client.get(events_url(history.id), {"bookmark": bookmark, "sort_mode": "asc"})

    assert_error(response, 400, "validation_error", field="sort_mode")


def test_events_bookmark_with_page_size_applies(api_client, history):
    bookmark = api_client.get(events_url(history.id), {"page_size": "2"}).json()["next"]

    response = api_client.get(events_url(history.id), {"bookmark": bookmark, "page_size": "4"})

    assert stamps(response) == db_stamps(history)[2:6]


def test_events_bookmark_of_another_device_validation_error(api_client, history):
    other = DeviceFactory(id="sensor-2")
    record_events(other, 4)
    bookmark = api_client.get(events_url(other.id), {"page_size": "2"}).json()["next"]

    response = api_client.get(events_url(history.id), {"bookmark": bookmark})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_events_bookmark_of_device_list_validation_error(api_client, history):
    DeviceFactory()
    bookmark = api_client.get(f"{API}/devices", {"page_size": "1"}).json()["next"]

    response = api_client.get(events_url(history.id), {"bookmark": bookmark})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_events_bookmark_tampered_validation_error(api_client, history):
    bookmark = api_client.get(events_url(history.id), {"page_size": "2"}).json()["next"]
    tampered = bookmark[:-1] + ("A" if bookmark[-1] != "A" else "B")

    response = api_client.get(events_url(history.id), {"bookmark": tampered})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_events_include_total_count_counts_matches(api_client, history):
    response = api_client.get(
        events_url(history.id), {"filter": "type[ne]:CREATED", "page_size": "2", "include": "total_count"}
    )

    assert response.json()["total"] == len(HISTORY) - 1
    assert len(listed(response)) == 2


# --- Filters --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected_hours"),
    [
        (["type[eq]:STATUS-UPDATED"], [5, 2]),
        (["type[eq]:status-updated"], [5, 2]),
        (["type[eq]=RENEWED"], [3]),
        (["type[equal]RENEWED"], [3]),
        (["type[in]:CREATED,DECOMMISSIONED"], [6, 0]),
        (["type[ne]:CREATED"], [6, 5, 4, 3, 2, 1]),
        (["type[nin]:CREATED,STATUS-UPDATED,METADATA-UPDATED"], [6, 3, 1]),
        (["timestamp[af]:2026-03-01T13:00:00.250000Z"], [6, 5, 4]),
        (["timestamp[after]:2026-03-01T13:00:00.25Z"], [6, 5, 4]),
        (["timestamp[bf]:2026-03-01T12:00:00.250000Z"], [1, 0]),
        (["timestamp[bf]:20260301T120000Z"], [1, 0]),
        (["timestamp[af]:2026-03-01T16:30:00+02:00"], [6, 5]),
        (["timestamp[eq]:2026-03-01T12:00:00Z"], [2]),
        (["timestamp[eq]:2026-03-01"], [6, 5, 4, 3, 2, 1, 0]),
        (["timestamp[af]:2026-03-02T00:00:00Z"], []),
        (["type[eq]:STATUS-UPDATED", "timestamp[af]:2026-03-01T13:00:00Z"], [5]),
        (["type[ne]:CREATED", "timestamp[bf]:2026-03-01T14:00:00Z", "timestamp[af]:2026-03-01T11:00:00Z"], [3, 2, 1]),
        (["type[eq]:RENEWED", "type[eq]:CREATED"], []),
    ],
)
def test_events_filtered(api_client, history, filters, expected_hours):
    response = api_client.get(events_url(history.id), {"filter": filters})

    assert stamps(response) == [stamp(at(hours)) for hours in expected_hours]


def test_events_filtered_ascending(api_client, history):
    response = api_client.get(events_url(history.id), {"filter": "type[in]:CREATED,RENEWED", "sort_mode": "asc"})

    assert types(response) == ["CREATED", "RENEWED"]


def test_events_filtered_walk_returns_matches_once(api_client):
    device = DeviceFactory()
    for index in range(10):
        kind = EventType.STATUS_UPDATED if index % 2 else EventType.METADATA_UPDATED
        add_events(device, 1, start=timezone.now() + timedelta(seconds=index + 1), type=kind)

    pages = walk(api_client, events_url(device.id), {"filter": "type[eq]:STATUS-UPDATED", "page_size": "2"})

    assert [len(page) for page in pages] == [2, 2, 1]
    walked = [event["timestamp"] for page in pages for event in page]
    expected = device.events.filter(type=EventType.STATUS_UPDATED).order_by("-timestamp")
    assert walked == [stamp(event.timestamp) for event in expected]


@pytest.fixture
def whole_second_history() -> Device:
    """Events on either side of 12:00:00 and exactly on it (a timestamp with no fraction of a second)."""
    device = DeviceFactory(id="edges")
    DeviceEvent.objects.filter(device=device).update(timestamp=datetime(2026, 3, 1, 11, 0, tzinfo=UTC))
    noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for offset in (-1, 0, 1, 1_000_000):
        add_events(device, 1, start=noon + timedelta(microseconds=offset), description=f"at {offset}")
    return device


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ("timestamp[bf]:2026-03-01T12:00:00Z", ["at -1", "Device created"]),
        ("timestamp[af]:2026-03-01T12:00:00Z", ["at 1000000", "at 1"]),
        ("timestamp[eq]:2026-03-01T12:00:00Z", ["at 1", "at 0"]),
        ("timestamp[eq]:2026-03-01T12:00:00.000000Z", ["at 0"]),
        ("timestamp[eq]:20260301T120001Z", ["at 1000000"]),
        ("timestamp[af]:2026-03-01T11:59:59.999999Z", ["at 1000000", "at 1", "at 0"]),
    ],
)
def test_events_date_filter_boundaries_exact(api_client, whole_second_history, filter_, expected):
    response = api_client.get(events_url("edges"), {"filter": filter_})

    assert [event["description"] for event in listed(response)] == expected


@pytest.mark.parametrize("sort_mode", ["asc", "desc"])
def test_events_walk_across_whole_second_timestamps(api_client, whole_second_history, sort_mode):
    pages = walk(api_client, events_url("edges"), {"page_size": "1", "sort_mode": sort_mode})

    walked = [page[0]["timestamp"] for page in pages]
    assert walked == db_stamps(whole_second_history, descending=sort_mode == "desc")
    assert "2026-03-01T12:00:00.000000Z" in walked


@pytest.mark.parametrize(
    "bad",
    [
        "source[eq]:x",  # not a filterable field of events
        "description[eq]:Device created",
        "status[eq]:ACTIVE",  # a device field, not an event field
        "type[eq]:EXPLODED",  # not an event type
        "type[in]:CREATED,EXPLODED",
        "type[eq]:",
        "type[in]:",
        "type[ct]:X",  # an operator the enum type lacks
        "type[bf]:CREATED",
        "timestamp[ct]:2026",
        "timestamp[ne]:2026-03-01T10:00:00Z",
        "timestamp[af]:yesterday",
        "timestamp[bf]:2026-13-01T00:00:00Z",
        "timestamp[af]:2026-03-01T10:00:00",  # no time zone
        "timestamp[eq]:",
        "type",
        "type[eq",
        "[eq]:CREATED",
    ],
)
def test_events_bad_filter_validation_error_names_filter(api_client, history, bad):
    response = api_client.get(events_url(history.id), {"filter": bad})

    assert_error(response, 400, "validation_error", field="filter[0]")


def test_events_bad_second_filter_named_by_index(api_client, history):
    response = api_client.get(events_url(history.id), {"filter": ["type[eq]:CREATED", "source[eq]:x"]})

    body = assert_error(response, 400, "validation_error", field="filter[1]")
    assert [item["name"] for item in body["fields"]] == ["filter[1]"]
    assert "source" in body["fields"][0]["message"]


def test_events_every_bad_filter_named(api_client, history):
    response = api_client.get(events_url(history.id), {"filter": ["type[ct]:X", "type[eq]:CREATED", "timestamp[af]:x"]})

    body = assert_error(response, 400, "validation_error")
    assert sorted(item["name"] for item in body["fields"]) == ["filter[0]", "filter[2]"]


# --- Errors: unknown device, scopes, methods ------------------------------------------------------------------


def test_events_unknown_device_not_found(api_client):
    assert_error(api_client.get(events_url("no-such-device")), 404, "not_found")


def test_events_deleted_device_not_found(api_client, history):
    services.device_delete(device_id=history.id, force=True)

    assert_error(api_client.get(events_url(history.id)), 404, "not_found")
    assert not DeviceEvent.objects.filter(device_id=history.id).exists()


@pytest.mark.parametrize("scopes", [("groups:read",), ("groups:read", "groups:write")])
def test_events_key_without_devices_scope_access_denied(client_with_scopes, history, scopes):
    response = client_with_scopes(*scopes).get(events_url(history.id))

    assert_error(response, 403, "access_denied")


def test_events_unknown_device_without_scope_access_denied(client_with_scopes):
    response = client_with_scopes("groups:read").get(events_url("no-such-device"))

    assert_error(response, 403, "access_denied")


@pytest.mark.parametrize("scope", ["devices:read", "devices:write"])
def test_events_devices_scope_enough(client_with_scopes, history, scope):
    assert len(listed(client_with_scopes(scope).get(events_url(history.id)))) == len(HISTORY)


def test_events_without_key_invalid_auth(anon_client, history):
    assert_error(anon_client.get(events_url(history.id)), 401, "invalid_auth")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_events_write_methods_not_supported(api_client, history, method):
    response = getattr(api_client, method)(events_url(history.id), {}, format="json")

    assert_error(response, 405, "method_not_supported")
    assert DeviceEvent.objects.filter(device=history).count() == len(HISTORY)


# --- Query counts ---------------------------------------------------------------------------------------------


def count_queries(client, url: str, params: dict, expected_rows: int) -> int:
    mark_key_used(client)
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params)
    assert len(listed(response)) == expected_rows
    return len(context.captured_queries)


@pytest.fixture
def busy_device() -> Device:
    device = DeviceFactory(id="busy")
    add_events(device, 120, start=timezone.now() + timedelta(seconds=1))
    return device


def test_events_page_fixed_queries(api_client, busy_device, django_assert_max_num_queries):
    mark_key_used(api_client)
    with django_assert_max_num_queries(3):
        response = api_client.get(events_url(busy_device.id), {"page_size": "50"})

    assert len(listed(response)) == 50


def test_events_query_count_independent_of_page_size(api_client, busy_device):
    url = events_url(busy_device.id)

    assert count_queries(api_client, url, {"page_size": "5"}, 5) == count_queries(
        api_client, url, {"page_size": "50"}, 50
    )


def test_events_later_page_costs_first_page_queries(api_client, busy_device):
    url = events_url(busy_device.id)
    first = count_queries(api_client, url, {"page_size": "5"}, 5)
    bookmark = api_client.get(url, {"page_size": "100"}).json()["next"]

    assert count_queries(api_client, url, {"bookmark": bookmark, "page_size": "5"}, 5) == first


def test_events_filtered_page_costs_unfiltered_page_queries(api_client, busy_device):
    url = events_url(busy_device.id)
    params = {"filter": ["type[eq]:METADATA-UPDATED", "timestamp[af]:2000-01-01"], "page_size": "50"}

    assert count_queries(api_client, url, params, 50) == count_queries(api_client, url, {"page_size": "50"}, 50)


# --- The device's `events` map: its 20 most recent events -----------------------------------------------------


def recent_map(device: Device, count: int = 20) -> dict:
    newest = device.events.order_by("-timestamp")[:count]
    return {stamp(event.timestamp): {"type": event.type, "description": event.description} for event in newest}


def test_device_events_map_holds_twenty_most_recent(api_client):
    device = DeviceFactory(id="chatty")
    add_events(device, 30, start=timezone.now() + timedelta(seconds=1))

    events = api_client.get(f"{API}/devices/chatty").json()["events"]

    assert len(events) == 20
    assert events == recent_map(device)
    assert {event["description"] for event in events.values()} == {f"change {index}" for index in range(10, 30)}
    # Keyed by timestamp, oldest first among them: the map reads as a timeline.
    assert list(events) == sorted(events)


def test_device_events_map_in_list_holds_twenty_most_recent(api_client):
    chatty = DeviceFactory(id="chatty")
    quiet = DeviceFactory(id="quiet")
    add_events(chatty, 30, start=timezone.now() + timedelta(seconds=1))
    record_events(quiet, 2)

    devices = {device["id"]: device for device in api_client.get(f"{API}/devices").json()["list"]}

    assert devices["chatty"]["events"] == recent_map(chatty)
    assert devices["quiet"]["events"] == recent_map(quiet)
    assert len(devices["quiet"]["events"]) == 3


def test_device_events_map_matches_first_page_of_history(api_client):
    device = DeviceFactory(id="chatty")
    add_events(device, 30, start=timezone.now() + timedelta(seconds=1))

    history = listed(api_client.get(events_url("chatty"), {"page_size": "20"}))
    events = api_client.get(f"{API}/devices/chatty").json()["events"]

    assert sorted(events, reverse=True) == [event["timestamp"] for event in history]


@pytest.fixture
def fifty_busy_devices():
    start = timezone.now() + timedelta(seconds=1)
    for index in range(50):
        add_events(DeviceFactory(id=f"busy-{index:02d}"), 25, start=start, step=timedelta(milliseconds=1))


def test_device_list_page_of_50_costs_page_of_5_queries(api_client, fifty_busy_devices, django_assert_max_num_queries):
    url = f"{API}/devices"
    small = count_queries(api_client, url, {"page_size": "5"}, 5)
    mark_key_used(api_client)
    with django_assert_max_num_queries(small):
        response = api_client.get(url, {"page_size": "50"})

    body = response.json()
    assert len(body["list"]) == 50
    assert all(len(device["events"]) == 20 for device in body["list"])


# --- Recording: a device's timestamps strictly increase -------------------------------------------------------


def test_record_event_after_future_event_bumped_by_one_microsecond():
    device = DeviceFactory()
    future = timezone.now() + timedelta(hours=1)
    add_events(device, 1, start=future)

    with transaction.atomic():
        event = services.device_record_event(
            device=services.device_lock(device_id=device.pk), type=EventType.RENEWED, description="", source="t"
        )

    assert event.timestamp == future + timedelta(microseconds=1)
    assert DeviceEvent.objects.get(pk=event.pk).timestamp == future + timedelta(microseconds=1)


def test_record_events_in_quick_succession_strictly_increase():
    device = DeviceFactory()

    record_events(device, 50)

    recorded = list(device.events.order_by("pk").values_list("timestamp", flat=True))
    assert len(recorded) == 51
    assert all(earlier < later for earlier, later in pairwise(recorded))
