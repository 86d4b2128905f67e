"""Benchmark of import_devices and export_devices at fleet scale, beside a bare COPY of the same rows.

It makes its own empty database on the server of DATABASE_URL (`<name>_import_bench`, dropped and re-created each
run; the seeded one is left alone), writes N realistic devices as JSON Lines (seed_devices' generator, a quarter of
them with a cellular adapter), imports them (validated, with their CREATED events and the feed's `device.created` and
`device.adapter.added` events), exports them, and COPYs the same rows, already encoded, into a table of the devices
table's shape (its indexes included).

`scripts/bench` runs it with the other benchmarks; alone:
`DATABASE_URL=postgres://... python tests/bench/bench_import_export.py [--rows N]` (default 1,000,000, or the
BENCH_IMPORT_ROWS environment variable). `--without-feed` times the same import without the feed's events, the
baseline of their cost; `--import-only` times the import alone, with them.
"""

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import harness  # noqa: F401  (sets Django up)
from django.core.management import call_command
from django.db import connection
from harness import server_settings, use_empty_database

from devices.domain import DEVICE_COLUMNS
from devices.models import Device, DeviceEvent
from events.models import Event
from tests.factories import imei_from
from transfer.management.commands.seed_devices import synthetic_device

ROOT = Path(__file__).resolve().parents[2]
JSON_COLUMNS = ("tags", "tag_terms", "metadata", "slots")
ROW_FIELDS = [
    "id", "alias", "tags", "status", "icon", "icon_color", "creation_timestamp", "updated_timestamp", "metadata",
    "dms_owner", "slots",
]  # fmt: skip


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_IMPORT_ROWS", 1_000_000)))
    parser.add_argument(
        "--without-feed", action="store_true",
        help="Import without the feed's events, as before it (issue 19's baseline); no export or bare COPY.",
    )  # fmt: skip
    parser.add_argument("--import-only", action="store_true", help="Time the import alone (no export or bare COPY).")
    parser.add_argument("--iterations", type=int, help="Ignored (scripts/bench passes it to every benchmark).")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("The benchmark runs against PostgreSQL (set DATABASE_URL).")
    return args


def write_rows(path: Path, copy_path: Path, count: int) -> None:
    """N devices as an export would write them (a quarter with an IMEI), and the same devices in COPY's text format
    (the columns of the devices table) for the bare COPY."""
    rng, now = random.Random(1), datetime.now(UTC)
    with path.open("w") as rows, copy_path.open("w") as copy_rows:
        for n in range(count):
            device = synthetic_device(rng, f"bench-{n:07d}", now)
            row = {name: device[name] for name in ROW_FIELDS}
            row["creation_timestamp"] = device["creation_timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            row["updated_timestamp"] = device["updated_timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if n % 4 == 0:
                row["imei"] = imei_from(f"35{n:012d}")
            rows.write(json.dumps(row) + "\n")
            values = [json.dumps(device[name]) if name in JSON_COLUMNS else device[name] for name in DEVICE_COLUMNS]
            copy_rows.write("\t".join(_copy_text(value) for value in values) + "\n")


def leave_out_the_feed() -> None:
    """The import as it ran before the feed: its `device.created` and `device.adapter.added` events neither encoded
    nor written, here and in the validating processes this process forks. The same code otherwise, so that the two
    runs differ by the feed alone."""
    from devices import batch
    from transfer.importing import batches

    batch.encode_created = lambda device, documents, times: b""
    batches.encode_added = lambda adapter, dms: b""
    batch.publish_encoded = batches.publish_encoded = lambda encoded: None


def bare_copy(copy_path: Path) -> float:
    """Seconds to COPY the devices, already encoded, into a table of the devices table's shape (an ordinary table:
    a temporary one would live in the session's small temp_buffers, and be slower for it)."""
    raw = connection.cursor().cursor
    raw.execute("DROP TABLE IF EXISTS bare_devices")
    raw.execute("CREATE TABLE bare_devices (LIKE devices_device INCLUDING ALL)")
    started = time.perf_counter()
    with copy_path.open("rb") as data, raw.copy(f"COPY bare_devices ({', '.join(DEVICE_COLUMNS)}) FROM STDIN") as copy:
        while block := data.read(1 << 20):
            copy.write(block)
    elapsed = time.perf_counter() - started
    raw.execute("DROP TABLE bare_devices")
    return elapsed


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# Runs export_devices and prints the process's peak resident memory (VmHWM: of this program alone, unlike
# getrusage's, which counts what the forking parent held before exec).
EXPORT = """
import sys, django
django.setup()
from django.core.management import call_command
call_command("export_devices", *sys.argv[1:])
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


def export(database_url: str, path: Path, *options: str) -> tuple[float, float]:
    """Seconds and the peak resident memory (MiB) of `export_devices`, run as a process of its own."""
    environment = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "devmanager.settings"}
    command = [sys.executable, "-c", EXPORT, "--output", str(path), *options]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=environment, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, int(done.stdout.split()[-1]) / 1024


def main() -> None:
    args = arguments()
    database_url = use_empty_database("import_bench")
    with tempfile.TemporaryDirectory() as directory:
        source, exported = Path(directory, "devices.jsonl"), Path(directory, "export.jsonl")
        copy_source = Path(directory, "devices.copy")
        write_rows(source, copy_source, args.rows)
        size = source.stat().st_size / 2**20
        print(f"rows: {args.rows:,}   input: {size:,.0f} MiB   database: PostgreSQL (empty; {server_settings()})")

        if args.without_feed:
            leave_out_the_feed()
        started = time.perf_counter()
        call_command("import_devices", str(source), stdout=io.StringIO())
        imported = time.perf_counter() - started
        assert Device.objects.count() == args.rows and DeviceEvent.objects.count() == args.rows
        feed = 0 if args.without_feed else args.rows + (args.rows + 3) // 4  # and an adapter's for every fourth
        assert Event.objects.count() == feed
        if args.without_feed or args.import_only:
            without = " without the feed's events" if args.without_feed else ""
            print(f"import_devices{without}: {imported:.1f} s, {args.rows / imported:,.0f} rows/s")
            return
        connection.cursor().execute("VACUUM ANALYZE")

        tenth, tenth_peak = export(database_url, exported, "--filter", "id[ct]:00")
        full, full_peak = export(database_url, exported)
        copied = bare_copy(copy_source)

    print(f"{'scenario':52} {'seconds':>8} {'rows/s':>9}")
    print(f"{'import_devices (JSON Lines, validated, events)':52} {imported:8.1f} {args.rows / imported:9,.0f}")
    print(f"{'bare COPY of the same rows (same table shape)':52} {copied:8.1f} {args.rows / copied:9,.0f}")
    print(f"{'export_devices (JSON Lines)':52} {full:8.1f} {args.rows / full:9,.0f}")
    print(f"import rate / bare COPY rate: {copied / imported:.2f}")
    print(f"export peak memory: {full_peak:.0f} MiB for all rows, {tenth_peak:.0f} MiB for a tenth ({tenth:.1f} s)")


if __name__ == "__main__":
    main()
