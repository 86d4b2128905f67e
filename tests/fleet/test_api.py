"""`POST /device-actions`: dry runs, confirmations and jobs; `GET` and cancel (contract, section 9)."""

import uuid

import pytest
from django.core import signing

from devices.models import Device
from fleet.models import Job, JobStatus
from tests.conftest import API, assert_error
from tests.fleet.helpers import ACTIONS, act, act_confirmed, last_position, make_devices, run_jobs

pytestmark = pytest.mark.django_db


def tags_of(device_id: str) -> list[str]:
    return Device.objects.get(pk=device_id).tags


def test_a_dry_run_counts_samples_and_changes_nothing(api_client):
    make_devices(12, prefix="gw", tags=["gateway"], dms_owner="w7")
    make_devices(3, prefix="s", tags=["sensor"], dms_owner="w7")
    before = last_position()

    response = act(api_client, "add_tags", {"tags": ["w7"]}, dry_run=True, filter=["tags[ct]:gateway"], q="")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 12
    assert body["sample"] == [f"gw-{index:03d}" for index in range(10)]
    assert isinstance(body["confirmation"], str) and body["confirmation"]
    assert last_position() == before
    assert Job.objects.count() == 0
    assert all(tags_of(f"gw-{index:03d}") == ["gateway"] for index in range(12))


def test_a_dry_run_honours_q(api_client):
    make_devices(4, prefix="a", dms_owner="one")
    make_devices(2, prefix="b", dms_owner="two")

    body = act(api_client, "decommission", dry_run=True, q="dms_owner[eq]:two or id[eq]:a-000").json()

    assert (body["count"], body["sample"]) == (3, ["a-000", "b-000", "b-001"])


def test_an_empty_selection_is_every_device(api_client):
    make_devices(3)

    assert act(api_client, "decommission", dry_run=True).json()["count"] == 3


def test_executing_more_than_one_device_without_a_confirmation_is_400(api_client):
    make_devices(2)

    response = act(api_client, "add_tags", {"tags": ["x"]})

    assert_error(response, 400, "validation_error", "confirmation")
    assert "2 devices" in response.json()["message"]
    assert Job.objects.count() == 0


def test_one_device_needs_no_confirmation(api_client):
    make_devices(1)

    response = act(api_client, "add_tags", {"tags": ["x"]}, filter=["id[eq]:d-000"])

    assert response.status_code == 202, response.content
    run_jobs()
    assert tags_of("d-000") == ["x"]


def test_execution_answers_202_with_the_job_and_its_location(api_client):
    make_devices(3, tags=["a"])

    response = act_confirmed(api_client, "add_tags", {"tags": ["b"]}, filter=["tags[ct]:a"])

    assert response.status_code == 202, response.content
    job = response.json()
    assert response["Location"].endswith(f"{ACTIONS}/{job['id']}")
    assert job["action"] == "add_tags"
    assert job["params"] == {"tags": ["b"]}
    assert job["filter"] == ["tags[ct]:a"]
    assert (job["q"], job["status"], job["message"], job["actor"]) == ("", "queued", "", "key:test-key")
    assert (job["total"], job["processed"], job["succeeded"], job["failed"], job["errors"]) == (0, 0, 0, 0, [])
    assert job["created_at"].endswith("Z") and job["started_at"] is None and job["finished_at"] is None

    run_jobs()

    done = api_client.get(response["Location"]).json()
    assert (done["status"], done["total"], done["processed"], done["succeeded"], done["failed"]) == (
        "succeeded", 3, 3, 3, 0,
    )  # fmt: skip
    assert done["started_at"] and done["finished_at"] >= done["started_at"]
    assert all(tags_of(device_id) == ["a", "b"] for device_id in ("d-000", "d-001", "d-002"))


