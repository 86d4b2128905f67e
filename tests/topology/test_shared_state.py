"""What app servers share in the topology of scripts/cluster (contract, section 11): the rate limit counts one key's
requests across both app servers, and the worker delivers webhooks of writes made through either of them."""

import pytest

from tests.topology.test_cluster import call, load_cluster_module, new_key, pytestmark  # noqa: F401 (the skips)
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
