"""Status over time: `refresh_device_status` moves devices through RENEWAL_WINDOW, ABOUT_TO_EXPIRE and EXPIRED."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from tests.conftest import API
from tests.factories import DeviceFactory
from tests.helpers import device_snapshot

pytestmark = pytest.mark.django_db

SOURCE = "refresh_device_status"
DEFAULT_WINDOWS = {"renewal_window": timedelta(days=30), "about_to_expire": timedelta(days=7)}


def refresh(*args: str) -> str:
    """Run the command as cron would; its standard output."""
    out = StringIO()
    call_command("refresh_device_status", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def provisioned(
    device_id: str | None = None, *, expires_in: timedelta | None, status: str = DeviceStatus.ACTIVE
) -> Device:
    """A device whose identity slot was set as in production (so identity_expires_at is set too)."""
    device = DeviceFactory(**({"id": device_id} if device_id else {}))
    expiration = None if expires_in is None else timezone.now() + expires_in
    services.device_set_identity_slot(
        device_id=device.pk,
        source="ops-key",
        status=status,
        active_version=1,
        type="X509",
        versions={"1": {"serial": "0001"}},
        expiration_date=expiration,
    )
    return Device.objects.get(pk=device.pk)


def status_events(device: Device) -> list[DeviceEvent]:
    return list(DeviceEvent.objects.filter(device=device, source=SOURCE).order_by("timestamp"))


def current(device: Device) -> Device:
    return Device.objects.get(pk=device.pk)


# --- Moves with the default windows (30 and 7 days) -----------------------------------------------------------


def test_refresh_active_within_renewal_window_moves_to_renewal_window():
    device = provisioned(expires_in=timedelta(days=20))

    output = refresh()

    after = current(device)
    assert after.status == DeviceStatus.RENEWAL_WINDOW
    assert after.slots["default"]["status"] == DeviceStatus.RENEWAL_WINDOW
    assert after.version == device.version + 1
    assert after.updated_timestamp > device.updated_timestamp
    (event,) = status_events(device)
    assert event.type == EventType.STATUS_UPDATED
    assert event.description.startswith("Status changed from ACTIVE to RENEWAL_WINDOW")
    assert "Moved 1 device(s)." in output


def test_refresh_keeps_rest_of_identity_slot():
    device = provisioned(expires_in=timedelta(days=20))

    refresh()

    after = current(device)
    assert after.slots["default"] == {**device.slots["default"], "status": "RENEWAL_WINDOW"}
    assert after.identity_expires_at == device.identity_expires_at
    assert after.metadata == device.metadata


def test_refresh_records_exactly_one_new_event():
    device = provisioned(expires_in=timedelta(days=20))
    before = list(DeviceEvent.objects.filter(device=device).values_list("pk", flat=True))

    refresh()

    new = DeviceEvent.objects.filter(device=device).exclude(pk__in=before)
    assert [(event.type, event.source) for event in new] == [(EventType.STATUS_UPDATED, SOURCE)]


def test_refresh_active_about_to_expire_moves_straight_to_about_to_expire():
    device = provisioned(expires_in=timedelta(days=3))

    refresh()

    after = current(device)
    assert after.status == DeviceStatus.ABOUT_TO_EXPIRE
    assert after.slots["default"]["status"] == DeviceStatus.ABOUT_TO_EXPIRE
    (event,) = status_events(device)
    assert event.description.startswith("Status changed from ACTIVE to ABOUT_TO_EXPIRE")


def test_refresh_active_past_expiry_moves_to_expired():
    device = provisioned(expires_in=-timedelta(hours=1))

    refresh()

    after = current(device)
    assert after.status == DeviceStatus.EXPIRED
    assert after.slots["default"]["status"] == DeviceStatus.EXPIRED
    (event,) = status_events(device)
    assert event.description.startswith("Status changed from ACTIVE to EXPIRED")


@pytest.mark.parametrize(
    ("status", "expires_in", "expected"),
    [
        (DeviceStatus.RENEWAL_WINDOW, timedelta(days=3), DeviceStatus.ABOUT_TO_EXPIRE),
        (DeviceStatus.RENEWAL_WINDOW, -timedelta(days=1), DeviceStatus.EXPIRED),
        (DeviceStatus.ABOUT_TO_EXPIRE, -timedelta(seconds=1), DeviceStatus.EXPIRED),
    ],
)
def test_refresh_moves_further_along(status, expires_in, expected):
    device = provisioned(expires_in=expires_in, status=status)

    refresh()

    after = current(device)
    assert (after.status, after.slots["default"]["status"]) == (expected, expected)
    (event,) = status_events(device)
    assert event.description.startswith(f"Status changed from {status} to {expected}")


def test_refresh_far_expiry_unchanged():
    device = provisioned(expires_in=timedelta(days=60))
    before = device_snapshot(device.pk)

    output = refresh()

    assert device_snapshot(device.pk) == before
    assert "Moved 0 device(s)." in output


def test_refresh_about_to_expire_not_moved_back_to_renewal_window():
    device = provisioned(expires_in=timedelta(days=20), status=DeviceStatus.ABOUT_TO_EXPIRE)
    before = device_snapshot(device.pk)

    refresh()

    assert device_snapshot(device.pk) == before


def test_refresh_renewal_window_not_moved_back_to_active():
    device = provisioned(expires_in=timedelta(days=60), status=DeviceStatus.RENEWAL_WINDOW)
    before = device_snapshot(device.pk)

    refresh()

    assert device_snapshot(device.pk) == before


def test_refresh_renewed_identity_left_active():
    device = provisioned(expires_in=timedelta(days=20))
    refresh()
    services.device_set_identity_slot(
        device_id=device.pk,
        source="ops-key",
        status=DeviceStatus.ACTIVE,
        active_version=2,
        type="X509",
        expiration_date=timezone.now() + timedelta(days=365),
    )
    before = device_snapshot(device.pk)

    refresh()

    assert device_snapshot(device.pk) == before
    assert current(device).status == DeviceStatus.ACTIVE


def untouched_devices() -> list[Device]:
    revoked = provisioned("revoked", expires_in=-timedelta(days=1), status=DeviceStatus.REVOKED)
    expired = provisioned("expired", expires_in=-timedelta(days=1), status=DeviceStatus.EXPIRED)
    expired_later = provisioned("expired-later", expires_in=timedelta(days=20), status=DeviceStatus.EXPIRED)
    decommissioned = provisioned("decommissioned", expires_in=timedelta(days=3))
    services.device_decommission(device_id=decommissioned.pk, source="ops-key")
    decommissioned_revoked = provisioned("decommissioned-past", expires_in=-timedelta(days=1))
    services.device_decommission(device_id=decommissioned_revoked.pk, source="ops-key")
    no_identity = DeviceFactory(id="no-identity")
    never_expires = provisioned("never-expires", expires_in=None)
    return [revoked, expired, expired_later, decommissioned, decommissioned_revoked, no_identity, never_expires]


def test_refresh_leaves_final_and_unexpiring_devices_untouched():
    devices = untouched_devices()
    before = {device.pk: device_snapshot(device.pk) for device in devices}

    output = refresh()

    assert {device.pk: device_snapshot(device.pk) for device in devices} == before
    assert not DeviceEvent.objects.filter(source=SOURCE).exists()
    assert "Moved 0 device(s)." in output


def test_refresh_never_expiring_identity_has_no_expiry_column():
    device = provisioned(expires_in=None)

    assert device.identity_expires_at is None
    assert device.identity["expiration_date"] is None


def test_refresh_mixed_fleet_moves_only_due_devices():
    untouched = untouched_devices()
    due = {
        "in-20-days": (provisioned("in-20-days", expires_in=timedelta(days=20)), DeviceStatus.RENEWAL_WINDOW),
        "in-3-days": (provisioned("in-3-days", expires_in=timedelta(days=3)), DeviceStatus.ABOUT_TO_EXPIRE),
        "gone": (provisioned("gone", expires_in=-timedelta(minutes=5)), DeviceStatus.EXPIRED),
    }
    later = provisioned("in-60-days", expires_in=timedelta(days=60))
    before = {device.pk: device_snapshot(device.pk) for device in [*untouched, later]}

    output = refresh()

    assert {device_id: current(device).status for device_id, (device, _) in due.items()} == {
        device_id: status for device_id, (_, status) in due.items()
    }
    assert {device.pk: device_snapshot(device.pk) for device in [*untouched, later]} == before
    assert DeviceEvent.objects.filter(source=SOURCE).count() == 3
    assert "Moved 3 device(s)." in output


# --- Idempotence ----------------------------------------------------------------------------------------------


def test_refresh_twice_second_run_changes_nothing(api_client):
    devices = [
        provisioned(expires_in=timedelta(days=20)),
        provisioned(expires_in=timedelta(days=3)),
        provisioned(expires_in=-timedelta(days=3)),
    ]
    assert "Moved 3 device(s)." in refresh()
    etags = {device.pk: api_client.get(f"{API}/devices/{device.pk}")["ETag"] for device in devices}
    before = {device.pk: device_snapshot(device.pk) for device in devices}

    output = refresh()

    assert "Moved 0 device(s)." in output
    assert {device.pk: device_snapshot(device.pk) for device in devices} == before
    assert {device.pk: api_client.get(f"{API}/devices/{device.pk}")["ETag"] for device in devices} == etags
    assert DeviceEvent.objects.filter(source=SOURCE).count() == 3


def test_refresh_move_seen_by_api(api_client):
    device = provisioned(expires_in=timedelta(days=20))
    etag = api_client.get(f"{API}/devices/{device.pk}")["ETag"]

    refresh()

    response = api_client.get(f"{API}/devices/{device.pk}")
    body = response.json()
    assert response["ETag"] != etag
    assert body["status"] == "RENEWAL_WINDOW"
    assert body["identity"]["status"] == "RENEWAL_WINDOW"
    assert body["slots"]["default"]["status"] == "RENEWAL_WINDOW"
    assert list(body["events"].values())[-1]["type"] == "STATUS-UPDATED"
    newest = api_client.get(f"{API}/devices/{device.pk}/events").json()["list"][0]
    assert (newest["type"], newest["source"]) == ("STATUS-UPDATED", SOURCE)


def test_refresh_moved_device_filterable_by_new_status(api_client):
    device = provisioned(expires_in=timedelta(days=20))
    provisioned(expires_in=timedelta(days=60))

    refresh()

    response = api_client.get(f"{API}/devices", {"filter": "status[eq]:RENEWAL_WINDOW"})
    assert [item["id"] for item in response.json()["list"]] == [device.pk]
    stats = api_client.get(f"{API}/stats").json()["status_distribution"]
    assert (stats["RENEWAL_WINDOW"], stats["ACTIVE"]) == (1, 1)


# --- Windows --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [
        (timedelta(days=100), DeviceStatus.ACTIVE),
        (timedelta(days=60), DeviceStatus.RENEWAL_WINDOW),
        (timedelta(days=20), DeviceStatus.RENEWAL_WINDOW),
        (timedelta(days=8), DeviceStatus.ABOUT_TO_EXPIRE),
        (-timedelta(days=1), DeviceStatus.EXPIRED),
    ],
)
def test_refresh_custom_windows_honoured(expires_in, expected):
    device = provisioned(expires_in=expires_in)

    refresh("--renewal-window-days", "90", "--about-to-expire-days", "10")

    assert current(device).status == expected
    assert current(device).slots["default"]["status"] == expected


def test_refresh_windows_default_from_settings(settings):
    settings.DEVMANAGER_RENEWAL_WINDOW_DAYS = 90
    settings.DEVMANAGER_ABOUT_TO_EXPIRE_DAYS = 70
    device = provisioned(expires_in=timedelta(days=60))

    refresh()

    assert current(device).status == DeviceStatus.ABOUT_TO_EXPIRE


def test_refresh_zero_about_to_expire_window_skips_that_stage():
    soon = provisioned(expires_in=timedelta(days=3))
    gone = provisioned(expires_in=-timedelta(days=3))

    refresh("--about-to-expire-days", "0")

    assert current(soon).status == DeviceStatus.RENEWAL_WINDOW
    assert current(gone).status == DeviceStatus.EXPIRED


def test_refresh_equal_windows_accepted():
    device = provisioned(expires_in=timedelta(days=20))

    refresh("--renewal-window-days", "30", "--about-to-expire-days", "30")

    assert current(device).status == DeviceStatus.ABOUT_TO_EXPIRE


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(days=30, microseconds=1), None),
        (timedelta(days=30), DeviceStatus.RENEWAL_WINDOW),
        (timedelta(days=7, microseconds=1), DeviceStatus.RENEWAL_WINDOW),
        (timedelta(days=7), DeviceStatus.ABOUT_TO_EXPIRE),
        (timedelta(microseconds=1), DeviceStatus.ABOUT_TO_EXPIRE),
        (timedelta(0), DeviceStatus.EXPIRED),
    ],
)
def test_refresh_window_boundaries(offset, expected):
    device = provisioned(expires_in=timedelta(days=365))
    now = device.identity_expires_at - offset

    moved, _ = services.devices_refresh_status_batch(now=now, **DEFAULT_WINDOWS)

    assert moved == (0 if expected is None else 1)
    assert current(device).status == (expected or DeviceStatus.ACTIVE)


def test_refresh_successive_runs_move_device_through_every_stage():
    device = provisioned(expires_in=timedelta(days=365))
    expires = device.identity_expires_at
    seen = []

    for days_left in (40, 20, 5, -1):
        services.devices_refresh_status_batch(now=expires - timedelta(days=days_left), **DEFAULT_WINDOWS)
        seen.append(current(device).status)

    assert seen == ["ACTIVE", "RENEWAL_WINDOW", "ABOUT_TO_EXPIRE", "EXPIRED"]
    assert [event.description.split(" (")[0] for event in status_events(device)] == [
        "Status changed from ACTIVE to RENEWAL_WINDOW",
        "Status changed from RENEWAL_WINDOW to ABOUT_TO_EXPIRE",
        "Status changed from ABOUT_TO_EXPIRE to EXPIRED",
    ]
    assert current(device).version == device.version + 3


# --- Batches --------------------------------------------------------------------------------------------------


def test_refresh_batch_smaller_than_due_devices_moves_all():
    devices = [provisioned(f"due-{index:02d}", expires_in=timedelta(days=20)) for index in range(10)]

    output = refresh("--batch-size", "3")

    assert {current(device).status for device in devices} == {DeviceStatus.RENEWAL_WINDOW}
    assert DeviceEvent.objects.filter(source=SOURCE).count() == 10
    assert "Moved 10 device(s)." in output


def test_refresh_batches_of_devices_not_moved_do_not_stop_the_run():
    # The first ids are candidates that stay where they are: whole batches move nothing, later ones still run.
    stay = [
        provisioned(f"a-stay-{index}", expires_in=timedelta(days=20), status=DeviceStatus.ABOUT_TO_EXPIRE)
        for index in range(5)
    ]
    due = [provisioned(f"b-due-{index}", expires_in=-timedelta(days=1)) for index in range(4)]

    output = refresh("--batch-size", "2")

    assert {current(device).status for device in stay} == {DeviceStatus.ABOUT_TO_EXPIRE}
    assert {current(device).status for device in due} == {DeviceStatus.EXPIRED}
    assert "Moved 4 device(s)." in output


def test_refresh_batch_size_one():
    devices = [provisioned(expires_in=timedelta(days=3)) for _ in range(3)]

    output = refresh("--batch-size", "1")

    assert {current(device).status for device in devices} == {DeviceStatus.ABOUT_TO_EXPIRE}
    assert "Moved 3 device(s)." in output


# --- Arguments ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--renewal-window-days", "7", "--about-to-expire-days", "30"],
        ["--about-to-expire-days", "31"],  # larger than the default 30-day renewal window
        ["--about-to-expire-days", "-1"],
        ["--renewal-window-days", "-1"],
        ["--renewal-window-days", "-5", "--about-to-expire-days", "-10"],
        ["--batch-size", "0"],
        ["--batch-size", "-3"],
        ["--batch-size", "many"],
        ["--renewal-window-days", "thirty"],
        ["--unknown-option"],
    ],
)
def test_refresh_invalid_arguments_command_error_changes_nothing(args):
    device = provisioned(expires_in=-timedelta(days=1))
    before = device_snapshot(device.pk)

    with pytest.raises(CommandError):
        refresh(*args)

    assert device_snapshot(device.pk) == before


# --- Event timestamps -----------------------------------------------------------------------------------------


def test_refresh_event_after_previous_events_recorded_in_future():
    device = provisioned(expires_in=timedelta(days=20))
    future = timezone.now() + timedelta(minutes=10)
    DeviceEvent.objects.create(
        device=device, timestamp=future, type=EventType.METADATA_UPDATED, description="clock ahead", source="other"
    )

    refresh()

    (event,) = status_events(device)
    assert event.timestamp == future + timedelta(microseconds=1)
    stamps = list(device.events.order_by("pk").values_list("timestamp", flat=True))
    assert all(earlier < later for earlier, later in pairwise(stamps))


def test_refresh_event_after_previous_event_in_same_microsecond():
    device = provisioned(expires_in=timedelta(days=20))
    latest = timezone.now() + timedelta(seconds=30)
    DeviceEvent.objects.create(device=device, timestamp=latest, type=EventType.RENEWED, description="", source="x")

    services.devices_refresh_status_batch(now=latest, **DEFAULT_WINDOWS)

    (event,) = status_events(device)
    assert event.timestamp == latest + timedelta(microseconds=1)


def test_refresh_event_at_run_time_when_history_older():
    device = provisioned(expires_in=timedelta(days=20))
    now = timezone.now() + timedelta(seconds=5)

    services.devices_refresh_status_batch(now=now, **DEFAULT_WINDOWS)

    (event,) = status_events(device)
    assert event.timestamp == now
    assert current(device).updated_timestamp == now


def test_refresh_events_of_many_devices_each_after_own_history():
    now = timezone.now() + timedelta(seconds=5)
    devices = [provisioned(expires_in=timedelta(days=20)) for _ in range(4)]
    ahead = devices[1]
    DeviceEvent.objects.create(
        device=ahead, timestamp=now + timedelta(hours=1), type=EventType.RENEWED, description="", source="other"
    )

    services.devices_refresh_status_batch(now=now, **DEFAULT_WINDOWS)

    assert [status_events(device)[0].timestamp for device in devices] == [
        now,
        now + timedelta(hours=1, microseconds=1),
        now,
        now,
    ]


def test_refresh_expiry_in_other_time_zone_compared_as_instant():
    device = DeviceFactory()
    expires = datetime.now(UTC).astimezone(timezone.get_fixed_timezone(-600)) + timedelta(days=3)
    services.device_set_identity_slot(
        device_id=device.pk, source="ops-key", status="ACTIVE", active_version=1, type="X509", expiration_date=expires
    )

    refresh()

    assert current(device).status == DeviceStatus.ABOUT_TO_EXPIRE


def test_refresh_write_stamped_after_changes_made_since_run_started():
    # A long run judges every device at the instant it started; a device changed meanwhile must not have its
    # updated_timestamp moved back, or a client polling `updated_timestamp[af]:<last poll>` misses the move.
    device = provisioned(expires_in=timedelta(days=20))
    run_started = timezone.now()
    services.device_replace_metadata(device_id=device.pk, metadata={"floor": 3}, source="ops-key")
    changed = current(device)

    services.devices_refresh_status_batch(now=run_started, **DEFAULT_WINDOWS)

    after = current(device)
    assert after.status == DeviceStatus.RENEWAL_WINDOW
    assert after.updated_timestamp > changed.updated_timestamp
    (event,) = status_events(device)
    assert event.timestamp > changed.updated_timestamp
