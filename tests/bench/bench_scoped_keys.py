"""Benchmark of a key restricted to one DMS (contract, section 10) against an unrestricted key, on the same lists.

It makes its own database on the server of DATABASE_URL (`<name>_scoped_bench`, dropped and made again each run),
seeds N devices (default 1,000,000) spread evenly over 50 DMSs (`seed_devices --dms-count 50`), and times each
list with both keys, one request of each in turn, so that both see the same load: their p50 and p95, and the
restricted key's p50 over the unrestricted key's (issue 21 asks for at most 1.2).

Run it with `DATABASE_URL=postgres://... python tests/bench/bench_scoped_keys.py [--devices N] [--iterations N]`.
"""

import argparse
import io
import statistics
import time

import harness  # noqa: F401  (sets Django up)
from django.core.management import call_command
from django.db import connection
from django.test import Client
from harness import API, list_url, percentile, use_empty_database

from devices.models import Device
from devmanager.api.services import api_key_create

DMS = "dms-07"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    use_empty_database("scoped_bench")
    started = time.perf_counter()
    call_command("seed_devices", count=args.devices, seed=1, prefix="scoped-", dms_count=50, stdout=io.StringIO())
    connection.cursor().execute("VACUUM ANALYZE")
    print(f"devices: {args.devices:,} over 50 DMSs (seeded in {time.perf_counter() - started:.0f} s)   "
          f"iterations: {args.iterations}   database: PostgreSQL")  # fmt: skip
    everyone = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='operator')[1]}")
    restricted = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='partner', dms=[DMS])[1]}")
    mine = Device.objects.filter(dms_owner=DMS).order_by("creation_timestamp").values_list("pk", flat=True)[100]

    scenarios = [
        ("first page, default sort", list_url()),
        ("page of 100", list_url(page_size=100)),
        ("status[eq]", list_url(filter=["status[eq]:ACTIVE"])),
        ("tags[contains]", list_url(filter=["tags[contains]:sensor"])),
        ("sort by alias", list_url(sort_by="alias")),
        ("updated_timestamp desc", list_url(sort_by="updated_timestamp", sort_mode="desc")),
        ("search", list_url(search="sensor 00")),
        ("GET /devices/{id}", f"{API}/devices/{mine}"),
        ("include=total_count", list_url(include="total_count")),
    ]
    print(f"{'scenario':28} {'all DMSs p50':>13} {'p95':>7} {'one DMS p50':>12} {'p95':>7} {'ratio':>6}")
    for name, url in scenarios:
        times = {"everyone": [], "restricted": []}
        for _ in range(3):  # warm both
            timed(everyone, url), timed(restricted, url)
        for _ in range(args.iterations):
            times["everyone"].append(timed(everyone, url))
            times["restricted"].append(timed(restricted, url))
        wide, narrow = times["everyone"], times["restricted"]
        ratio = statistics.median(narrow) / statistics.median(wide)
        print(f"{name:28} {statistics.median(wide):10.2f} ms {percentile(wide, 0.95):7.2f} "
              f"{statistics.median(narrow):9.2f} ms {percentile(narrow, 0.95):7.2f} {ratio:6.2f}")  # fmt: skip


def timed(client: Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed


if __name__ == "__main__":
    main()
