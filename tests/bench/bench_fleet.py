"""Benchmark of fleet actions (contract, section 9) on a fleet of N devices (default 1,000,000).

It makes its own database on the server of DATABASE_URL (`<name>_fleet_bench`, dropped and re-created each run;
the seeded one is left alone), seeds N devices (`seed_devices`), and then, with one `manage.py worker` process
running the jobs as production does:

1. a dry run of `add_tags` over every device (`POST /device-actions`, `dry_run: true`): its answer time;
2. `add_tags` over every device, from the request to the job's end, with its events (history and feed), and the
   average time of its batch transactions (its parts run theirs at once, each one after the other); while it
   runs, the device list (`GET /devices`, a page of 50) and single-device writes (`PATCH /devices/{id}`, devices
   outside the job's way: created for the purpose) are timed from here, each ten times a second: their p50, p99
   and worst, beside the job's batch transactions; and the CPU the whole machine spent meanwhile (read from
   /proc/stat), of it the worker's and this process's (the timed requests): what the job costs, against what two
   cores offer in the time it took;
3. `set_dms` over N/10 devices (the oldest tenth, by a `creation_timestamp[bf]` filter), from request to end, and
   the CPU spent meanwhile;
4. with `--batches B` (default 30), the cost of one batch alone: B batches of `add_tags` over 1,000 devices each
   (contiguous by id, at random places), one at a time in this process through the door a job's batches take
   (`fleet.actions`), the collector tuned as the worker tunes it: the median wall time, the Python CPU time and
   the database server's CPU time of one batch (read from /proc: a server on this machine).

Requests go through Django's test client in this process (no socket), as the other benchmarks' do.
Run it with `scripts/bench`, or: `DATABASE_URL=postgres://... python tests/bench/bench_fleet.py [--devices N]`.
"""

import argparse
import gc
import io
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import harness  # noqa: F401  (sets Django up)
from django.core.management import call_command
from django.db import connection, transaction
from harness import API, percentile, server_settings, use_empty_database

from devices import services
from devices.models import Device
from devmanager.api.services import api_key_create
from devmanager.worker import GC_THRESHOLD
from fleet.actions import ACTIONS as FLEET_ACTIONS
from fleet.models import Job, JobStatus, JobStream

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = f"{API}/device-actions"


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=int(os.environ.get("BENCH_FLEET_DEVICES", 1_000_000)))
    parser.add_argument("--batches", type=int, default=30, help="Batches timed alone at the end (0: none).")
    parser.add_argument("--iterations", type=int, help="Ignored (scripts/bench passes it to every benchmark).")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("The benchmark runs against PostgreSQL (set DATABASE_URL).")
    return args


def start_worker(database_url: str) -> subprocess.Popen:
    environment = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SECRET_KEY": "benchmark"}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker"], cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True
    )
    assert "Worker running" in worker.stdout.readline()
    return worker


