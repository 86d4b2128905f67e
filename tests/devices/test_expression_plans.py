"""`q` and `search` keep the index story (PostgreSQL's plans, checked with EXPLAIN): an OR of indexed atoms is a
BitmapOr of their indexes, `search` one of the folded id and alias trigram indexes, not a scan of every device."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import API
from tests.factories import DeviceFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans"),
]


@pytest.fixture
def seeded():
    call_command("seed_devices", count=3000, seed=1, stdout=io.StringIO())
    DeviceFactory(id="Needle-Kühl-1", alias="plain", dms_owner="dms-rare")
    DeviceFactory(id="plain-2", alias="Ärger im Kühlraum", dms_owner="dms-rare")
    with connection.cursor() as cursor:
        # New rows wait in the GIN indexes' pending lists, which the planner costs as a scan of them all.
        cursor.execute("SELECT gin_clean_pending_list('devices_device_alias_folded_trgm')")
        cursor.execute("SELECT gin_clean_pending_list('devices_device_id_folded_trgm')")
        cursor.execute("ANALYZE devices_device")


def count_plan(client, **params) -> tuple[list[str], str]:
    """The ids `GET /devices` lists with these parameters, and the plan of its count (the page itself may rather
    walk the sort's index, filtering as it goes, to stop at the page's end)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"{API}/devices", {**params, "include": "total_count"})
    assert response.status_code == 200, response.content
    count_sql = next(query["sql"] for query in captured.captured_queries if "COUNT(*)" in query["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {count_sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return sorted(device["id"] for device in response.json()["list"]), plan


def test_search_is_a_bitmap_or_of_the_id_and_alias_trigram_indexes(api_client, seeded):
    ids, plan = count_plan(api_client, search="KÜHL")

    assert ids == ["Needle-Kühl-1", "plain-2"]
    assert "BitmapOr" in plan
    assert "devices_device_id_folded_trgm" in plan and "devices_device_alias_folded_trgm" in plan


def test_an_or_of_indexed_atoms_is_a_bitmap_or(api_client, seeded):
    ids, plan = count_plan(api_client, q="dms_owner[eq]:dms-rare or alias[ct_ic]:ÄRGER")

    assert ids == ["Needle-Kühl-1", "plain-2"]
    assert "BitmapOr" in plan and "Seq Scan" not in plan
    assert "device_dms_created_idx" in plan and "devices_device_alias_folded_trgm" in plan


def test_not_beside_an_indexed_atom_reads_the_index(api_client, seeded):
    ids, plan = count_plan(api_client, q="dms_owner[eq]:dms-rare and not alias[ct]:plain")

    assert ids == ["plain-2"]
    assert "device_dms_created_idx" in plan and "Seq Scan" not in plan
