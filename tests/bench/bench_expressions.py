"""Benchmark of `q`, `search` and `group_by` (contract, section 8): p50/p95 through the whole Django stack beside the
p50 of their bare SQL; for `group_by`, beside hand-written SQL giving the same buckets.

Run it with `scripts/bench` (which prepares a PostgreSQL database with a million devices), or directly against
a seeded database: `DATABASE_URL=postgres://... python tests/bench/bench_expressions.py [--iterations N]`.
"""

from urllib.parse import urlencode

from harness import API, Bench, arguments, list_url, run

from devices.models import Device

SELECTIVE_OR = "dms_owner[eq]:dms-region-10 or dms_owner[eq]:dms-region-12"
MIXED_OR = "dms_owner[eq]:dms-region-10 or alias[ct_ic]:4242 or status[eq]:DECOMMISSIONED and tags[ct]:pilot"
NOT_BESIDE_INDEXED = "dms_owner[eq]:dms-region-10 and not tags[ct]:sensor"
TOP_DMS = (
    'SELECT dms_owner, count(*) AS n FROM devices_device GROUP BY 1 ORDER BY n DESC, dms_owner COLLATE "C" LIMIT 20'
)
TOP_TAGS = (
    "SELECT tag, count(*) AS n FROM devices_device LEFT JOIN LATERAL jsonb_array_elements_text(tags) AS tag ON true "
    'GROUP BY 1 ORDER BY n DESC, tag COLLATE "C" LIMIT 20'
)
TOP_LOCATIONS = (
    "SELECT metadata -> 'location' AS location, count(*) AS n FROM devices_device GROUP BY 1 "
    "ORDER BY n DESC, 1 LIMIT 20"
)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    total = Device.objects.count()
    bench = Bench(args.iterations)
    q_list = f"{API}/devices?{urlencode({'q': SELECTIVE_OR})}"
    page_50 = bench.bookmark_of_page(50, q_list)
    scenarios = [
        ("q: a or b, selective indexed atoms", list_url(q=SELECTIVE_OR)),
        ("q: a or b or (c and d)", list_url(q=MIXED_OR)),
        ("q: page 50 of it by bookmark", f"{API}/devices?{urlencode({'bookmark': page_50})}"),
        ("q: indexed and not tags", list_url(q=NOT_BESIDE_INDEXED)),
        ("q: not metadata[jsonpath]", list_url(q="not metadata[jsonpath]:'$.env == \"prod\"'")),
        ("search: 4 digits of ids and aliases", list_url(search="4242")),
        ("search: a word (a quarter of aliases)", list_url(search="gate")),
        ("search: no match", list_url(search="zqxw")),
        ("stats group_by=dms_owner", list_url("/stats", group_by="dms_owner"), TOP_DMS),
        ("stats group_by=tags", list_url("/stats", group_by="tags"), TOP_TAGS),
        ("stats group_by=metadata:$.location", list_url("/stats", group_by="metadata:$.location"), TOP_LOCATIONS),
        ("stats group_by=status, q", list_url("/stats", group_by="status", q=NOT_BESIDE_INDEXED)),
    ]
    print(f"devices: {total:,}   iterations per scenario: {args.iterations}   database: PostgreSQL")
    run(bench, scenarios)


if __name__ == "__main__":
    main()