def cpu_seconds(pid: int) -> float | None:
    """A process's CPU time (user and system), when it runs on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuUse:
    """The machine's CPU seconds (from /proc/stat, steal left out): spent, and there to spend; and those of the
    worker and of this process (the timed requests). Subtract two of them for what a span used."""

    busy: float
    available: float
    worker: float
    here: float

    @classmethod
    def now(cls, worker_pid: int) -> "CpuUse | None":
        try:
            times = Path("/proc/stat").read_text().split()[1:8]
            user, nice, system, idle, iowait, irq, softirq = map(int, times)
        except (OSError, ValueError):
            return None
        ticks, busy = os.sysconf("SC_CLK_TCK"), user + nice + system + irq + softirq
        return cls(busy / ticks, (busy + idle + iowait) / ticks, cpu_seconds(worker_pid) or 0.0, time.process_time())

    def __sub__(self, other: "CpuUse") -> "CpuUse":
        return CpuUse(*(getattr(self, name) - getattr(other, name) for name in ("busy", "available", "worker", "here")))

    def summary(self) -> str:
        rest = self.busy - self.worker - self.here
        return (
            f"{self.busy:.1f} of {self.available:.1f} CPU-s ({self.busy / self.available:.0%}): worker"
            f" {self.worker:.1f}, database and the rest {rest:.1f}, timed requests {self.here:.1f}"
        )


class Client:
    """An API client of its own (Django's test client is not shared between threads)."""

    def __init__(self, name: str):
        from django.test import Client as DjangoClient

        _, key = api_key_create(name=name)
        self.client = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {key}")

    def act(self, body: dict) -> tuple[float, dict]:
        started = time.perf_counter()
        response = self.client.post(ACTIONS, body, content_type="application/json")
        elapsed = time.perf_counter() - started
        assert response.status_code in (200, 202), response.content
        return elapsed, response.json()

    def run_confirmed(self, body: dict, worker_pid: int) -> tuple[float, Job, CpuUse | None]:
        """Dry run, execution, and the wait for the job's end: seconds from the execution's request to the end, and
        the CPU the machine spent meanwhile."""
        _, dry = self.act({**body, "dry_run": True})
        started, cpu = time.perf_counter(), CpuUse.now(worker_pid)
        _, job = self.act({**body, "confirmation": dry["confirmation"]})
        while (current := Job.objects.get(pk=job["id"])).status in (JobStatus.QUEUED, JobStatus.RUNNING):
            time.sleep(0.05)
        assert current.status == JobStatus.SUCCEEDED, current.message
        elapsed, cpu_after = time.perf_counter() - started, CpuUse.now(worker_pid)
        return elapsed, current, None if cpu is None or cpu_after is None else cpu_after - cpu


class Traffic(threading.Thread):
    """One client's requests, timed, while the job runs: one every PAUSE seconds (a steady load, not one that takes
    a core from the worker on a 2-core machine)."""

    PAUSE = 0.1

    def __init__(self, request, stop: threading.Event):
        super().__init__(daemon=True)
        self.request, self.stop, self.times = request, stop, []

    def run(self):
        try:
            index = 0
            while not self.stop.wait(self.PAUSE):
                started = time.perf_counter()
                self.request(index)
                self.times.append((time.perf_counter() - started) * 1000)
                index += 1
        finally:
            connection.close()

    def summary(self) -> str:
        times = self.times
        return (
            f"{len(times):6d} requests  p50 {statistics.median(times):6.1f} ms  p99 {percentile(times, 0.99):6.1f} ms"
            f"  worst {max(times):6.1f} ms"
        )


def batch_costs(count: int) -> tuple[float, float, float | None]:
    """The median wall time and Python CPU time of one batch of `add_tags` (1,000 devices), and the database
    server's mean CPU time a batch (None when it runs elsewhere), over `count` batches run one at a time."""
    ids = list(Device.objects.filter(pk__startswith="fleet-").order_by("pk").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    places = random.Random(1)
    walls, pythons, server_before = [], [], cpu_seconds(pid)
    for index in range(count):
        start = places.randrange(0, len(ids) - 1000)
        wall, python = time.perf_counter(), time.process_time()
        with transaction.atomic():
            FLEET_ACTIONS["add_tags"].apply(ids[start : start + 1000], {"tags": [f"cost-{index}"]}, "key:benchmark")
        walls.append(time.perf_counter() - wall)
        pythons.append(time.process_time() - python)
    server_after = cpu_seconds(pid)
    server = None if server_before is None or server_after is None else (server_after - server_before) / count
    return statistics.median(walls), statistics.median(pythons), server


def main() -> None:
    args = arguments()
    database_url = use_empty_database("fleet_bench")
    started = time.perf_counter()
    call_command("seed_devices", count=args.devices, seed=1, prefix="fleet-", stdout=io.StringIO())
    connection.cursor().execute("VACUUM ANALYZE")
    seeded = time.perf_counter() - started
    print(f"devices: {args.devices:,} (seeded in {seeded:.0f} s)   database: PostgreSQL ({server_settings()})")
    client, reader, writer = Client("benchmark"), Client("benchmark-reader"), Client("benchmark-writer")
    for index in range(2000):  # the single writes' devices, outside the job's selection (no tag `all-of-them`)
        services.device_create(id=f"zz-writes-{index:04d}", source="bench", tags=["writes"])

    worker = start_worker(database_url)
    try:
        dry_times = [client.act({"action": "add_tags", "params": {"tags": ["w7"]}, "dry_run": True})[0]
                     for _ in range(5)]  # fmt: skip
        everything = {"action": "add_tags", "params": {"tags": ["all-of-them"]}, "q": "not tags[ct]:writes"}
        stop = threading.Event()
        lists = Traffic(lambda index: reader.client.get(f"{API}/devices?page_size=50"), stop)
        writes = Traffic(
            lambda index: writer.client.patch(
                f"{API}/devices/zz-writes-{index % 2000:04d}",
                f'{{"alias": "write {index}"}}',
                content_type="application/merge-patch+json",
            ),
            stop,
        )
        lists.start()
        writes.start()
        tagged, job, tagging_cpu = client.run_confirmed(everything, worker.pid)
        stop.set()
        lists.join()
        writes.join()
        batches = -(-job.total // 1000)
        parts = JobStream.objects.filter(job=job).count()  # each runs its batches one after the other

        cutoff = connection.cursor()
        cutoff.execute(
            "SELECT percentile_disc(0.1) WITHIN GROUP (ORDER BY creation_timestamp) FROM devices_device "
            "WHERE id LIKE 'fleet-%%'"
        )
        tenth = cutoff.fetchone()[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        moved, dms_job, moving_cpu = client.run_confirmed(
            {"action": "set_dms", "params": {"dms_id": "dms-new"}, "filter": [f"creation_timestamp[bf]:{tenth}"]},
            worker.pid,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    print(f"{'scenario':58} {'result':>40}")
    print(f"{'dry run of add_tags over every device (median of 5)':58} {statistics.median(dry_times) * 1000:37.0f} ms")
    print(f"{f'add_tags over {job.total:,} devices, with events':58} {tagged:38.1f} s")
    batch = tagged * parts / batches * 1000
    print(f"{f'  its batch transactions (1,000 devices, {parts} parts at once)':58} {batch:37.0f} ms")
    print(f"{'  GET /devices (page of 50) meanwhile':58} {lists.summary():>40}")
    print(f"{'  PATCH /devices/{id} meanwhile':58} {writes.summary():>40}")
    if tagging_cpu is not None:
        print(f"{'  CPU used meanwhile, all of the machine':58} {tagging_cpu.summary():>40}")
    print(f"{f'set_dms over {dms_job.total:,} devices, with events':58} {moved:38.1f} s")
    if moving_cpu is not None:
        print(f"{'  CPU used meanwhile, all of the machine':58} {moving_cpu.summary():>40}")
    if args.batches:
        wall, python, server = batch_costs(args.batches)
        server_text = "n/a" if server is None else f"{server * 1000:.0f} ms"
        costs = f"{wall * 1000:.0f} ms, Python {python * 1000:.0f} ms, server {server_text}"
        print(f"{f'one add_tags batch alone (median of {args.batches}): wall, CPU':58} {costs:>40}")


if __name__ == "__main__":
    main()