def test_the_confirmation_binds_the_selection_as_written_normalised(api_client):
    make_devices(3, tags=["a"], dms_owner="x")
    dry = act(api_client, "set_dms", {"dms_id": "y"}, dry_run=True, filter=["tags[CT]:a", "dms_owner[eq]:x"])

    # The same selection written another way: the other order, the operator in lower case.
    response = act(
        api_client,
        "set_dms",
        {"dms_id": "y"},
        filter=["dms_owner[eq]:x", "tags[ct]:a"],
        confirmation=dry.json()["confirmation"],
    )

    assert response.status_code == 202, response.content


@pytest.mark.parametrize(
    "change",
    [
        {"action": "remove_tags"},
        {"params": {"tags": ["other"]}},
        {"filter": ["tags[ct]:b"]},
        {"q": "id[ne]:d-000"},
    ],
)
def test_a_confirmation_of_another_action_params_or_selection_is_400(api_client, change):
    make_devices(3, tags=["a", "b"])
    request = {"action": "add_tags", "params": {"tags": ["x"]}, "filter": ["tags[ct]:a"], "q": ""}
    dry = api_client.post(ACTIONS, {**request, "dry_run": True}, format="json").json()

    response = api_client.post(ACTIONS, {**request, **change, "confirmation": dry["confirmation"]}, format="json")

    assert_error(response, 400, "validation_error", "confirmation")
    assert "another" in response.json()["message"]
    assert Job.objects.count() == 0


def test_an_expired_or_forged_confirmation_is_400(api_client, monkeypatch):
    make_devices(2)
    token = act(api_client, "decommission", dry_run=True).json()["confirmation"]

    forged = act(api_client, "decommission", confirmation=token[:-2] + "xx")
    assert_error(forged, 400, "validation_error", "confirmation")

    later = signing.time.time() + 15 * 60 + 1
    monkeypatch.setattr(signing.time, "time", lambda: later)
    expired = act(api_client, "decommission", confirmation=token)
    assert_error(expired, 400, "validation_error", "confirmation")
    assert "expired" in expired.json()["message"]
    assert Job.objects.count() == 0


def test_a_grown_selection_fails_the_job_before_any_change(api_client):
    make_devices(2, tags=["a"])
    job = act_confirmed(api_client, "add_tags", {"tags": ["x"]}, filter=["tags[ct]:a"]).json()
    make_devices(1, prefix="late", tags=["a"])

    run_jobs()

    failed = api_client.get(f"{ACTIONS}/{job['id']}").json()
    assert failed["status"] == "failed"
    assert "3 devices" in failed["message"] and "2" in failed["message"]
    assert (failed["processed"], failed["succeeded"]) == (0, 0)
    assert [tags_of(device_id) for device_id in ("d-000", "d-001", "late-000")] == [["a"], ["a"], ["a"]]


