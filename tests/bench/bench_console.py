"""Benchmark of the fleet dashboard (the admin's index) and the group tree's member counts at a million devices.

As bench_admin.py: each page through Django's test client as a logged-in staff user, beside the p50 of the SQL it
ran on the data tables. Before the timed runs it counts the stale groups (`count_group_members`; every group with
`--recount`) and loads the dashboard once (catching the daily event counts up with the feed), and prints how long
each took: the timed runs are the steady state, where the counts are stored and the feed is counted up to its end.
Run it against a
seeded database: `DATABASE_URL=postgres://... python tests/bench/bench_console.py [--iterations N] [--recount]`.
"""

import argparse
import time

from bench_admin import staff_client
from bench_groups import build_tree
from django.db import connection
from django.urls import reverse
from harness import Bench, run

from devices.models import Device
from events.models import Event
from groups.counting import count_all_members
from groups.models import DeviceGroup


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--recount", action="store_true", help="count every group first, stale or not")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("The benchmark runs against PostgreSQL (set DATABASE_URL).")
    return args


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    args = arguments()
    bench = Bench(args.iterations)
    bench.client = staff_client()
    third_level = build_tree()
    index = reverse("admin:index")
    print(
        f"devices: {Device.objects.count():,}   groups: {DeviceGroup.objects.count():,}   "
        f"events: {Event.objects.count():,}   iterations per page: {args.iterations}"
    )
    counted = []
    took = timed(lambda: counted.append(count_all_members(stale_only=not args.recount)))
    print(f"count_group_members{' --all' if args.recount else ''}: {counted[0]:,} groups counted in {took:.1f} s")
    print(f"first dashboard (catching up with the feed): {timed(lambda: bench.request(index)):.2f} s")
    run(
        bench,
        [
            ("dashboard (admin index)", index),
            ("group tree (1,000 groups, counts stored)", reverse("admin:groups_devicegroup_changelist")),
            ("third-level group's page (its stats)", reverse("admin:groups_devicegroup_change", args=[third_level.pk])),
        ],
    )


if __name__ == "__main__":
    main()
