"""Fleet-action jobs as the worker runs them: batch by batch through the devices' services, each device changed
recording exactly the events of its single-device operation, a device already as asked succeeding silently,
failures kept per device, cancellation between batches, and a job taken over from a dead worker finishing with no
device changed twice."""

import json
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from events.models import Event
from fleet import jobs
from fleet.actions import ACTIONS, ActionSpec
from fleet.jobs import claim_selection, claim_stream, run, select, step
from fleet.models import Job, JobDevice, JobStatus, JobStream
from tests.fleet.helpers import act, act_confirmed, feed_after, history, last_position, make_devices, run_jobs

pytestmark = pytest.mark.django_db

SLOT = {"status": "ACTIVE", "active_version": 1, "type": "X509"}


@pytest.fixture(autouse=True)
def _small_batches(settings):
    settings.DEVMANAGER_JOB_BATCH_SIZE = 2


def job_of(response) -> Job:
    assert response.status_code == 202, response.content
    return Job.objects.get(pk=response.json()["id"])


def events_without_times(device_id: str, after: int) -> list[tuple]:
    """A device's history and feed events since a position, with what differs between two devices taken out."""
    feed = [(type, data.get("changes")) for type, subject, _, data in feed_after(after) if subject == device_id]
    return [(type, description) for type, description, _ in history(device_id)], feed


def test_add_tags_records_what_a_single_update_records(api_client):
    make_devices(5, tags=["gateway"])
    services.device_create(id="twin", source="test", tags=["gateway"])
    before = last_position()

    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["w7"]}, filter=["id[ct]:d-"]))
    run_jobs()
    services.device_update(device_id="twin", fields={"tags": ["gateway", "w7"]}, source="key:test-key")

    job.refresh_from_db()
    assert (job.status, job.total, job.processed, job.succeeded, job.failed) == (JobStatus.SUCCEEDED, 5, 5, 5, 0)
    assert events_without_times("d-000", before) == events_without_times("twin", before)
    history_of_one = history("d-003")
    assert history_of_one[-1] == (EventType.UPDATED, "Updated: tags", "test-key")
    feed = [(type, subject, actor) for type, subject, actor, _ in feed_after(before) if subject != "twin"]
    assert feed == [("device.updated", f"d-{index:03d}", "key:test-key") for index in range(5)]
    device = api_client.get("/api/devmanager/v1/devices/d-004").json()
    assert device["tags"] == ["gateway", "w7"]
    assert api_client.get("/api/devmanager/v1/devices", {"filter": "tags[ct]:w7"}).json()["list"]


def test_a_device_already_as_asked_succeeds_and_records_nothing(api_client):
    make_devices(2, tags=["a"])
    make_devices(2, prefix="done", tags=["a", "x"])
    before = last_position()

    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}, filter=["tags[ct]:a"]))
    run_jobs()

    job.refresh_from_db()
    assert (job.total, job.succeeded, job.failed) == (4, 4, 0)
    assert {subject for _, subject, _, _ in feed_after(before)} == {"d-000", "d-001"}
    assert history("done-000") == [(EventType.CREATED, "Device created", "test")]


def test_running_an_action_again_changes_nothing(api_client):
    make_devices(3)
    run_jobs() if job_of(act_confirmed(api_client, "set_dms", {"dms_id": "new"})) else None
    before, versions = last_position(), list(Device.objects.order_by("pk").values_list("version", flat=True))

    job = job_of(act_confirmed(api_client, "set_dms", {"dms_id": "new"}))
    run_jobs()

    job.refresh_from_db()
    assert (job.status, job.succeeded) == (JobStatus.SUCCEEDED, 3)
    assert last_position() == before
    assert list(Device.objects.order_by("pk").values_list("version", flat=True)) == versions


def test_remove_tags_and_set_dms(api_client):
    make_devices(3, tags=["a", "b", "c"], dms_owner="old")

    job_of(act_confirmed(api_client, "remove_tags", {"tags": ["b", "zzz"]}))
    job_of(act_confirmed(api_client, "set_dms", {"dms_id": "new"}, filter=["dms_owner[eq]:old"]))
    run_jobs()

    assert set(Device.objects.values_list("dms_owner", flat=True)) == {"new"}
    assert all(tags == ["a", "c"] for tags in Device.objects.values_list("tags", flat=True))
    assert history("d-000")[-1][:2] == (EventType.UPDATED, "Updated: dms_owner")


