"""The end of a fleet job on PostgreSQL, seen from another connection: the selection's rows are deleted once the
batch that ended the job has committed, so that writes recording events do not wait for the deletion."""

import psycopg
import pytest
from django.db import connection

from devmanager.db import direct_connect
from fleet.models import Job, JobDevice, JobStatus
from tests.fleet.helpers import act_confirmed, make_devices, run_jobs

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="another connection sees what PostgreSQL committed"),
]


def test_an_ended_jobs_selection_is_deleted_after_the_batch_that_ended_it_commits(api_client):
    make_devices(3)
    job = Job.objects.get(pk=act_confirmed(api_client, "add_tags", {"tags": ["x"]}).json()["id"])
    seen = []  # at each deletion of selection rows: the job's status and the feed's counter, from elsewhere

    def watch(execute, sql, params, many, context):
        if sql.startswith('DELETE FROM "fleet_jobdevice"'):
            with direct_connect(connection, autocommit=True) as other:
                status = other.execute("SELECT status FROM fleet_job WHERE id = %s", [job.pk]).fetchone()[0]
                try:
                    with other.transaction():
                        other.execute("SELECT 1 FROM events_feedcounter FOR UPDATE NOWAIT")
                    counter = "free"
                except psycopg.errors.LockNotAvailable:
                    counter = "held"
            seen.append((status, counter))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        run_jobs("w")

    assert seen == [(JobStatus.SUCCEEDED, "free")]
    assert JobDevice.objects.count() == 0
