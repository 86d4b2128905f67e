"""The list's page queries are served by the (sort key, id) indexes: PostgreSQL's plans, checked with EXPLAIN."""

import io
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices import services
from tests.conftest import API
from tests.factories import DeviceFactory, NetworkAdapterFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans"),
]


def page_two_plan(client, **params) -> str:
    """The plan of the query behind the second page of `GET /devices` with these parameters."""
    first = client.get(f"{API}/devices?{urlencode({**params, 'page_size': 2}, doseq=True)}").json()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"{API}/devices?{urlencode({'bookmark': first['next']})}").status_code == 200
    page_sql = next(query["sql"] for query in captured.captured_queries if "LIMIT 3" in query["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows: the planner would rather scan them
        cursor.execute(f"EXPLAIN {page_sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({}, "device_created_idx"),
        ({"sort_by": "updated_timestamp", "sort_mode": "desc"}, "device_updated_idx"),
        ({"filter": "status[eq]:DECOMMISSIONED"}, "device_status_created_idx"),
        ({"filter": "dms_owner[eq]:dms-1", "sort_mode": "desc"}, "device_dms_created_idx"),
    ],
)
def test_bookmark_page_starts_at_the_bookmark_in_the_index(api_client, params, index):
    # A few devices match the filters among many that do not, and the planner knows it.
    for device in DeviceFactory.create_batch(5, dms_owner="dms-1"):
        services.device_decommission(device_id=device.id, source="test", if_match=None)
    DeviceFactory.create_batch(60, dms_owner="dms-2")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE devices_device")

    plan = page_two_plan(api_client, **params)

    assert index in plan
    # The seek is the index's start condition, not a filter on the rows it returns.
    assert "Index Cond:" in plan and "ROW(" in plan.split("Index Cond:")[1].splitlines()[0]


def test_no_pattern_ops_index_slows_device_or_adapter_writes():
    # Django adds them beside varchar indexes; no query here uses LIKE 'prefix%' (migration 0008 drops them).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('devices_device', 'adapters_networkadapter') "
            "AND indexdef LIKE '%%pattern_ops%%'"
        )
        assert cursor.fetchall() == []
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'adapters_networkadapter'")
        assert cursor.fetchone() == (5,)  # the primary key, the device's, the IMEI's, DevEUI's and dvn_uuid's


def test_alias_ignorecase_contains_uses_the_folded_trigram_index(api_client):
    call_command("seed_devices", count=3000, seed=1, stdout=io.StringIO())
    DeviceFactory(id="needle", alias="Ärger im Kühlraum")
    with connection.cursor() as cursor:
        # New rows wait in the GIN index's pending list, which the planner costs as a scan of them all.
        cursor.execute("SELECT gin_clean_pending_list('devices_device_alias_folded_trgm')")
        cursor.execute("ANALYZE devices_device")
    with CaptureQueriesContext(connection) as captured:
        response = api_client.get(f"{API}/devices", {"filter": "alias[ct_ic]:KÜHLRAUM", "include": "total_count"})
    assert [device["id"] for device in response.json()["list"]] == ["needle"]
    # The count: the page itself may rather walk the sort's index, filtering as it goes, to stop at the page's end.
    count_sql = next(query["sql"] for query in captured.captured_queries if "COUNT(*)" in query["sql"])

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {count_sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "devices_device_alias_folded_trgm" in plan


def test_a_device_named_by_an_identifier_is_found_through_indexes(api_client):
    # `GET /devices/imei:…` reads the adapter by its identifier's index and the device by its primary key: with
    # `id IN (subquery)` PostgreSQL scanned every device (270 ms at 1,000,000 devices).
    call_command("seed_devices", count=3000, seed=1, stdout=io.StringIO())
    adapter = NetworkAdapterFactory(device=DeviceFactory(id="named"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE devices_device")
        cursor.execute("ANALYZE adapters_networkadapter")
    with CaptureQueriesContext(connection) as captured:
        assert api_client.get(f"{API}/devices/imei:{adapter.imei}").json()["id"] == "named"
    device_sql = next(query["sql"] for query in captured.captured_queries if "adapters_networkadapter" in query["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # one adapter: the planner would rather scan it
        cursor.execute(f"EXPLAIN {device_sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "adapters_networkadapter_imei_key" in plan
    # The device is sought in the primary key's index, not filtered out of a walk of all of them.
    assert "SubPlan" not in plan and "Index Cond: ((id)::text = ($0)::text)" in plan
