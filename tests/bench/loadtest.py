"""Load test: locust drives tests/bench/locustfile.py against a running server, then every acknowledged write is
looked up in the database. Prints throughput and p50/p99 per request type; exits non-zero on any failed request
or lost write. Run through `scripts/loadtest`, which starts PostgreSQL, seeds it and serves the production command.

`DATABASE_URL=... python tests/bench/loadtest.py --url http://127.0.0.1:8000 [--users 16] [--duration 120s]`
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "devmanager.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "loadtest")

import django  # noqa: E402

django.setup()

from devices.models import Device  # noqa: E402
from devmanager.api.services import api_key_create  # noqa: E402
from groups.models import DeviceGroup  # noqa: E402
from groups.services import group_create  # noqa: E402


def fixtures(run: str) -> dict:
    """Existing devices to read and patch, and groups whose members to list (made when there are none)."""
    device_ids = list(Device.objects.exclude(pk__startswith="load-").order_by("?").values_list("pk", flat=True)[:2000])
    if not DeviceGroup.objects.exists():
        for dms in ("dms-production", "dms-lab"):
            root = group_create(name=f"load-{dms}", criteria=[{"field": "dms_owner", "operand": "eq", "value": dms}])
            for tag in ("sensor", "gateway"):
                group_create(
                    name=tag, parent_id=root.pk, criteria=[{"field": "tags", "operand": "contains", "value": tag}]
                )
    group_ids = [str(pk) for pk in DeviceGroup.objects.order_by("?").values_list("pk", flat=True)[:200]]
    return {"run": run, "device_ids": device_ids, "group_ids": group_ids}


def run_locust(url: str, users: int, duration: str, key: str, fixture_file: str, ledger: str, csv_prefix: str) -> int:
    command = [
        str(Path(sys.executable).parent / "locust"),
        "--locustfile", str(ROOT / "tests" / "bench" / "locustfile.py"),
        "--headless", "--users", str(users), "--spawn-rate", str(users), "--run-time", duration,
        "--host", url, "--csv", csv_prefix, "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
    ]  # fmt: skip
    _, reader = api_key_create(name="loadtest-reader")
    environment = {**os.environ, "LOADTEST_KEY": key, "LOADTEST_READ_KEY": reader, "LOADTEST_FIXTURES": fixture_file,
                   "LOADTEST_LEDGER": ledger}  # fmt: skip
    with open(Path(csv_prefix).parent / "locust.log", "w") as log:
        return subprocess.run(command, env=environment, check=False, stdout=log, stderr=subprocess.STDOUT).returncode


def print_figures(csv_prefix: str) -> int:
    """The stats table; returns the number of failed requests."""
    with open(f"{csv_prefix}_stats.csv") as stats:
        rows = list(csv.DictReader(stats))
    print(f"{'request':36} {'count':>8} {'failed':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for row in rows:
        name = row["Name"] if row["Type"] else "all requests"
        print(
            f"{name:36} {int(row['Request Count']):8d} {int(row['Failure Count']):7d} "
            f"{float(row['Requests/s']):8.1f} {row['50%']:>7} {row['99%']:>7}"
        )
    return int(rows[-1]["Failure Count"])


def lost_writes(ledger: str) -> list[str]:
    """Every acknowledged write that the database does not hold."""
    entries = [json.loads(line) for line in Path(ledger).read_text().splitlines()]
    touched = {entry["id"] for entry in entries}
    devices = {}
    for chunk in range(0, len(touched), 1000):
        ids = sorted(touched)[chunk : chunk + 1000]
        devices.update({device.pk: device for device in Device.objects.filter(pk__in=ids).only("metadata", "slots")})
    newest_version = defaultdict(int)
    lost = []
    for entry in entries:
        device = devices.get(entry["id"])
        if device is None:
            lost.append(f"{entry['op']} {entry['id']}: device missing")
        elif entry["op"] == "patch" and device.metadata.get(entry["key"]) != entry["value"]:
            lost.append(f"patch {entry['id']} /{entry['key']}: not stored")
        elif entry["op"] == "idslot":
            newest_version[entry["id"]] = max(newest_version[entry["id"]], entry["version"])
    for device_id, version in newest_version.items():
        slot = devices[device_id].slots.get("default") or {}
        if slot.get("active_version") != version or str(version) not in slot.get("versions", {}):
            lost.append(f"idslot {device_id}: version {version} not active")
    counts = defaultdict(int)
    for entry in entries:
        counts[entry["op"]] += 1
    print(
        f"acknowledged writes: {counts['create']} creates, {counts['patch']} metadata patches, "
        f"{counts['idslot']} idslot updates; lost: {len(lost)}"
    )
    return lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", default="120s")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="devmanager-load-"))
    fixture_file, ledger, csv_prefix = work / "fixtures.json", work / "ledger.jsonl", str(work / "locust")
    fixture_file.write_text(json.dumps(fixtures(uuid.uuid4().hex[:8])))
    ledger.touch()
    _, key = api_key_create(name="loadtest")
    print(f"devices: {Device.objects.count():,}   users: {args.users}   duration: {args.duration}   {args.url}")
    run_locust(args.url, args.users, args.duration, key, str(fixture_file), str(ledger), csv_prefix)
    failed = print_figures(csv_prefix)
    lost = lost_writes(str(ledger))
    for line in lost[:20]:
        print("LOST", line)
    if failed or lost:
        raise SystemExit(f"{failed} failed requests, {len(lost)} lost writes (details in {work})")


if __name__ == "__main__":
    main()
