"""The load test against the topology of scripts/cluster (contract, section 11), with the app servers reading from
the replica, and again reading from the primary only: throughput, p50/p99 per request type, failed requests and
lost writes (tests/bench/loadtest.py), and the CPU each PostgreSQL server spent during the load, as a share of the
machine's.

Each run starts its own topology, seeds N devices into the primary (default 1,000,000; the replica follows), runs
the mixed load through the load balancer (reads with one key, writes with another, as a fleet's readers and writers
are different clients), then stops it.

`--kill-replica S`: S seconds into the load the replica is stopped (`pg_ctl stop -m immediate`), and S seconds later
started again; printed besides: the load test's failed requests (it exits non-zero on any) and the reads the replica
served after its restart (its own statistics).

`python tests/bench/bench_topology.py [--devices N] [--users 12] [--duration 90s] [--only replica|primary]
[--kill-replica S]`
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TICKS = os.sysconf("SC_CLK_TCK")


def load_cluster():
    spec = importlib.util.spec_from_file_location("cluster", ROOT / "scripts" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def server_cpu_seconds(data: Path) -> float:
    """CPU seconds (user and system) of a PostgreSQL server's processes: its postmaster and every child."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True, text=True)
    total = 0.0
    for pid in [postmaster, *map(int, children.stdout.split())]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a backend that ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return total


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICKS


def kill_replica_during(cluster, load: subprocess.Popen, after: float) -> None:
    """Stop the replica `after` seconds into the load and start it again as long after; then say how many reads it
    served before the load ended."""
    time.sleep(after)
    cluster.stop_replica()
    print(f"-- replica stopped {after:.0f} s into the load", flush=True)
    time.sleep(after)
    cluster.start_replica_again()
    restarted = cluster.device_scans("replica")
    print("-- replica started again", flush=True)
    load.wait()
    time.sleep(1.5)  # the statistics are flushed within a second
    served = cluster.device_scans("replica") - restarted
    print(f"-- reads of the devices table the replica served after its restart: {served}")


def run(cluster_module, reads_from_replica: bool, devices: int, users: int, duration: str, kill: float) -> None:
    cluster = cluster_module.Cluster(replica_reads=reads_from_replica).start()
    try:
        environment = {**cluster.environment(), "DATABASE_URL": cluster.dsn("primary"), "DATABASE_REPLICA_URLS": "",
                       "DATABASE_POOLER": ""}  # fmt: skip
        started = time.monotonic()
        subprocess.run([PYTHON, "manage.py", "seed_devices", "--count", str(devices), "--seed", "1"], cwd=ROOT,
                       env=environment, check=True, capture_output=True)  # fmt: skip
        cluster.sql("primary", "VACUUM ANALYZE")
        while cluster.sql("replica", "SELECT count(*) FROM devices_device") != str(devices):
            time.sleep(1)  # the replica has replayed the seeding
        print(f"\n== reads from {'the replica' if reads_from_replica else 'the primary only'}: {devices:,} devices "
              f"(seeded and replicated in {time.monotonic() - started:.0f} s)")  # fmt: skip
        before = {name: server_cpu_seconds(cluster.root / name) for name in ("primary", "replica")}
        machine = machine_cpu_seconds()
        load = subprocess.Popen([PYTHON, "tests/bench/loadtest.py", "--url", cluster.url, "--users", str(users),
                                 "--duration", duration], cwd=ROOT, env=environment)  # fmt: skip
        if kill:
            kill_replica_during(cluster, load, kill)
        load.wait()
        busy = machine_cpu_seconds() - machine
        for name in ("primary",) if kill else ("primary", "replica"):  # a restarted replica's CPU starts anew
            spent = server_cpu_seconds(cluster.root / name) - before[name]
            print(f"{name} PostgreSQL: {spent:.1f} CPU s during the load, {spent / busy:.0%} of the machine's busy CPU")
        if load.returncode:
            print(f"the load test failed (exit {load.returncode})")
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--duration", default="90s")
    parser.add_argument("--only", choices=["replica", "primary"])
    parser.add_argument("--kill-replica", type=float, default=0, metavar="SECONDS")
    args = parser.parse_args()
    cluster_module = load_cluster()
    for reads_from_replica in (True, False):
        if args.only in (None, "replica" if reads_from_replica else "primary"):
            run(cluster_module, reads_from_replica, args.devices, args.users, args.duration, args.kill_replica)


if __name__ == "__main__":
    main()
