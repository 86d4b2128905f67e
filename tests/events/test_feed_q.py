"""`q` on the feed (contract, sections 7 and 8): one boolean expression over the device fields of the filter language,
applied to the device in each event's `data.device`; events without a device (group and adapter events) always
match; a page looks at no more than `SCAN_WINDOW` positions, and `next` goes on from the last one it looked at."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from django.core import signing
from django.db import connection, connections
from django.db.models import Q
from django.utils import timezone
from rest_framework.test import APIClient

from devices import services
from devmanager.api.filtering.expression import ExpressionError
from events import reading
from events.api.views import FEED_SALT
from events.filters import device_q, normalise_device_q
from events.reading import feed_page
from tests.conftest import API, assert_error
from tests.factories import DeviceGroupFactory, NetworkAdapterFactory

pytestmark = pytest.mark.django_db

EVENTS = f"{API}/events"
CREATED = "type[eq]:device.created"


def feed(client, **params) -> dict:
    response = client.get(EVENTS, params)
    assert response.status_code == 200, response.content
    return response.json()


def created(client, q: str, **params) -> list[str]:
    """The devices whose `device.created` event the `q` selects."""
    return [event["subject"] for event in feed(client, q=q, filter=CREATED, page_size=1000, **params)["list"]]


def types(events) -> list[tuple[str, str]]:
    return [(event["type"], event["subject"]) for event in events]


def position(bookmark: str) -> int:
    """The position a feed bookmark goes on after."""
    return signing.loads(bookmark, salt=FEED_SALT)["a"]


def walk(client, after: int, **params) -> tuple[list[dict], list[tuple[int, int]]]:
    """Every event after the position, by following `next` until it stops moving; and each request's position and
    its `next`'s."""
    seen, steps = [], []
    page = feed(client, after=str(after), **params)
    while True:
        seen += page["list"]
        steps.append((after, position(page["next"])))
        if steps[-1][1] == after:
            return seen, steps
        after, page = steps[-1][1], feed(client, bookmark=page["next"])


def last_position(client) -> int:
    """The feed's last position (0 when it is empty)."""
    return walk(client, 0, filter="type[eq]:none")[1][-1][1]


@pytest.fixture
def fleet(db):
    """Three devices; the boiler then gets an identity slot (its status becomes ACTIVE)."""
    services.device_create(id="boiler", source="test", alias="Boiler Room", tags=["Critical", "sensor"],
                           dms_owner="lab", metadata={"env": "prod", "temp": 25})  # fmt: skip
    services.device_create(id="garage", source="test", alias="garage door", tags=["sensor"], dms_owner="ops",
                           metadata={"env": "dev", "temp": 12})  # fmt: skip
    services.device_create(id="yard", source="test", tags=[], dms_owner="ops")
    services.device_set_identity_slot(device_id="boiler", source="test", status="ACTIVE", active_version=1,
                                      type="X509", versions={"1": "pem"})  # fmt: skip


# --- Each kind of field ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "selected"),
    [
        ("status[eq]:active", [("device.identity.updated", "boiler"), ("device.status.updated", "boiler")]),
        ("status[in]:REVOKED,ACTIVE", [("device.identity.updated", "boiler"), ("device.status.updated", "boiler")]),
        ("status[ne]:ACTIVE", [("device.created", "boiler"), ("device.created", "garage"), ("device.created", "yard")]),
        ("status[nin]:NO_IDENTITY", [("device.identity.updated", "boiler"), ("device.status.updated", "boiler")]),
    ],
)
def test_status_selects_the_device_as_each_event_shows_it(api_client, fleet, q, selected):
    assert types(feed(api_client, q=q)["list"]) == selected


@pytest.mark.parametrize(
    ("q", "devices"),
    [
        ("tags[ct]:Critical", ["boiler"]),
        ("tags[ct]:critical", []),  # exact case
        ("tags[ct_ic]:CRITICAL", ["boiler"]),
        ("tags[contains_ignorecase]:SENSOR", ["boiler", "garage"]),
        ("tags[nc]:sensor", ["yard"]),
        ("tags[nc_ic]:critical", ["garage", "yard"]),
    ],
)
def test_tags(api_client, fleet, q, devices):
    assert created(api_client, q) == devices


