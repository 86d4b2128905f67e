"""Keys restricted to DMSs (contract, section 10): what such a key may create, move and act on, and what the feed,
webhooks and jobs show it. tests/api/test_scope_leaks.py walks every operation for leaks."""

import io
import threading

import pytest
from django.core.management import call_command
from django.utils import timezone

from devices import services as device_services
from devices.models import Device
from devmanager.api.models import ApiKey
from events.models import Event
from events.reading import feed_page
from fleet.jobs import work_once
from fleet.models import Job
from groups import services as group_services
from tests.conftest import API, assert_error, bearer_client
from tests.factories import DeviceFactory, NetworkAdapterFactory
from tests.fleet.helpers import act, act_confirmed, run_jobs
from webhooks.models import Subscription
from webhooks.worker import subscription_condition


@pytest.fixture
def restricted(api_key):
    """A client whose key holds every scope, restricted to the DMSs `north` and `south`."""
    return bearer_client(api_key(name="regional", dms=["north", "south"]))


@pytest.fixture
def fleet(db):
    for device_id, dms in [("n-1", "north"), ("n-2", "north"), ("s-1", "south"), ("w-1", "west"), ("x-1", "")]:
        DeviceFactory(id=device_id, dms_owner=dms, tags=["field"])


def test_a_restricted_key_creates_devices_in_its_dms(restricted, db):
    response = restricted.post(f"{API}/devices", {"id": "new-1", "dms_id": "south"}, format="json")

    assert response.status_code == 201, response.content
    assert Device.objects.get(pk="new-1").dms_owner == "south"


@pytest.mark.parametrize("body", [{"id": "new-1", "dms_id": "west"}, {"id": "new-1"}, {"id": "new-1", "dms_id": ""}])
def test_a_restricted_key_creating_a_device_outside_its_dms_is_403(restricted, db, body):
    assert_error(restricted.post(f"{API}/devices", body, format="json"), 403, "access_denied", "dms_id")

    assert not Device.objects.filter(pk="new-1").exists()


def test_a_restricted_key_moves_a_device_between_its_dms(restricted, fleet):
    response = restricted.patch(f"{API}/devices/n-1", {"dms_id": "south"}, format="json")

    assert response.status_code == 200, response.content
    assert Device.objects.get(pk="n-1").dms_owner == "south"


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_restricted_key_moving_a_device_outside_its_dms_is_403(restricted, fleet, method):
    version = Device.objects.get(pk="n-1").version

    response = getattr(restricted, method)(f"{API}/devices/n-1", {"dms_id": "west"}, format="json")

    assert_error(response, 403, "access_denied", "dms_id")
    device = Device.objects.get(pk="n-1")
    assert (device.dms_owner, device.version) == ("north", version)


def test_a_patch_leaving_the_dms_as_it_is_needs_no_move(restricted, fleet):
    response = restricted.patch(f"{API}/devices/n-1", {"dms_id": "north", "alias": "kept"}, format="json")

    assert response.status_code == 200, response.content


def test_a_restricted_keys_stats_count_its_devices(restricted, fleet):
    body = restricted.get(f"{API}/stats", {"group_by": "dms_owner"}).json()

    assert body["total"] == 3
    assert {bucket["key"]: bucket["count"] for bucket in body["buckets"]} == {"north": 2, "south": 1}


def test_a_staff_session_sees_every_device(admin_client, fleet):
    assert admin_client.get(f"{API}/stats").json()["total"] == 5


# --- Fleet actions ---------------------------------------------------------------------------------------------------


def test_a_restricted_keys_dry_run_counts_its_devices(restricted, fleet):
    body = act(restricted, "add_tags", {"tags": ["x"]}, dry_run=True, q="tags[ct]:field").json()

    assert body["count"] == 3
    assert sorted(body["sample"]) == ["n-1", "n-2", "s-1"]


def test_a_restricted_keys_job_changes_its_devices_only(restricted, fleet):
    response = act_confirmed(restricted, "add_tags", {"tags": ["done"]}, q="tags[ct]:field")
    assert response.status_code == 202, response.content

    run_jobs()

    job = Job.objects.get()
    assert (job.dms, job.status, job.succeeded) == (["north", "south"], "succeeded", 3)
    tagged = sorted(device.pk for device in Device.objects.all() if "done" in device.tags)
    assert tagged == ["n-1", "n-2", "s-1"]


def test_a_restricted_keys_job_leaves_a_device_moved_out_meanwhile(restricted, fleet):
    act_confirmed(restricted, "add_tags", {"tags": ["done"]}, q="tags[ct]:field")
    work_once("test-worker", threading.Event())  # the selection: n-1, n-2, s-1
    device_services.device_update(device_id="s-1", source="operator", fields={"dms_owner": "west"})

    run_jobs()

    job = Job.objects.get()
    assert "done" not in Device.objects.get(pk="s-1").tags
    assert (job.total, job.succeeded, job.errors) == (
        3,
        2,
        [{"device_id": "s-1", "message": "the device no longer exists"}],
    )


def test_set_dms_outside_the_keys_dms_is_403(restricted, fleet):
    for dry_run in (True, False):
        response = act(restricted, "set_dms", {"dms_id": "west"}, dry_run=dry_run, filter=["id[eq]:n-1"])
        assert_error(response, 403, "access_denied", "params.dms_id")

    assert not Job.objects.exists()