def test_a_device_that_would_have_too_many_tags_fails_alone(api_client):
    make_devices(1, prefix="full", tags=[f"t{index}" for index in range(50)])
    make_devices(1, prefix="room", tags=["t0"])

    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["extra"]}))
    run_jobs()

    job.refresh_from_db()
    assert (job.status, job.succeeded, job.failed) == (JobStatus.SUCCEEDED, 1, 1)
    assert job.errors == [{"device_id": "full-000", "message": "the device would have more than 50 tags"}]
    assert Device.objects.get(pk="room-000").tags == ["t0", "extra"]


def test_patch_metadata_records_each_failure_with_its_reason(api_client):
    for index, firmware in enumerate(["1.0", "2.0", "1.0", None]):
        metadata = {} if firmware is None else {"firmware": firmware}
        services.device_create(id=f"m-{index}", source="test", metadata=metadata)
    patches = [
        {"op": "test", "path": "/firmware", "value": "1.0"},
        {"op": "replace", "path": "/firmware", "value": "1.1"},
    ]

    job = job_of(act_confirmed(api_client, "patch_metadata", {"patches": patches}))
    run_jobs()

    job.refresh_from_db()
    assert (job.status, job.processed, job.succeeded, job.failed) == (JobStatus.SUCCEEDED, 4, 2, 2)
    reasons = {error["device_id"]: error["message"] for error in job.errors}
    assert set(reasons) == {"m-1", "m-3"}
    assert reasons["m-1"] == reasons["m-3"] == "patches[0]: test failed: the metadata at '/firmware' differs from value"
    assert [Device.objects.get(pk=f"m-{index}").metadata for index in range(4)] == [
        {"firmware": "1.1"}, {"firmware": "2.0"}, {"firmware": "1.1"}, {},
    ]  # fmt: skip
    assert history("m-0")[-1][:2] == (EventType.METADATA_UPDATED, "Metadata patched (2 operation(s))")
    assert history("m-1")[-1][0] == EventType.CREATED


def test_decommission_records_what_a_single_decommission_records(api_client):
    make_devices(2)
    services.device_create(id="twin", source="test")
    for device_id in ("d-000", "d-001", "twin"):
        services.device_set_identity_slot(device_id=device_id, source="test", **SLOT)
    before = last_position()

    job_of(act_confirmed(api_client, "decommission", filter=["id[ct]:d-"]))
    run_jobs()
    services.device_decommission(device_id="twin", source="key:test-key")

    assert Device.objects.get(pk="d-001").status == DeviceStatus.DECOMMISSIONED
    assert Device.objects.get(pk="d-001").identity["status"] == "REVOKED"
    assert events_without_times("d-001", before) == events_without_times("twin", before)
    feed_types = [type for type, subject, _, _ in feed_after(before) if subject == "d-000"]
    assert feed_types == ["device.identity.updated", "device.status.updated", "device.decommissioned"]


def test_delete_fails_devices_not_decommissioned_unless_forced(api_client):
    make_devices(2, prefix="live")
    make_devices(2, prefix="old")
    for device_id in ("old-000", "old-001"):
        services.device_decommission(device_id=device_id, source="test")
    before = last_position()

    job = job_of(act_confirmed(api_client, "delete"))
    run_jobs()

    job.refresh_from_db()
    assert (job.succeeded, job.failed) == (2, 2)
    assert {error["device_id"] for error in job.errors} == {"live-000", "live-001"}
    assert "decommission it first" in job.errors[0]["message"]
    assert sorted(Device.objects.values_list("pk", flat=True)) == ["live-000", "live-001"]
    assert [(type, subject) for type, subject, _, _ in feed_after(before)] == [
        ("device.deleted", "old-000"), ("device.deleted", "old-001"),
    ]  # fmt: skip

    job_of(act_confirmed(api_client, "delete", {"force": True}))
    run_jobs()
    assert Device.objects.count() == 0


def test_errors_keep_the_first_hundred(api_client, settings):
    settings.DEVMANAGER_JOB_BATCH_SIZE = 1000
    make_devices(105)

    job = job_of(act_confirmed(api_client, "delete"))
    run_jobs()

    job.refresh_from_db()
    assert (job.failed, len(job.errors)) == (105, 100)
    assert job.errors[0]["device_id"] == "d-000" and job.errors[-1]["device_id"] == "d-099"


def selected_by(token: str) -> Job:
    """A worker's first piece of work: a waiting job claimed and its selection resolved."""
    job = claim_selection(token)
    select(job.pk, token)
    return job


