"""The topology of scripts/cluster (contract, section 11): a primary and a streaming replica, PgBouncer in front of
each, two app servers behind HAProxy. Reads go to the replica; a client reads its own writes at once, through
either app server; another client sees them once the lag limit passes; a replica that dies fails no request.

These tests start the whole topology (a few seconds) on free ports, beside the suite's own database; they need
Debian's postgresql, pgbouncer and haproxy (scripts/test installs them)."""

import importlib.util
import json
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
MAX_LAG = 2.0
pytestmark = [
    pytest.mark.skipif(
        not (
            shutil.which("pgbouncer", path="/usr/sbin:/usr/bin") and shutil.which("haproxy", path="/usr/sbin:/usr/bin")
        ),
        reason="the topology needs pgbouncer and haproxy (scripts/test installs them)",
    ),
    # The topology is its own whatever the suite runs on: once, in the plain PostgreSQL run.
    pytest.mark.skipif(
        connection.vendor != "postgresql" or bool(settings.DATABASE_POOLER), reason="run with the suite on PostgreSQL"
    ),
]


def load_cluster_module():
    spec = importlib.util.spec_from_file_location("cluster", ROOT / "scripts" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster():
    running = load_cluster_module().Cluster(max_lag_seconds=MAX_LAG)
    try:
        yield running.start()
    finally:
        running.stop()


def call(cluster, method: str, path: str, key: str, body=None, headers=None) -> tuple[int, object, dict]:
    """A request through the load balancer: (status, headers (any case: HAProxy lowers them), JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{cluster.url}/api/devmanager/v1{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json", **(headers or {}),
    })  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, response.headers, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, error.headers, json.loads(raw) if raw else {}


def new_key(cluster, name: str) -> str:
    status, _, body = call(cluster, "POST", "/api-keys", cluster.key, {"name": name, "scopes": ["devices:write"]})
    assert status == 201, body
    return body["key"]


def eventually(condition, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return result


def test_reads_go_to_the_replica(cluster):
    reader = new_key(cluster, "reader")
    time.sleep(MAX_LAG)  # the replica has caught up with the key's creation and any earlier writes
    primary, replica = cluster.device_scans("primary"), cluster.device_scans("replica")

    for _ in range(20):
        assert call(cluster, "GET", "/devices?page_size=5", reader)[0] == 200

    eventually(lambda: cluster.device_scans("replica") >= replica + 20)  # statistics are flushed within a second
    assert cluster.device_scans("primary") == primary


def test_a_client_reads_its_writes_while_the_replica_is_paused(cluster):
    writer, reader = new_key(cluster, "writer"), new_key(cluster, "other-reader")
    time.sleep(MAX_LAG)
    cluster.sql("replica", "SELECT pg_wal_replay_pause()")
    try:
        status, headers, _ = call(cluster, "POST", "/devices", writer, {"id": "written-1", "dms_id": "dms-a"})
        assert status == 201
        token = headers["X-Consistency-Token"]
        started = time.monotonic()

        # The writer, on either app server (round robin), with no header: at once.
        assert [call(cluster, "GET", "/devices/written-1", writer)[0] for _ in range(6)] == [200] * 6
        # Another client sending the writer's token: at once too.
        assert call(cluster, "GET", "/devices/written-1", reader, headers={"X-Consistency-Token": token})[0] == 200
        # Another client without it reads the paused replica until the write is older than the lag limit.
        assert call(cluster, "GET", "/devices/written-1", reader)[0] == 404
        eventually(lambda: call(cluster, "GET", "/devices/written-1", reader)[0] == 200)
        assert time.monotonic() - started >= MAX_LAG - 1.1  # the replica's position is read once a second
    finally:
        cluster.sql("replica", "SELECT pg_wal_replay_resume()")


def test_a_walk_never_goes_back_in_time(cluster):
    """A bookmark carries how far its page's database had come: another client following it, with no header, reads
    the next page from a database at least that far (here the primary, the replica being paused behind it)."""
    writer, follower = new_key(cluster, "walker"), new_key(cluster, "follower")
    time.sleep(MAX_LAG)
    cluster.sql("replica", "SELECT pg_wal_replay_pause()")
    try:
        for number in (1, 2, 3):
            assert call(cluster, "POST", "/devices", writer, {"id": f"walk-{number}"})[0] == 201
        walk = "/devices?page_size=1&filter=" + urllib.parse.quote("id[ct]:walk-")
        status, _, first = call(cluster, "GET", walk, writer)  # the writer reads its writes: from the primary
        assert status == 200 and [device["id"] for device in first["list"]] == ["walk-1"]

        status, _, second = call(cluster, "GET", f"/devices?bookmark={urllib.parse.quote(first['next'])}", follower)

        assert status == 200 and [device["id"] for device in second["list"]] == ["walk-2"]  # not the paused replica's
    finally:
        cluster.sql("replica", "SELECT pg_wal_replay_resume()")


def test_a_forged_consistency_token_is_400(cluster):
    status, _, body = call(cluster, "GET", "/devices", cluster.key, headers={"X-Consistency-Token": "forged"})

    assert status == 400
    assert body["type"] == "validation_error" and body["fields"][0]["name"] == "X-Consistency-Token"


def test_the_replica_dying_under_load_fails_no_request(cluster):
    reader = new_key(cluster, "load")
    time.sleep(MAX_LAG)
    statuses, stop = [], threading.Event()

    slowest = [0.0]

    def load():
        while not stop.is_set():
            started = time.monotonic()
            statuses.append(call(cluster, "GET", "/devices?page_size=10", reader)[0])
            slowest[0] = max(slowest[0], time.monotonic() - started)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        cluster.stop_replica()
        time.sleep(3)
        ready = json.loads(urllib.request.urlopen(f"{cluster.url}/readyz", timeout=10).read())
        assert ready["databases"]["replica1"]["state"] == "unreachable"
        cluster.start_replica_again()
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert len(statuses) > 20 and set(statuses) == {200}
    assert slowest[0] < 10  # a read caught on the dying replica is answered again from the primary within seconds
    replica = cluster.device_scans("replica")  # counted since the restart
    for _ in range(10):
        assert call(cluster, "GET", "/devices?page_size=5", reader)[0] == 200
    eventually(lambda: cluster.device_scans("replica") >= replica + 10)