def test_a_confirmation_is_bound_to_the_keys_dms(restricted, api_client, fleet):
    dry = act(restricted, "add_tags", {"tags": ["x"]}, dry_run=True, q="tags[ct]:field").json()

    response = act(api_client, "add_tags", {"tags": ["x"]}, confirmation=dry["confirmation"], q="tags[ct]:field")

    assert_error(response, 400, "validation_error", "confirmation")


def test_jobs_are_seen_by_keys_of_the_same_dms(restricted, api_client, fleet):
    act_confirmed(api_client, "add_tags", {"tags": ["everyone"]}, q="tags[ct]:field")
    act_confirmed(restricted, "add_tags", {"tags": ["regional"]}, q="tags[ct]:field")

    listed = [job["params"]["tags"] for job in restricted.get(f"{API}/device-actions").json()["list"]]
    everything = [job["params"]["tags"] for job in api_client.get(f"{API}/device-actions").json()["list"]]

    assert listed == [["regional"]]
    assert sorted(everything) == [["everyone"], ["regional"]]


# --- The feed and webhooks -------------------------------------------------------------------------------------------


def test_the_feed_shows_a_restricted_key_its_devices_and_every_group(restricted, fleet):
    group_services.group_create(name="shared", actor="operator")
    device_services.device_update(device_id="n-2", source="operator", fields={"dms_owner": "west"})  # leaves
    device_services.device_update(device_id="w-1", source="operator", fields={"alias": "unseen"})

    events = restricted.get(f"{API}/events", {"page_size": 1000}).json()["list"]

    seen = [(event["type"], event["subject"]) for event in events if event["type"] != "group.created"]
    assert seen == [("device.created", "n-1"), ("device.created", "n-2"), ("device.created", "s-1"),
                    ("device.updated", "n-2")]  # fmt: skip
    assert [event["data"]["group"]["name"] for event in events if event["type"] == "group.created"] == ["shared"]


def test_a_restricted_keys_webhook_receives_its_devices_events_only(restricted, fleet, settings):
    settings.DEVMANAGER_WEBHOOK_ALLOW_PRIVATE = True
    response = restricted.post(f"{API}/webhooks", {"url": "https://127.0.0.1/hook"}, format="json")
    assert response.status_code == 201, response.content
    for device_id in ("n-1", "w-1", "x-1", "s-1"):
        device_services.device_update(device_id=device_id, source="operator", fields={"alias": "changed"})
    subscription = Subscription.objects.get()

    events, _ = feed_page(subscription_condition(subscription), subscription.position, 100)

    assert subscription.dms == ["north", "south"]
    assert [event.subject for event in events] == ["n-1", "s-1"]


def test_an_adapters_events_carry_its_devices_dms(api_client, fleet):
    NetworkAdapterFactory(device=Device.objects.get(pk="s-1"))

    (event,) = Event.objects.filter(type="device.adapter.added")

    assert (event.dms, event.dms_before) == ("south", None)


def test_imported_devices_and_adapters_events_carry_their_dms(db, tmp_path):
    rows = [
        '{"id": "i-1", "dms_id": "north", "network_adapters": [{"type": "cellular", "imei": "490154203237518"}]}',
        '{"id": "i-2", "dms_id": "west"}',
    ]
    path = tmp_path / "devices.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    call_command("import_devices", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    path.write_text(
        '{"id": "i-2", "dms_id": "west", "network_adapters": [{"type": "lora", "dev_eui": "70b3d5ffffffff01"}]}\n'
    )
    call_command("import_devices", str(path), "--mode", "upsert", stdout=io.StringIO(), stderr=io.StringIO())

    events = Event.objects.order_by("position").values_list("type", "subject", "dms")

    assert [event for event in events if event[0] != "device.updated"] == [
        ("device.created", "i-1", "north"), ("device.created", "i-2", "west"),
        ("device.adapter.added", "i-1", "north"), ("device.adapter.added", "i-2", "west"),
    ]  # fmt: skip


# --- Keys ------------------------------------------------------------------------------------------------------------


def test_create_api_key_with_dms_and_expiry(db):
    stdout = io.StringIO()
    call_command("create_api_key", "partner", "--dms", "north", "--dms", "south", "--expires", "2099-01-31",
                 stdout=stdout, stderr=io.StringIO())  # fmt: skip

    key = ApiKey.objects.get(name="partner")
    assert key.dms == ["north", "south"]
    assert key.expires_at.isoformat() == "2099-01-31T00:00:00+00:00"
    assert stdout.getvalue().strip().splitlines()[-1].startswith("ak_")


@pytest.mark.parametrize("expires", ["2020-01-01", "2099-02-30", "soon"])
def test_create_api_key_bad_expiry_is_refused(db, expires):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_key", "partner", "--expires", expires, stdout=io.StringIO(), stderr=io.StringIO())

    assert not ApiKey.objects.exists()


def test_a_key_is_marked_used_to_the_minute(api_key, db):
    client = bearer_client(api_key(name="used"))

    client.get(f"{API}/devices")

    used = ApiKey.objects.get(name="used").last_used_at
    assert used is not None and (used.second, used.microsecond) == (0, 0)
    assert timezone.now() - used < timezone.timedelta(minutes=1)