@pytest.mark.parametrize(
    ("q", "devices"),
    [
        ("alias[ct_ic]:ROOM", ["boiler"]),
        ("alias[ct]:room", []),  # exact case, on SQLite too
        ("alias[eq]:'garage door'", ["garage"]),
        ("alias[eq_ic]:'BOILER ROOM'", ["boiler"]),
        ("alias[eq]:''", ["yard"]),
        ("alias[nc]:o", ["yard"]),
        ("id[in]:yard,garage", ["garage", "yard"]),
        ("id[ct]:%", []),  # % and _ are literal
        ("dms_owner[eq]:ops", ["garage", "yard"]),
        ("dms_owner[ne]:ops", ["boiler"]),
        ("dms_owner[in_ic]:LAB,nobody", ["boiler"]),
    ],
)
def test_string_fields(api_client, fleet, q, devices):
    assert created(api_client, q) == devices


@pytest.mark.parametrize(
    ("q", "devices"),
    [
        ("""metadata[jsonpath]:'$.env == "prod"'""", ["boiler"]),
        ("metadata[jsonpath]:'$.temp > 20'", ["boiler"]),
        ("metadata[jsonpath]:$.env", ["boiler", "garage"]),
        # The complement of a path that does not apply (no `env` on the yard) holds for it.
        ("""not metadata[jsonpath]:'$.env == "prod"'""", ["garage", "yard"]),
        ("not metadata[jsonpath]:$.env", ["yard"]),
    ],
)
def test_metadata_jsonpath(api_client, fleet, q, devices):
    assert created(api_client, q) == devices


def test_identity_jsonpath_reads_the_identity_slot(api_client, fleet):
    slot_events = [("device.identity.updated", "boiler"), ("device.status.updated", "boiler")]

    assert types(feed(api_client, q="""identity[jsonpath]:'$.type == "X509"'""")["list"]) == slot_events
    assert types(feed(api_client, q="identity_slot[jsonpath]:$.versions")["list"]) == slot_events
    assert created(api_client, "not identity[jsonpath]:$.type") == ["boiler", "garage", "yard"]


@pytest.fixture
def clock(monkeypatch):
    """`timezone.now()` reads `clock[0]`."""
    now = [datetime(2026, 3, 9, 10, 0, tzinfo=UTC)]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return now


def test_timestamps_compare_to_the_microsecond(api_client, clock):
    # A whole second is where SQLite's text of a datetime and the event's differ most (no fraction written).
    for device_id, at in [("a", "10:00:00"), ("b", "10:00:00.500000"), ("c", "10:00:01.000001")]:
        clock[0] = datetime.fromisoformat(f"2026-03-09T{at}+00:00")
        services.device_create(id=device_id, source="test")

    assert created(api_client, "creation_timestamp[af]:2026-03-09T10:00:00Z") == ["b", "c"]
    assert created(api_client, "creation_timestamp[bf]:2026-03-09T10:00:00.5Z") == ["a"]
    assert created(api_client, "creation_timestamp[bf]:20260309T100001Z") == ["a", "b"]
    assert created(api_client, "creation_timestamp[eq]:2026-03-09T10:00:00Z") == ["a", "b"]  # the whole second
    assert created(api_client, "creation_timestamp[eq]:2026-03-09T10:00:00.000000Z") == ["a"]
    assert created(api_client, "creation_timestamp[eq]:2026-03-09") == ["a", "b", "c"]
    assert created(api_client, "not creation_timestamp[af]:2026-03-09T10:00:01Z") == ["a", "b"]
    # The normal form (a bookmark's, a webhook's) is a q that selects the same.
    for q in ["creation_timestamp[eq]:2026-03-09T12:00:00.5+02:00", "creation_timestamp[eq]:20260309T100000Z"]:
        normal = normalise_device_q(q)
        assert created(api_client, normal) == created(api_client, q) != []
        assert normalise_device_q(normal) == normal


def test_updated_timestamp_is_the_device_after_the_change(api_client, clock):
    services.device_create(id="d-1", source="test")
    clock[0] += timedelta(hours=1)
    services.device_replace_metadata(device_id="d-1", metadata={"a": 1}, source="test")

    selected = feed(api_client, q="updated_timestamp[af]:2026-03-09T10:30:00Z")["list"]

    assert types(selected) == [("device.metadata.updated", "d-1")]


# --- Expressions ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "devices"),
    [
        ("status[in]:EXPIRED,REVOKED or (tags[ct]:sensor and not dms_owner[eq]:lab)", ["garage"]),
        ("dms_owner[eq]:ops and not (tags[ct]:sensor or alias[eq]:x)", ["yard"]),
        ("NOT dms_owner[eq]:ops OR metadata[jsonpath]:'$.temp < 20'", ["boiler", "garage"]),
        ("not not (alias[ct_ic]:room and tags[ct_ic]:critical)", ["boiler"]),
        ("tags[ct]:sensor and tags[ct]:Critical and dms_owner[eq]:ops", []),
    ],
)
def test_and_or_not(api_client, fleet, q, devices):
    assert created(api_client, q) == devices


