"""The device list stays fast at a million devices: no count of the whole table, no DISTINCT over it, no facet
counts, a fixed number of queries, and orderings an index serves (figures: tests/bench/bench_admin.py)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from devices.admin import CappedCountPaginator, DeviceAdmin, DmsOwnerListFilter
from devices.models import Device
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

DEVICE_CHANGELIST = reverse("admin:devices_device_changelist")
DEVICE_TABLE = Device._meta.db_table


def device_table_queries(admin_client, params=None) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(DEVICE_CHANGELIST, params or {})
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries if DEVICE_TABLE in query["sql"]]


def unbounded_scans(queries: list[str]) -> list[str]:
    """Counts not bounded by a LIMIT, and DISTINCTs: the queries that read every row of a big table."""
    return [sql for sql in queries if ("COUNT(" in sql.upper() and "LIMIT" not in sql.upper()) or "DISTINCT" in sql]


@pytest.mark.parametrize(
    "params",
    [{}, {"p": "2"}, {"status__exact": "ACTIVE"}, {"dms_owner": "dms-a"}, {"q": "sensor"}, {"o": "3"}, {"_facets": ""}],
)
def test_device_changelist_never_counts_the_whole_table(admin_client, params):
    DeviceFactory.create_batch(60, dms_owner="dms-a")

    queries = device_table_queries(admin_client, params)

    assert unbounded_scans(queries) == []
    assert any(re.search(r"COUNT\(.*LIMIT 10001", sql, re.S) for sql in queries), queries


def test_device_changelist_costs_the_same_queries_for_3_or_120_devices(admin_client):
    DeviceFactory.create_batch(3)
    few = len(device_table_queries(admin_client))
    DeviceFactory.create_batch(117)

    assert len(device_table_queries(admin_client)) == few
    with CaptureQueriesContext(connection) as captured:
        admin_client.get(DEVICE_CHANGELIST)
    assert len(captured.captured_queries) <= 8  # session, user, DMS owners, groups, count, page (+ savepoints)


def test_device_changelist_beyond_the_cap_says_more_than(admin_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    monkeypatch.setattr(DeviceAdmin, "list_per_page", 2)
    DeviceFactory.create_batch(8, alias="Boiler")

    content = admin_client.get(DEVICE_CHANGELIST).content.decode()
    assert "More than 5 devices" in content
    assert "Select all matching devices" in content
    assert "Select all 6" not in content
    assert "More than 5 results" in admin_client.get(DEVICE_CHANGELIST, {"q": "boiler"}).content.decode()
    assert len(admin_client.get(DEVICE_CHANGELIST, {"p": "3"}).context["cl"].result_list) == 2


def test_device_changelist_below_the_cap_shows_the_exact_count(admin_client):
    DeviceFactory.create_batch(3)

    content = admin_client.get(DEVICE_CHANGELIST).content.decode()

    assert "3 devices" in content
    assert "More than" not in content


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("1", ["id"]),
        ("-1", ["-id"]),
        ("2", ["alias", "id"]),
        ("-2", ["-alias", "-id"]),
        ("3", ["status", "creation_timestamp", "id"]),
        ("-3", ["-status", "-creation_timestamp", "-id"]),
        ("4", ["dms_owner", "creation_timestamp", "id"]),
        ("-4", ["-dms_owner", "-creation_timestamp", "-id"]),
        ("6", ["creation_timestamp", "id"]),
        ("-6", ["-creation_timestamp", "-id"]),
        (None, ["-creation_timestamp", "-id"]),
    ],
)
def test_device_changelist_sorts_in_the_order_of_an_index(admin_client, column, expected):
    """Ties are broken by the index's next columns in the same direction, so one index scan reads the page."""
    response = admin_client.get(DEVICE_CHANGELIST, {"o": column} if column else {})

    assert list(response.context["cl"].queryset.query.order_by) == expected


def test_device_changelist_sorted_by_status_breaks_ties_by_creation(admin_client):
    for index in range(3):
        DeviceFactory(id=f"z-{index}")
        DeviceFactory(id=f"a-{index}")

    ids = [device.id for device in admin_client.get(DEVICE_CHANGELIST, {"o": "3"}).context["cl"].result_list]

    assert ids == ["z-0", "a-0", "z-1", "a-1", "z-2", "a-2"]


def test_device_changelist_sort_on_two_columns_is_kept(admin_client):
    response = admin_client.get(DEVICE_CHANGELIST, {"o": "3.2"})

    assert list(response.context["cl"].queryset.query.order_by)[:2] == ["status", "alias"]


def test_dms_owner_filter_offers_each_owner_once_in_order(admin_client):
    for owner in ["dms-b", "dms-a", "dms-b", "", "dms-c"]:
        DeviceFactory(dms_owner=owner)

    response = admin_client.get(DEVICE_CHANGELIST)

    spec = next(spec for spec in response.context["cl"].filter_specs if isinstance(spec, DmsOwnerListFilter))
    assert spec.lookup_choices == [("", "(none)"), ("dms-a", "dms-a"), ("dms-b", "dms-b"), ("dms-c", "dms-c")]


def test_dms_owner_filter_selects_devices_without_owner(admin_client):
    DeviceFactory(id="owned", dms_owner="dms-a")
    DeviceFactory(id="orphan", dms_owner="")

    response = admin_client.get(f"{DEVICE_CHANGELIST}?dms_owner=")

    assert [device.id for device in response.context["cl"].result_list] == ["orphan"]


def test_dms_owner_filter_keeps_a_selected_owner_beyond_the_choices(admin_client, monkeypatch):
    monkeypatch.setattr(DmsOwnerListFilter, "max_choices", 1)
    DeviceFactory(id="first", dms_owner="dms-a")
    DeviceFactory(id="second", dms_owner="dms-z")

    response = admin_client.get(DEVICE_CHANGELIST, {"dms_owner": "dms-z"})

    assert [device.id for device in response.context["cl"].result_list] == ["second"]
    assert "dms-z" in response.content.decode()