def test_a_shrunk_selection_runs_on_what_matches_when_it_runs(api_client):
    make_devices(3, tags=["a"])
    job = act_confirmed(api_client, "add_tags", {"tags": ["x"]}, filter=["tags[ct]:a"]).json()
    api_client.delete(f"{API}/devices/d-001?force=true")

    run_jobs()

    done = api_client.get(f"{ACTIONS}/{job['id']}").json()
    assert (done["status"], done["total"], done["succeeded"]) == ("succeeded", 2, 2)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"action": "paint"}, "action"),
        ({}, "action"),
        ({"action": "add_tags"}, "params.tags"),
        ({"action": "add_tags", "params": {"tags": []}}, "params.tags"),
        ({"action": "add_tags", "params": {"tags": ["a", "a"]}}, "params.tags[1]"),
        ({"action": "add_tags", "params": {"tags": "a"}}, "params.tags"),
        ({"action": "add_tags", "params": {"tags": ["a"], "extra": 1}}, "params.extra"),
        ({"action": "remove_tags", "params": {"tags": [""]}}, "params.tags[0]"),
        ({"action": "set_dms", "params": {}}, "params.dms_id"),
        ({"action": "set_dms", "params": {"dms_id": "a/b"}}, "params.dms_id"),
        ({"action": "patch_metadata", "params": {"patches": [{"op": "jump", "path": "/a"}]}}, "params.patches[0]"),
        ({"action": "patch_metadata", "params": {"patches": []}}, "params.patches"),
        ({"action": "decommission", "params": {"force": True}}, "params.force"),
        ({"action": "delete", "params": {"force": "yes"}}, "params.force"),
        ({"action": "decommission", "params": []}, "params.body"),
        ({"action": "decommission", "filter": ["colour[eq]:red"]}, "filter[0]"),
        ({"action": "decommission", "filter": "status[eq]:ACTIVE"}, "filter"),
        ({"action": "decommission", "filter": ["id[ne]:x"] * 21}, "filter"),
        ({"action": "decommission", "filter": ["id[eq]:" + "x" * 1100]}, "filter[0]"),
        ({"action": "decommission", "q": "id[eq]:" + "x" * 5000}, "q"),
        ({"action": "decommission", "q": "status[eq]:ACTIVE and ("}, "q"),
        ({"action": "decommission", "dry_run": "true"}, "dry_run"),
        ({"action": "decommission", "select": "all"}, "select"),
    ],
)
def test_bad_requests_are_400_naming_the_field(api_client, body, field):
    make_devices(2)

    for dry_run in (True, False):
        response = api_client.post(ACTIONS, {"dry_run": dry_run, **body}, format="json")
        assert_error(response, 400, "validation_error", field)
    assert Job.objects.count() == 0


def test_jobs_are_listed_newest_first_and_filtered(api_client):
    make_devices(1)
    first = act(api_client, "decommission", filter=["id[eq]:d-000"]).json()
    second = act(api_client, "add_tags", {"tags": ["x"]}, filter=["id[eq]:d-000"]).json()

    listed = api_client.get(ACTIONS).json()
    assert [job["id"] for job in listed["list"]] == [second["id"], first["id"]]
    only = api_client.get(ACTIONS, {"filter": "action[eq]:decommission"}).json()
    assert [job["id"] for job in only["list"]] == [first["id"]]


def test_an_unknown_job_is_404(api_client):
    assert_error(api_client.get(f"{ACTIONS}/{uuid.uuid4()}"), 404, "not_found")
    assert_error(api_client.get(f"{ACTIONS}/not-a-uuid"), 404, "not_found")
    assert_error(api_client.post(f"{ACTIONS}/{uuid.uuid4()}/cancel"), 404, "not_found")


def test_cancelling_a_queued_job_stops_it_before_it_starts(api_client):
    make_devices(2)
    job = act_confirmed(api_client, "decommission").json()

    response = api_client.post(f"{ACTIONS}/{job['id']}/cancel")

    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    run_jobs()
    assert Device.objects.filter(status="DECOMMISSIONED").count() == 0


def test_cancelling_a_finished_job_is_409(api_client):
    make_devices(1)
    job = act(api_client, "decommission", filter=["id[eq]:d-000"]).json()
    run_jobs()

    assert_error(api_client.post(f"{ACTIONS}/{job['id']}/cancel"), 409, "conflict")
    assert Job.objects.get().status == JobStatus.SUCCEEDED


def test_reading_needs_devices_read_and_acting_devices_write(client_with_scopes):
    make_devices(1)
    reader = client_with_scopes("devices:read")
    writer = client_with_scopes("devices:write")

    assert reader.get(ACTIONS).status_code == 200
    assert_error(act(reader, "decommission", dry_run=True), 403, "access_denied")
    assert act(writer, "decommission", dry_run=True).status_code == 200
    job = act(writer, "decommission").json()
    assert_error(reader.post(f"{ACTIONS}/{job['id']}/cancel"), 403, "access_denied")
    assert writer.post(f"{ACTIONS}/{job['id']}/cancel").status_code == 202