def test_q_and_filters_both_hold(api_client, fleet):
    selected = feed(api_client, q="dms_owner[eq]:lab", filter="type[ct]:device.status")["list"]

    assert types(selected) == [("device.status.updated", "boiler")]


def test_an_empty_q_is_absent(api_client, fleet):
    assert feed(api_client, q="")["list"] == feed(api_client)["list"]


def test_group_and_adapter_events_always_match(api_client):
    device = services.device_create(id="d-1", source="test", dms_owner="lab")
    group = DeviceGroupFactory(name="G")
    NetworkAdapterFactory(device=device)

    selected = feed(api_client, q="dms_owner[eq]:nobody and not status[eq]:NO_IDENTITY")["list"]

    assert types(selected) == [("group.created", str(group.pk)), ("device.adapter.added", "d-1")]


def test_a_deleted_device_matches_as_it_was(api_client):
    services.device_create(id="d-1", source="test", dms_owner="lab")
    assert api_client.delete(f"{API}/devices/d-1?force=true").status_code == 204

    assert types(feed(api_client, q="dms_owner[eq]:lab", filter="type[eq]:device.deleted")["list"]) == [
        ("device.deleted", "d-1")
    ]


# --- A bounded scan -------------------------------------------------------------------------------------------------


@pytest.fixture
def window(monkeypatch):
    monkeypatch.setattr(reading, "SCAN_WINDOW", 5)
    return 5


def test_a_sparse_match_far_away_is_reached_by_following_next(api_client, window):
    start = last_position(api_client)
    services.device_create(id="first", source="test", dms_owner="lab")
    for index in range(17):
        services.device_create(id=f"other-{index}", source="test", dms_owner="ops")
    services.device_create(id="last", source="test", dms_owner="lab")

    seen, steps = walk(api_client, start, q="dms_owner[eq]:lab", page_size=10)

    assert [event["subject"] for event in seen] == ["first", "last"]
    assert [int(event["id"]) for event in seen] == [start + 1, start + 19]
    # Four requests looked at five positions each, the fifth at the last, the sixth at nothing after it.
    assert steps == [(start + n, start + min(n + window, 19)) for n in range(0, 20, window)] + [(start + 19,) * 2]


def test_a_page_past_the_window_is_short_with_next_at_its_end(api_client, window):
    start = last_position(api_client)
    for index in range(12):
        services.device_create(id=f"d-{index}", source="test")

    empty = feed(api_client, q="dms_owner[eq]:lab", after=str(start))
    unfiltered = feed(api_client, after=str(start), page_size=25)

    assert empty["list"] == [] and position(empty["next"]) == start + window
    assert [int(event["id"]) for event in unfiltered["list"]] == list(range(start + 1, start + 1 + window))
    assert position(unfiltered["next"]) == start + window


def test_walking_with_a_window_never_skips_or_repeats(api_client, window):
    start = last_position(api_client)
    for index in range(23):
        services.device_create(id=f"d-{index}", source="test", dms_owner="lab" if index % 4 == 0 else "ops")

    seen, _ = walk(api_client, start, q="dms_owner[eq]:lab or id[eq]:d-7", page_size=2)
    everything, _ = walk(api_client, start, page_size=3)

    assert [event["subject"] for event in seen] == ["d-0", "d-4", "d-7", "d-8", "d-12", "d-16", "d-20"]
    assert [event["subject"] for event in everything] == [f"d-{index}" for index in range(23)]


def test_long_polling_past_the_window_answers_at_once(api_client, window):
    for index in range(12):
        services.device_create(id=f"d-{index}", source="test")
    started = time.monotonic()

    page = feed(api_client, q="dms_owner[eq]:lab", wait="10")

    assert page["list"] == [] and page["next"]
    assert time.monotonic() - started < 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's test database locks a table being written")
def test_long_polling_with_q_waits_past_events_that_do_not_match(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key()}")
    bookmark = client.get(EVENTS, {"q": "dms_owner[eq]:lab"}).json()["next"]
    answers = []

    def follow():
        try:
            answers.append(client.get(EVENTS, {"bookmark": bookmark, "wait": "20"}).json())
        finally:
            connections.close_all()

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.5)
    services.device_create(id="not-this", source="test", dms_owner="ops")
    time.sleep(0.8)
    services.device_create(id="this", source="test", dms_owner="lab")
    follower.join(timeout=30)

    assert [event["subject"] for event in answers[0]["list"]] == ["this"]


# --- Bookmarks and errors -------------------------------------------------------------------------------------------