def test_devices_that_match_after_the_job_started_are_left_alone(api_client):
    make_devices(3, tags=["a"])
    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}, filter=["tags[ct]:a"]))
    selected_by("w")
    services.device_create(id="d-0005", source="test", tags=["a"])  # sorts between the first devices

    run_jobs("w")

    job.refresh_from_db()
    assert (job.status, job.total, job.succeeded) == (JobStatus.SUCCEEDED, 3, 3)
    assert Device.objects.get(pk="d-0005").tags == ["a"]
    assert JobDevice.objects.count() == 0  # the selection's rows go with the job's end


def test_cancel_stops_a_running_job_between_batches(api_client):
    make_devices(6)
    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}))
    selected_by("w")
    stream = claim_stream("w")
    assert step(stream.pk, "w")  # one batch of 2

    response = api_client.post(f"/api/devmanager/v1/device-actions/{job.pk}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "running"
    assert not step(stream.pk, "w")

    job.refresh_from_db()
    assert (job.status, job.processed) == (JobStatus.CANCELLED, 2)
    assert job.finished_at is not None
    assert Device.objects.filter(tags=["x"]).count() == 2
    assert claim_stream("w") is None  # the other part is left alone


def test_a_job_is_cut_into_contiguous_parts_of_at_least_a_batch(api_client, settings):
    settings.DEVMANAGER_JOB_STREAMS = 3
    ids = make_devices(10)
    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}))
    selected_by("w")

    parts = list(JobStream.objects.filter(job=job).order_by("number").values_list("cursor", "last"))
    assert parts == [("", "d-002"), ("d-002", "d-005"), ("d-005", "d-009")]
    assert [device_id for device_id in ids if any(low < device_id <= high for low, high in parts)] == ids

    make_devices(3, prefix="small")
    small = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}, filter=["id[ct]:small"]))
    selected_by("w")
    assert JobStream.objects.filter(job=small).count() == 1  # fewer than two batches' devices: one part


def test_parts_run_side_by_side_and_the_last_one_done_ends_the_job(api_client):
    ids = make_devices(8)
    before = last_position()
    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}))
    selected_by("w")
    first, second = claim_stream("one"), claim_stream("two")
    assert claim_stream("three") is None

    assert step(second.pk, "two") and step(first.pk, "one")
    assert not step(second.pk, "two")  # its last batch: the second part is done, the job is not
    job.refresh_from_db()
    assert (job.status, job.processed) == (JobStatus.RUNNING, 6)
    assert not step(first.pk, "one")

    job.refresh_from_db()
    assert (job.status, job.total, job.processed, job.succeeded) == (JobStatus.SUCCEEDED, 8, 8, 8)
    assert sorted(subject for _, subject, _, _ in feed_after(before)) == ids
    assert set(Device.objects.values_list("version", flat=True)) == {2}


def test_a_batch_that_finds_its_job_ended_changes_nothing(api_client, monkeypatch):
    make_devices(4)
    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}))
    selected_by("w")
    stream = claim_stream("w")
    add_tags = ACTIONS["add_tags"]

    def ending_the_job_meanwhile(*args):
        outcomes = add_tags.apply(*args)
        Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)  # as another part would, on an error
        return outcomes

    monkeypatch.setitem(ACTIONS, "add_tags", ActionSpec(add_tags.params, ending_the_job_meanwhile))
    assert not step(stream.pk, "w")

    assert not Device.objects.filter(tags=["x"]).exists()
    assert JobStream.objects.get(pk=stream.pk).cursor == ""


def test_a_job_of_a_dead_worker_is_taken_over_and_no_device_is_changed_twice(api_client, settings):
    make_devices(7)
    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}))
    selected_by("dead")
    first, second = claim_stream("dead"), claim_stream("dead")
    assert step(first.pk, "dead") and step(second.pk, "dead")  # a batch of each part, then the worker dies
    assert claim_stream("alive") is None  # their heartbeats are recent: the parts are still its

    JobStream.objects.filter(job=job).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    run_jobs("alive")

    job.refresh_from_db()
    assert (job.status, job.processed, job.succeeded) == (JobStatus.SUCCEEDED, 7, 7)
    updated = DeviceEvent.objects.filter(type=EventType.UPDATED)
    assert sorted(updated.values_list("device_id", flat=True)) == [f"d-{index:03d}" for index in range(7)]
    assert not step(first.pk, "dead")  # the dead worker, back, finds the part no longer its


