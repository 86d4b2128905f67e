"""Benchmark of the fleet feed (`GET /events`, page_size=100): the first page, a page in the middle and the last,
a walk by bookmark, and filtered pages, each p50/p95 through the whole Django stack beside its bare SQL.

It tops the database up to `--events` events first (default 10,000,000) with synthetic ones written by one SQL
statement per million (`device.metadata.updated` events of seeded-looking devices, about 500 bytes of data each),
taking their positions from the feed's counter as any writer does.
Run it with `scripts/bench`, or: `DATABASE_URL=postgres://... python tests/bench/bench_feed.py [--iterations N]`.
"""

import sys
import time
from urllib.parse import urlencode

from django.db import connection, transaction
from harness import API, Bench, list_url, run

from events.recording import take_positions

CHUNK = 1_000_000
DATA = (
    '{"device": {"id": "seed-bench-%s", "alias": "Sensor", "tags": ["sensor", "eu"], "status": "ACTIVE", '
    '"icon": "thermometer", "icon_color": "#FF5733", "creation_timestamp": "2026-01-01T00:00:00.000000Z", '
    '"updated_timestamp": "2026-06-01T00:00:00.000000Z", "metadata": {"location": "site-042", "env": "prod", '
    '"firmware": "2.1.7", "temp": 21.5}, "dms_owner": "dms-production", "identity": null, "slots": {}}, '
    '"changes": {"metadata": {"old": {"temp": 20.5}, "new": {"temp": 21.5}}}}'
)


def top_up(wanted: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM events_event")
        have = cursor.fetchone()[0]
    while have < wanted:
        size = min(CHUNK, wanted - have)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            last = take_positions(size)
            cursor.execute(
                "INSERT INTO events_event (position, type, subject, time, actor, data) "
                "SELECT %s + n, CASE WHEN n %% 50 = 0 THEN 'group.updated' ELSE 'device.metadata.updated' END, "
                "'seed-bench-' || (n %% 100000), now() - interval '1 second' * (%s - n) / 100, 'command:bench', "
                "replace(%s, '%%s', (n %% 100000)::text)::json FROM generate_series(1, %s) AS n",
                [last - size, size, DATA, size],
            )
        have += size
        print(f"  events: {have:,} ({time.perf_counter() - started:.1f} s for {size:,})", file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events_event")
    return have


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    total = top_up(args.events)
    bench = Bench(args.iterations)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(position), max(position) FROM events_event")
        first, last = cursor.fetchone()
    feed = f"{API}/events"
    walked = bench.bookmark_of_page(20, feed)
    scenarios = [
        ("first page", list_url("/events", page_size=100)),
        ("a page in the middle (after=)", f"{feed}?{urlencode({'after': (first + last) // 2, 'page_size': 100})}"),
        ("the last page", f"{feed}?{urlencode({'after': last - 100, 'page_size': 100})}"),
        ("nothing new (after the last)", f"{feed}?{urlencode({'after': last, 'page_size': 100})}"),
        ("page 20 of a walk by bookmark", f"{feed}?{urlencode({'bookmark': walked, 'page_size': 100})}"),
        ("type[eq] (1 in 50 events)", list_url("/events", page_size=100, filter=["type[eq]:group.updated"])),
        ("subject[eq] (1 in 100,000)", list_url("/events", page_size=100, filter=["subject[eq]:seed-bench-4242"])),
    ]
    print(f"events: {total:,}   iterations per scenario: {args.iterations}   database: PostgreSQL")
    run(bench, scenarios)


if __name__ == "__main__":
    main()
