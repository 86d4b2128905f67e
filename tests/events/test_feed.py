"""The fleet feed (contract, section 7): every change by every path is one or more CloudEvents, in the change's
transaction, listed by `GET /events` in feed order with a `next` that is never empty."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from devices import services
from devices.models import Device
from events.models import Event
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory, DeviceGroupFactory

pytestmark = pytest.mark.django_db

EVENTS = f"{API}/events"


def feed(client, **params) -> dict:
    response = client.get(EVENTS, params)
    assert response.status_code == 200, response.content
    return response.json()


def events_of(client, **params) -> list[dict]:
    return feed(client, page_size=1000, **params)["list"]


def types(events) -> list[tuple[str, str]]:
    return [(event["type"], event["subject"]) for event in events]


def slot(status="ACTIVE", version=1, **fields):
    return {"status": status, "active_version": version, "type": "X509", "expiration_date": "2030-01-01T00:00:00Z",
            **fields}  # fmt: skip


# --- The envelope --------------------------------------------------------------------------------------------------


def test_a_created_device_is_a_cloud_event_with_the_device(api_client):
    response = api_client.post(f"{API}/devices", {"id": "d-1", "tags": ["sensor"]}, format="json")
    assert response.status_code == 201

    (event,) = events_of(api_client)

    assert event["specversion"] == "1.0" and event["id"] == str(Event.objects.get().position)
    assert event["type"] == "device.created" and event["subject"] == "d-1"
    assert event["source"] == f"{API}/devices/d-1"
    assert event["datacontenttype"] == "application/json"
    assert event["actor"] == "key:test-key"
    assert event["time"].endswith("Z")
    device = response.json()
    del device["events"]
    assert event["data"] == {"device": device}  # the device as the API shows it, without its events


def test_positions_grow_along_the_feed_without_holes(api_client):
    for index in range(5):
        DeviceFactory(id=f"d-{index}")

    ids = [int(event["id"]) for event in events_of(api_client)]

    assert ids == list(range(ids[0], ids[0] + 5))


# --- Every path, every type ----------------------------------------------------------------------------------------


def test_identity_update_then_status_update_consecutive(api_client):
    DeviceFactory(id="d-1")

    response = api_client.put(f"{API}/devices/d-1/idslot", slot(), format="json")

    assert response.status_code == 200, response.content
    events = events_of(api_client)[1:]
    assert types(events) == [("device.identity.updated", "d-1"), ("device.status.updated", "d-1")]
    assert events[0]["data"]["changes"]["identity"]["old"] is None
    assert events[0]["data"]["changes"]["identity"]["new"]["status"] == "ACTIVE"
    assert events[1]["data"]["changes"] == {"status": {"old": "NO_IDENTITY", "new": "ACTIVE"}}
    assert events[1]["data"]["device"]["status"] == "ACTIVE"


def test_decommission_revokes_then_changes_status_then_decommissions(api_client):
    DeviceFactory(id="d-1")
    api_client.put(f"{API}/devices/d-1/idslot", slot(), format="json")
    before = len(events_of(api_client))

    assert api_client.delete(f"{API}/devices/d-1/decommission").status_code in (200, 204)

    events = events_of(api_client)[before:]
    assert [event["type"] for event in events] == [
        "device.identity.updated",
        "device.status.updated",
        "device.decommissioned",
    ]
    assert events[0]["data"]["changes"]["identity"]["new"]["status"] == "REVOKED"
    assert events[1]["data"]["changes"]["status"] == {"old": "ACTIVE", "new": "DECOMMISSIONED"}
    assert "changes" not in events[2]["data"] or events[2]["data"]["changes"] == {}


def test_metadata_replace_names_old_and_new(api_client):
    DeviceFactory(id="d-1", metadata={"a": 1})

    api_client.put(f"{API}/devices/d-1/metadata", {"metadata": {"a": 2}}, format="json")

    event = events_of(api_client)[-1]
    assert event["type"] == "device.metadata.updated"
    assert event["data"]["changes"] == {"metadata": {"old": {"a": 1}, "new": {"a": 2}}}


def test_a_write_that_changes_nothing_records_nothing(api_client):
    DeviceFactory(id="d-1", metadata={"a": 1})
    before = len(events_of(api_client))

    api_client.put(f"{API}/devices/d-1/metadata", {"metadata": {"a": 1}}, format="json")

    assert len(events_of(api_client)) == before


def test_deleted_device_shows_as_it_was_and_its_events_stay(api_client):
    DeviceFactory(id="d-1", alias="old one")

    assert api_client.delete(f"{API}/devices/d-1?force=true").status_code == 204

    events = events_of(api_client)
    assert types(events) == [("device.created", "d-1"), ("device.deleted", "d-1")]
    assert events[1]["data"]["device"]["alias"] == "old one"
    assert "changes" not in events[1]["data"]


def test_adapter_events_carry_the_adapter_and_the_device_id(api_client):
    DeviceFactory(id="d-1")
    body = {"type": "cellular", "imei": "490154203237518", "imsi": "204080123456789"}
    adapter = api_client.post(f"{API}/devices/d-1/network-adapters", body, format="json").json()
    update = {"imsi": "204080123456780"}
    assert (
        api_client.put(f"{API}/devices/d-1/network-adapters/{adapter['id']}", update, format="json").status_code == 200
    )
    api_client.delete(f"{API}/devices/d-1/network-adapters/{adapter['id']}")

    events = events_of(api_client)[1:]

    assert [event["type"] for event in events] == [
        "device.adapter.added",
        "device.adapter.updated",
        "device.adapter.removed",
    ]
    assert all(event["subject"] == "d-1" and event["data"]["device_id"] == "d-1" for event in events)
    assert events[0]["data"]["adapter"]["imei"] == "490154203237518"
    assert events[1]["data"]["changes"] == {"imsi": {"old": "204080123456789", "new": "204080123456780"}}


def test_group_events(api_client):
    parent = api_client.post(f"{API}/device-groups", {"name": "Parent"}, format="json").json()
    child = api_client.post(f"{API}/device-groups", {"name": "Child", "parent_id": parent["id"]}, format="json").json()
    api_client.put(f"{API}/device-groups/{parent['id']}", {"q": "status[eq]:ACTIVE"}, format="json")
    api_client.delete(f"{API}/device-groups/{parent['id']}")

    events = events_of(api_client)

    assert types(events) == [
        ("group.created", parent["id"]),
        ("group.created", child["id"]),
        ("group.updated", parent["id"]),
        ("group.updated", child["id"]),  # moved up by its parent's deletion
        ("group.deleted", parent["id"]),
    ]
    assert events[0]["source"] == f"{API}/device-groups/{parent['id']}"
    assert events[2]["data"]["changes"] == {"q": {"old": "", "new": "status[eq]:ACTIVE"}}
    assert events[3]["data"]["changes"] == {"parent_id": {"old": parent["id"], "new": None}}
    assert events[4]["data"]["group"]["name"] == "Parent"


def test_cascade_deletes_each_group(api_client):
    parent = DeviceGroupFactory(name="Parent")
    child = DeviceGroupFactory(name="Child", parent=parent)

    api_client.delete(f"{API}/device-groups/{parent.pk}?cascade=true")

    assert types(events_of(api_client)[2:]) == [("group.deleted", str(child.pk)), ("group.deleted", str(parent.pk))]


def test_admin_writes_are_recorded_with_the_admin_as_actor(admin_client, api_client, admin_user):
    response = admin_client.post(
        reverse("admin:devices_device_add"),
        {"id": "from-admin", "alias": "", "tags_text": "", "dms_owner": "", "icon": "", "icon_color": "",
         "metadata_text": "", "_save": "Save"},
    )  # fmt: skip
    assert response.status_code == 302

    (event,) = events_of(api_client)
    assert event["type"] == "device.created" and event["actor"] == f"admin:{admin_user.get_username()}"
    assert Device.objects.get(pk="from-admin").events.get().source == admin_user.get_username()


def test_refresh_records_identity_and_status(api_client):
    DeviceFactory(id="d-1")
    expiring = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    api_client.put(f"{API}/devices/d-1/idslot", slot(expiration_date=expiring), format="json")
    before = len(events_of(api_client))

    call_command("refresh_device_status", stdout=io.StringIO())

    events = events_of(api_client)[before:]
    assert types(events) == [("device.identity.updated", "d-1"), ("device.status.updated", "d-1")]
    assert events[1]["actor"] == "command:refresh_device_status"
    assert events[1]["data"]["changes"]["status"] == {"old": "ACTIVE", "new": "ABOUT_TO_EXPIRE"}


def test_seed_records_created_events(api_client):
    call_command("seed_devices", count=3, seed=1, stdout=io.StringIO())

    events = events_of(api_client)
    assert [event["type"] for event in events] == ["device.created"] * 3
    assert {event["actor"] for event in events} == {"command:seed_devices"}


def test_a_refused_or_rolled_back_change_records_nothing(api_client):
    DeviceFactory(id="d-1")
    before = len(events_of(api_client))

    assert api_client.post(f"{API}/devices", {"id": "d-1"}, format="json").status_code == 409
    with pytest.raises(RuntimeError), transaction.atomic():
        services.device_replace_metadata(device_id="d-1", metadata={"b": 1}, source="test")
        raise RuntimeError("roll back")

    assert len(events_of(api_client)) == before


# --- Paging ---------------------------------------------------------------------------------------------------------


def test_walking_with_next_sees_every_event_once_and_next_is_never_empty(api_client):
    for index in range(7):
        DeviceFactory(id=f"d-{index}")

    seen, page = [], feed(api_client, page_size=3)
    while page["list"]:
        seen += page["list"]
        assert page["next"]
        page = feed(api_client, bookmark=page["next"])
    assert [event["subject"] for event in seen] == [f"d-{index}" for index in range(7)]

    DeviceFactory(id="late")
    assert types(feed(api_client, bookmark=page["next"])["list"]) == [("device.created", "late")]


def test_after_starts_after_that_event(api_client):
    for index in range(3):
        DeviceFactory(id=f"d-{index}")
    first = events_of(api_client)[0]

    assert [event["subject"] for event in events_of(api_client, after=first["id"])] == ["d-1", "d-2"]


def test_filters_on_type_subject_actor_time(api_client):
    DeviceFactory(id="d-1")
    DeviceFactory(id="d-2")
    api_client.put(f"{API}/devices/d-1/metadata", {"metadata": {"x": 1}}, format="json")
    DeviceGroupFactory(name="G")

    assert types(events_of(api_client, filter="type[ct]:device.metadata")) == [("device.metadata.updated", "d-1")]
    assert len(events_of(api_client, filter="type[in]:device.created,group.created")) == 3
    assert [e["type"] for e in events_of(api_client, filter="subject[eq]:d-1")] == [
        "device.created",
        "device.metadata.updated",
    ]
    assert types(events_of(api_client, filter="actor[eq]:key:test-key")) == [("device.metadata.updated", "d-1")]
    assert len(events_of(api_client, filter="time[af]:2000-01-01T00:00:00Z")) == 4
    assert events_of(api_client, filter="time[bf]:2000-01-01T00:00:00Z") == []


def test_a_filtered_empty_page_moves_next_past_what_it_skipped(api_client):
    for index in range(3):
        DeviceFactory(id=f"d-{index}")
    page = feed(api_client, filter="type[eq]:group.created")
    assert page["list"] == []

    group = DeviceGroupFactory(name="G")
    DeviceFactory(id="d-3")

    assert types(feed(api_client, bookmark=page["next"])["list"]) == [("group.created", str(group.pk))]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"filter": "colour[eq]:red"}, "filter[0]"),
        ({"filter": "type[ne]:device.created"}, "filter[0]"),
        ({"after": "x"}, "after"),
        ({"after": "-1"}, "after"),
        ({"after": "99999"}, "after"),
        ({"bookmark": "nonsense"}, "bookmark"),
        ({"page_size": "0"}, "page_size"),
        ({"Filter": "type[eq]:x"}, "Filter"),
    ],
)
def test_bad_parameters_are_400(api_client, params, field):
    assert_error(api_client.get(EVENTS, params), 400, "validation_error", field)


def test_a_bookmark_with_other_filters_or_after_is_400(api_client):
    DeviceFactory(id="d-1")
    bookmark = feed(api_client, filter="type[eq]:device.created")["next"]

    assert_error(api_client.get(EVENTS, {"bookmark": bookmark, "filter": "type[eq]:group.created"}), 400,
                 "validation_error", "filter")  # fmt: skip
    assert_error(api_client.get(EVENTS, {"bookmark": bookmark, "after": "0"}), 400, "validation_error", "after")
    assert feed(api_client, bookmark=bookmark, filter="type[eq]:device.created")["list"] == []


def test_the_feed_needs_events_read(client_with_scopes):
    assert_error(client_with_scopes("devices:read").get(EVENTS), 403, "access_denied")
    assert client_with_scopes("events:read").get(EVENTS).status_code == 200


# --- The import -----------------------------------------------------------------------------------------------------


def test_import_records_created_then_upsert_updates(api_client, tmp_path):
    rows = tmp_path / "devices.jsonl"
    rows.write_text(
        '{"id": "i-1", "alias": "one", "metadata": {"a": 1}}\n{"id": "i-2", "tags": ["x"]}\n', encoding="utf-8"
    )
    call_command("import_devices", str(rows), stdout=io.StringIO(), stderr=io.StringIO())

    created = events_of(api_client)
    assert types(created) == [("device.created", "i-1"), ("device.created", "i-2")]
    assert {event["actor"] for event in created} == {"command:import_devices"}
    assert created[0]["data"]["device"]["alias"] == "one" and created[0]["data"]["device"]["metadata"] == {"a": 1}
    assert created[1]["data"]["device"]["tags"] == ["x"]

    rows.write_text('{"id": "i-1", "alias": "uno", "metadata": {"a": 2}}\n{"id": "i-2", "tags": ["x"]}\n')
    call_command("import_devices", str(rows), mode="upsert", stdout=io.StringIO(), stderr=io.StringIO())

    updated = events_of(api_client)[2:]
    assert types(updated) == [("device.updated", "i-1"), ("device.metadata.updated", "i-1")]
    assert updated[0]["data"]["changes"] == {"alias": {"old": "one", "new": "uno"}}
    assert updated[1]["data"]["changes"] == {"metadata": {"old": {"a": 1}, "new": {"a": 2}}}
    assert updated[1]["data"]["device"]["alias"] == "uno"


def test_import_records_the_adapters_it_adds(api_client, tmp_path):
    rows = tmp_path / "devices.jsonl"
    rows.write_text('{"id": "i-1", "imei": "490154203237518"}\n{"id": "i-2"}\n', encoding="utf-8")
    call_command("import_devices", str(rows), stdout=io.StringIO(), stderr=io.StringIO())

    rows.write_text('{"id": "i-2", "imei": "356938035643809"}\n', encoding="utf-8")
    call_command("import_devices", str(rows), mode="upsert", stdout=io.StringIO(), stderr=io.StringIO())

    events = events_of(api_client)
    assert types(events) == [
        ("device.created", "i-1"),
        ("device.created", "i-2"),
        ("device.adapter.added", "i-1"),
        ("device.adapter.added", "i-2"),
    ]
    assert events[2]["data"]["adapter"]["imei"] == "490154203237518" and events[2]["data"]["device_id"] == "i-1"
    assert events[3]["data"]["adapter"]["imei"] == "356938035643809"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"after": "9" * 5000}, "after"), ({"wait": "9" * 5000}, "wait"), ({"page_size": "9" * 5000}, "page_size")],
)
def test_numbers_of_thousands_of_digits_are_400(api_client, params, field):
    assert_error(api_client.get(EVENTS, params), 400, "validation_error", field)


def test_a_last_event_id_of_thousands_of_digits_is_400(api_client):
    response = api_client.get(EVENTS, HTTP_ACCEPT="text/event-stream", HTTP_LAST_EVENT_ID="9" * 5000)

    assert_error(response, 400, "validation_error", "Last-Event-ID")