def test_the_bookmark_carries_q(api_client, fleet):
    first = feed(api_client, q="dms_owner[eq]:ops", page_size=1)
    second = feed(api_client, bookmark=first["next"])
    services.device_create(id="late-lab", source="test", dms_owner="lab")
    services.device_create(id="late-ops", source="test", dms_owner="ops")

    assert types(first["list"]) == [("device.created", "garage")]
    assert types(second["list"]) == [("device.created", "yard")]
    assert types(feed(api_client, bookmark=second["next"])["list"]) == [("device.created", "late-ops")]


def test_a_bookmark_with_the_same_q_spelt_otherwise_is_accepted(api_client, fleet):
    bookmark = feed(api_client, q="dms_owner[eq]:ops and tags[nc]:x", page_size=1)["next"]

    page = feed(api_client, bookmark=bookmark, q="(dms_owner[equal]=ops) AND tags[notcontains]:x")

    assert types(page["list"]) == [("device.created", "yard")]


@pytest.mark.parametrize("other", ["dms_owner[eq]:lab", "status[eq]:ACTIVE and"])
def test_a_bookmark_with_another_q_is_400(api_client, fleet, other):
    bookmark = feed(api_client, q="dms_owner[eq]:ops", page_size=1)["next"]

    assert_error(api_client.get(EVENTS, {"bookmark": bookmark, "q": other}), 400, "validation_error", "q")


def test_a_bookmark_without_q_with_a_q_is_400(api_client, fleet):
    bookmark = feed(api_client, page_size=1)["next"]

    assert_error(api_client.get(EVENTS, {"bookmark": bookmark, "q": "dms_owner[eq]:ops"}), 400, "validation_error", "q")


@pytest.mark.parametrize(
    ("q", "position"),
    [
        ("status[eq]:ACTIVE and", 22),
        ("(status[eq]:ACTIVE", 19),
        ("status[eq]:ACTIVE or status[eq]:SLEEPY", 22),
        ("metadata[jsonpath]:'$.['", 1),
        ("creation_timestamp[af]:yesterday", 1),
        ("tags[eq]:x", 1),
        ("status[eq]:ACTIVE " + "x" * 5000, 4097),
    ],
)
def test_a_bad_q_is_400_naming_q_with_the_position(api_client, q, position):
    body = assert_error(api_client.get(EVENTS, {"q": q}), 400, "validation_error", "q")

    assert f"at character {position}" in body["fields"][0]["message"]


@pytest.mark.parametrize("q", ["imei[eq]:490154203237518", "status[eq]:ACTIVE or dev_eui[eq]:70b3d50000000001"])
def test_an_adapter_identifier_is_an_unknown_field_on_the_feed(api_client, q):
    body = assert_error(api_client.get(EVENTS, {"q": q}), 400, "validation_error", "q")

    assert "unknown field" in body["fields"][0]["message"]


# --- The stream, and the reading for other followers ----------------------------------------------------------------


def test_q_applies_to_the_stream(api_client, fleet, settings):
    settings.DEVMANAGER_SSE_MAX_SECONDS = 1
    response = api_client.get(EVENTS, {"q": "dms_owner[eq]:ops"}, HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200

    lines = b"".join(response.streaming_content).decode().splitlines()

    events = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    assert types(events) == [("device.created", "garage"), ("device.created", "yard")]


def test_a_bad_q_on_the_stream_is_400_before_streaming(api_client):
    response = api_client.get(EVENTS, {"q": "status[eq]:"}, HTTP_ACCEPT="text/event-stream")

    assert_error(response, 400, "validation_error", "q")


def test_feed_page_reads_with_device_q_and_type_conditions(fleet):
    condition = Q(type__startswith="device.") & device_q("dms_owner[equal]=ops")

    events, last = feed_page(condition, None, 1)
    rest, end = feed_page(condition, last, 10)

    assert [(event.type, event.subject) for event in events + rest] == [
        ("device.created", "garage"),
        ("device.created", "yard"),
    ]
    assert end > last and feed_page(condition, end, 10) == ([], end)
    assert normalise_device_q("dms_owner[equal]=ops") == "dms_owner[eq]:ops"
    assert normalise_device_q("") == "" and device_q("") == Q()
    with pytest.raises(ExpressionError, match="at character 1"):
        normalise_device_q("imei[eq]:490154203237518")


def test_the_schema_lists_q_on_the_feed(anon_client):
    schema = yaml.safe_load(anon_client.get("/api/schema/").content)

    (q,) = [parameter for parameter in schema["paths"][EVENTS]["get"]["parameters"] if parameter["name"] == "q"]
    assert q["in"] == "query" and q["schema"] == {"type": "string", "maxLength": 4096}
