"""Benchmark of idle feed followers: 200 clients long polling `GET /events?wait=30` on one production server
(gunicorn, `devmanager/gunicorn.conf.py`, 2 processes of 110 threads), then one commit that wakes them all.

Printed: the database connections the server holds while they wait (from `pg_stat_activity`), the CPU the server's
processes use over 10 s of waiting, their memory, and the time from the commit to the last follower's answer.
Run it with `scripts/bench`, or: `DATABASE_URL=postgres://... python tests/bench/bench_waiters.py [--clients N]`.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from django.db import connection
from harness import percentile  # noqa: F401  (sets Django up)

from devices import services as device_services
from devices.models import Device
from devmanager.api.services import api_key_create
from events.models import FeedCounter

ROOT = Path(__file__).resolve().parents[2]
WORKERS, THREADS = 2, 110


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    environment = {
        **os.environ, "DEVMANAGER_BIND": f"127.0.0.1:{port}", "DEVMANAGER_WORKERS": str(WORKERS),
        "DEVMANAGER_THREADS": str(THREADS), "DJANGO_LOG_LEVEL": "WARNING", "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }  # fmt: skip
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "--config", "devmanager/gunicorn.conf.py", "devmanager.wsgi"],
        cwd=ROOT, env=environment, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz")
            return server
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def server_pids(server: subprocess.Popen) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
    return [server.pid, *map(int, children)]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def held_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--iterations", type=int, help="(scripts/bench passes it; unused here)")
    options = parser.parse_args()
    _, key = api_key_create(name="bench-waiters", scopes=["events:read"])
    port = free_port()
    before = held_connections()
    server = start_server(port)
    url = f"http://127.0.0.1:{port}/api/devmanager/v1/events"
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-Proto": "https"}
    device_id = f"bench-waiters-{int(time.time())}"
    try:
        last_event = FeedCounter.objects.values_list("position", flat=True).first() or 0
        bookmark = httpx.get(url, params={"after": last_event}, headers=headers).json()["next"]  # the feed's end
        answered: list[float] = []
        statuses: list[int] = []

        def follow():
            response = httpx.get(url, params={"bookmark": bookmark, "wait": 30}, headers=headers, timeout=60)
            statuses.append(response.status_code)
            if response.status_code == 200 and response.json()["list"]:
                answered.append(time.time())

        threads = [threading.Thread(target=follow) for _ in range(options.clients)]
        for thread in threads:
            thread.start()
        time.sleep(5)  # all waiting by now
        pids = server_pids(server)
        connections = held_connections() - before
        cpu_before = cpu_seconds(pids)
        time.sleep(10)
        cpu = cpu_seconds(pids) - cpu_before
        committed = time.time()
        device_services.device_create(id=device_id, source="command:bench")
        for thread in threads:
            thread.join(timeout=60)
        print(
            f"{options.clients} followers waiting on {WORKERS} processes x {THREADS} threads: {connections} database "
            f"connection(s) held by the server, {cpu:.2f} s CPU in 10 s of waiting ({cpu * 10:.1f} %), "
            f"{rss_mib(pids):.0f} MiB resident"
        )
        last = max(answered) - committed if answered else float("nan")
        print(f"one commit woke {len(answered)} of {options.clients} within {last * 1000:.0f} ms; statuses:",
              {status: statuses.count(status) for status in set(statuses)})  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        Device.objects.filter(id=device_id).delete()  # the benchmark's own device, without events


if __name__ == "__main__":
    sys.exit(main())
