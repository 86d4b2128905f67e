"""Benchmark of the device endpoints: p50/p95 through the whole Django stack beside the p50 of their bare SQL.

Run it with `scripts/bench` (which prepares a PostgreSQL database with a million devices), or directly against
a seeded database: `DATABASE_URL=postgres://... python tests/bench/bench_devices.py [--iterations N]`.
"""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.db import connection
from harness import API, Bench, arguments, list_url, run

from adapters.models import NetworkAdapter
from devices.models import Device


def ensure_cellular_adapters() -> str:
    """A quarter of the devices with a cellular adapter, as a fleet imported by `import_devices` has (made once, in
    one statement, when the database has next to none); an IMEI from the middle of them."""
    if NetworkAdapter.objects.filter(imei__isnull=False).count() < 1000:
        with connection.cursor() as cursor:
            cursor.execute("""
                INSERT INTO adapters_networkadapter (id, type, imei, description, created_at, updated_at, device_id)
                SELECT gen_random_uuid(), 'cellular', '35' || lpad(row_number() OVER ()::text, 14, '0'), '', now(),
                       now(), id
                FROM devices_device WHERE hashtext(id) % 4 = 0
            """)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE adapters_networkadapter")
    cellular = NetworkAdapter.objects.filter(imei__isnull=False)
    return cellular.order_by("imei").values_list("imei", flat=True)[cellular.count() // 2]


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    total = Device.objects.count()
    bench = Bench(args.iterations)
    some_id = Device.objects.order_by("creation_timestamp").values_list("pk", flat=True)[total // 2]
    year_ago = (datetime.now(UTC) - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page_1000 = bench.bookmark_of_page(1000, f"{API}/devices")
    imei = ensure_cellular_adapters()

    scenarios = [
        ("GET /devices/{id}", f"{API}/devices/{some_id}"),
        ("GET /devices/imei:{imei}", f"{API}/devices/imei:{imei}"),
        ("imei[eq]", list_url(filter=[f"imei[eq]:{imei}"])),
        ("first page, default sort", list_url()),
        ("status[eq]", list_url(filter=["status[eq]:ACTIVE"])),
        ("dms_owner[eq]", list_url(filter=["dms_owner[eq]:dms-lab"])),
        ("tags[contains]", list_url(filter=["tags[contains]:sensor"])),
        ("tags[contains_ic]", list_url(filter=["tags[contains_ic]:TEMPERATURE"])),
        ("creation_timestamp[af], desc", list_url(filter=[f"creation_timestamp[af]:{year_ago}"], sort_mode="desc")),
        ("status + tags", list_url(filter=["status[eq]:ACTIVE", "tags[contains]:production"])),
        ("metadata[jsonpath] equality", list_url(filter=['metadata[jsonpath]:$.env == "staging"'])),
        ("page 1,000 by bookmark", f"{API}/devices?{urlencode({'bookmark': page_1000})}"),
        ("GET /stats", list_url("/stats")),
    ]
    print(f"devices: {total:,}   iterations per scenario: {args.iterations}   database: PostgreSQL")
    run(bench, scenarios)


if __name__ == "__main__":
    main()