def test_a_selection_left_by_a_dead_worker_is_taken_over(api_client):
    make_devices(3)
    job = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}))
    claim_selection("dead")
    assert claim_selection("alive") is None

    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    run_jobs("alive")

    job.refresh_from_db()
    assert (job.status, job.succeeded) == (JobStatus.SUCCEEDED, 3)
    select(job.pk, "dead")  # the dead worker, back, finds the selection no longer its
    assert JobStream.objects.filter(job=job).count() == 1


def test_a_stopping_worker_hands_its_part_back_at_once(api_client):
    make_devices(4)
    job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}))
    selected_by("leaving")
    stream = claim_stream("leaving")
    stopping = threading.Event()
    stopping.set()

    run(stream.pk, "leaving", stopping)

    assert claim_stream("next").pk == stream.pk


def test_a_job_over_an_empty_selection_succeeds(api_client):
    job = job_of(act(api_client, "decommission", filter=["id[eq]:nobody"]))

    run_jobs()

    job.refresh_from_db()
    assert (job.status, job.total, job.processed) == (JobStatus.SUCCEEDED, 0, 0)


def test_a_patch_that_makes_the_metadata_too_large_fails_that_device_alone(api_client, settings):
    services.device_create(id="small", source="test", metadata={"a": 1})
    services.device_create(id="large", source="test", metadata={"a": 1, "blob": "x" * 40_000})
    patches = [{"op": "add", "path": "/more", "value": "y" * 30_000}]

    job = job_of(act_confirmed(api_client, "patch_metadata", {"patches": patches}))
    run_jobs()

    job.refresh_from_db()
    assert (job.succeeded, job.failed) == (1, 1)
    assert job.errors[0]["device_id"] == "large" and "exceeds" in job.errors[0]["message"]
    assert Device.objects.get(pk="small").metadata["more"] == "y" * 30_000
    assert "more" not in Device.objects.get(pk="large").metadata


def test_a_starting_worker_deletes_the_selections_of_ended_jobs_left_behind(api_client):
    make_devices(3)
    ended = job_of(act_confirmed(api_client, "add_tags", {"tags": ["x"]}))
    selected_by("w")
    Job.objects.filter(pk=ended.pk).update(status=JobStatus.SUCCEEDED)  # a worker gone before deleting its rows
    running = job_of(act_confirmed(api_client, "add_tags", {"tags": ["y"]}))
    selected_by("w")

    stopping = threading.Event()
    stopping.set()
    jobs.run_jobs(stopping)

    assert JobDevice.objects.filter(job=ended).count() == 0
    assert JobDevice.objects.filter(job=running).count() == 3


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("add_tags", {"tags": ["w7"]}),
        ("remove_tags", {"tags": ["gateway"]}),
        ("set_dms", {"dms_id": "dms-2"}),
        ("patch_metadata", {"patches": [{"op": "add", "path": "/floor", "value": 3}]}),
    ],
)
def test_each_event_holds_the_device_as_the_api_shows_it(api_client, action, params):
    """A batch reads the documents it leaves unchanged as their stored text and writes them into its events as they
    are: the event's device must still be the device after the change, as `GET /devices/{id}` shows it."""
    metadata = {"big": 2**70, "nested": {"list": [1, 2.5, None, True], "text": 'ünïcode \u2028 "q"'}, "empty": {}}
    ids = make_devices(3, tags=["gateway", "Hall 7"], metadata=metadata, dms_owner="dms-1")
    services.device_set_identity_slot(device_id=ids[1], source="test", **SLOT)
    before = last_position()

    job_of(act_confirmed(api_client, action, params, filter=["id[ct]:d-"]))
    run_jobs()

    events = Event.objects.filter(position__gt=before).order_by("position")
    assert [event.subject for event in events] == ids
    for event in events:
        shown = api_client.get(f"/api/devmanager/v1/devices/{event.subject}").json()
        del shown["events"]
        assert json.loads(event.data)["device"] == shown
    assert json.loads(events[1].data)["device"]["identity"]["type"] == "X509"


def test_a_batch_refuses_values_of_fields_it_did_not_declare():
    """`devices_set_fields` reads the fields it is not told of as text: a value for one of them is a mistake in the
    code (reading the field would take a query per device), not a device's failure."""
    make_devices(2)
    with pytest.raises(ValueError, match="beyond"):
        services.devices_set_fields(
            device_ids=["d-000", "d-001"], fields=("tags",), fields_of=lambda device: {"alias": "x"}, source="test"
        )
    assert list(Device.objects.values_list("alias", flat=True)) == ["", ""]
