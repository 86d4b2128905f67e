"""A fleet-action job in `python manage.py worker` processes, on PostgreSQL: a worker killed (SIGKILL) mid-job and a
new one started finish the job, with no device changed twice."""

import signal

import pytest
from django.db import connection

from devices.choices import EventType
from devices.models import Device, DeviceEvent
from events.models import Event
from fleet.models import Job, JobStatus
from tests.fleet.helpers import act_confirmed
from tests.workers import wait_until, worker_process

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="worker processes share a PostgreSQL database"),
]

DEVICES = 600


def start_worker():
    return worker_process(DEVMANAGER_JOB_BATCH_SIZE="10", DEVMANAGER_JOB_HEARTBEAT_TIMEOUT="1")


def test_a_worker_killed_mid_job_and_restarted_finishes_it_changing_no_device_twice(api_client):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO devices_device (id, alias, tags, tag_terms, status, icon, icon_color, dms_owner, metadata, "
            "slots, version, creation_timestamp, updated_timestamp) "
            "SELECT 'dev-' || lpad(n::text, 4, '0'), '', '[]', '[]', 'NO_IDENTITY', '', '', '', '{}', '{}', 1, "
            "now(), now() FROM generate_series(1, %s) AS n",
            [DEVICES],
        )
    job = Job.objects.get(pk=act_confirmed(api_client, "add_tags", {"tags": ["moved"]}).json()["id"])

    worker = start_worker()
    try:
        wait_until(lambda: Job.objects.get(pk=job.pk).processed >= 50, timeout=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    stopped_at = Job.objects.get(pk=job.pk)
    assert stopped_at.status == JobStatus.RUNNING and stopped_at.processed < DEVICES, "the job ended before the kill"

    worker = start_worker()
    try:
        wait_until(lambda: Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED, timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0

    job.refresh_from_db()
    assert (job.total, job.processed, job.succeeded, job.failed) == (DEVICES, DEVICES, DEVICES, 0)
    assert Device.objects.filter(tags=["moved"]).count() == DEVICES
    updated = list(DeviceEvent.objects.filter(type=EventType.UPDATED).values_list("device_id", flat=True))
    assert len(updated) == len(set(updated)) == DEVICES
    assert Event.objects.filter(type="device.updated").count() == DEVICES
    assert set(Device.objects.values_list("version", flat=True)) == {2}
