"""What app servers share in the topology of scripts/cluster (contract, section 11): the rate limit counts one key's
requests across both app servers, and the worker delivers webhooks of writes made through either of them and runs
the fleet actions sent to either."""

import pytest

from tests.topology.test_cluster import (  # noqa: F401 (pytestmark: the skips)
    call,
    eventually,
    load_cluster_module,
    new_key,
    pytestmark,
)
from tests.webhooks.receiver import Receiver

RATE = 10  # requests per minute per key


@pytest.fixture(scope="module")
def cluster():
    settings = {
        "DEVMANAGER_THROTTLE_RATE": f"{RATE}/minute",
        "DEVMANAGER_WEBHOOK_ALLOW_HTTP": "true",
        "DEVMANAGER_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    running = load_cluster_module().Cluster(settings=settings)
    try:
        yield running.start()
    finally:
        running.stop()


def test_the_rate_limit_counts_a_keys_requests_on_every_app_server(cluster):
    key = new_key(cluster, "limited")

    # HAProxy alternates the app servers (round robin): each answers half of them.
    statuses = [call(cluster, "GET", "/devices?page_size=1", key)[0] for _ in range(RATE + 4)]

    assert statuses == [200] * RATE + [429] * 4


def test_the_worker_delivers_the_writes_of_either_app_server(cluster):
    with Receiver() as receiver:
        status, _, body = call(
            cluster, "POST", "/webhooks", cluster.key, {"url": receiver.url, "event_types": ["device.created"]}
        )
        assert status == 201, body
        for number in range(4):  # round robin: two through each app server
            assert call(cluster, "POST", "/devices", cluster.key, {"id": f"hooked-{number}"})[0] == 201

        delivered = receiver.wait_for(4, timeout=30)

    assert [received.event["subject"] for received in delivered] == [f"hooked-{number}" for number in range(4)]


def test_a_fleet_action_sent_to_either_app_server_is_run_by_the_worker(cluster):
    operator = new_key(cluster, "fleet-operator")  # its own requests per minute: 7 of them here
    for number in range(3):
        assert call(cluster, "POST", "/devices", operator, {"id": f"fleet-{number}"})[0] == 201
    action = {"action": "add_tags", "params": {"tags": ["w7"]}, "filter": ["id[ct]:fleet-"]}

    status, _, dry_run = call(cluster, "POST", "/device-actions", operator, {**action, "dry_run": True})
    assert status == 200 and dry_run["count"] == 3
    status, _, job = call(  # the dry run's confirmation, signed by one app server, is honoured by the other
        cluster, "POST", "/device-actions", operator, {**action, "confirmation": dry_run["confirmation"]}
    )
    assert status == 202, job

    eventually(lambda: job_status(cluster, job["id"]) not in ("queued", "running"), timeout=60)
    status, _, finished = call(cluster, "GET", f"/device-actions/{job['id']}", operator)
    assert (finished["status"], finished["succeeded"], finished["failed"]) == ("succeeded", 3, 0)
    status, _, tagged = call(cluster, "GET", "/devices?filter=tags[ct]:w7", operator)
    assert sorted(device["id"] for device in tagged["list"]) == ["fleet-0", "fleet-1", "fleet-2"]


def job_status(cluster, job_id: str) -> str:
    """Read on the primary itself: the rate limit leaves no requests to poll with."""
    return cluster.sql("primary", f"SELECT status FROM fleet_job WHERE id = '{job_id}'")
