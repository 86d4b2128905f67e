"""Group member counts, stored (groups/counting.py): the tree shows them, a group's page shows its stats as the API
does, and a count goes stale when it ages or when the group or an ancestor changes."""

import io
import sqlite3
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.urls import reverse

from devices.models import Device
from devmanager.db import TimedOut, count_within
from groups import services
from groups.counting import attach_member_counts, count_all_members
from groups.models import DeviceGroup, GroupMemberCount
from tests.conftest import API
from tests.factories import DeviceFactory, DeviceGroupFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:groups_devicegroup_changelist")


def contains(value):
    return [{"field": "tags", "operand": "contains", "value": value}]


@pytest.fixture
def tree():
    for index in range(3):
        DeviceFactory(id=f"sensor-{index}", tags=["production", "sensor"])
    DeviceFactory(id="gateway", tags=["production", "gateway"])
    DeviceFactory(id="lab", tags=["lab", "sensor"])
    production = DeviceGroupFactory(name="Production", criteria=contains("production"))
    sensors = DeviceGroupFactory(name="Sensors", parent=production, criteria=contains("sensor"))
    return production, sensors


def shown_counts(response) -> dict:
    return {group.name: group.member_count.devices for group in response.context["cl"].result_list}


def test_tree_shows_each_groups_member_count(admin_client, tree):
    response = admin_client.get(CHANGELIST)

    assert shown_counts(response) == {"Production": 4, "Sensors": 3}
    html = response.content.decode()
    assert f'href="{reverse("admin:devices_device_changelist")}?group={tree[1].pk}"' in html


def test_tree_reads_stored_counts_without_recounting_fresh_ones(admin_client, tree, django_assert_num_queries):
    admin_client.get(CHANGELIST)
    DeviceFactory(id="sensor-new", tags=["production", "sensor"])

    response = admin_client.get(CHANGELIST)

    assert shown_counts(response) == {"Production": 4, "Sensors": 3}  # as counted: fresh for the max age


def test_a_count_older_than_the_max_age_is_recounted(admin_client, tree):
    admin_client.get(CHANGELIST)
    DeviceFactory(id="sensor-new", tags=["production", "sensor"])
    GroupMemberCount.objects.update(
        counted_at=GroupMemberCount.objects.get(group=tree[0]).counted_at - timedelta(hours=1)
    )

    assert shown_counts(admin_client.get(CHANGELIST)) == {"Production": 5, "Sensors": 4}


def test_a_change_of_an_ancestor_makes_the_count_stale(admin_client, tree):
    production, _ = tree
    admin_client.get(CHANGELIST)

    services.group_update(group_id=production.pk, criteria=contains("sensor"))

    counts = shown_counts(admin_client.get(CHANGELIST))
    assert counts == {"Production": 4, "Sensors": 4}  # the sensors now: 3 production ones and the lab's


def test_stale_counts_beyond_the_budget_are_marked(tree, settings):
    settings.DEVMANAGER_GROUP_COUNT_BUDGET = 0
    groups = list(DeviceGroup.objects.all())

    attach_member_counts(groups)

    assert [(group.member_count, group.member_count_stale) for group in groups] == [(None, True), (None, True)]
    count_all_members()
    services.group_update(group_id=tree[1].pk, description="changed")
    groups = list(DeviceGroup.objects.order_by("name"))
    attach_member_counts(groups)
    assert [(group.name, group.member_count.devices, group.member_count_stale) for group in groups] == [
        ("Production", 4, False), ("Sensors", 3, True)
    ]  # fmt: skip


def test_tree_page_marks_uncounted_groups(admin_client, tree, settings):
    settings.DEVMANAGER_GROUP_COUNT_BUDGET = 0

    html = admin_client.get(CHANGELIST).content.decode()

    assert 'title="not counted yet"' in html


def test_count_group_members_counts_the_stale_groups(tree):
    out = io.StringIO()

    call_command("count_group_members", stdout=out)
    call_command("count_group_members", stdout=out)
    call_command("count_group_members", "--all", stdout=out)

    assert out.getvalue().splitlines() == ["2 group(s) counted", "0 group(s) counted", "2 group(s) counted"]
    assert dict(GroupMemberCount.objects.values_list("group__name", "devices")) == {"Production": 4, "Sensors": 3}


def test_group_page_shows_the_apis_group_stats(admin_client, api_client, tree):
    sensors = tree[1]
    stats = api_client.get(f"{API}/device-groups/{sensors.pk}/stats").json()

    response = admin_client.get(reverse("admin:groups_devicegroup_change", args=[sensors.pk]))

    html = response.content.decode()
    assert f"{stats['total']} device(s)" in html
    for status, count in stats["status_distribution"].items():
        assert f"status__exact={status}" in html
        assert f">{count:,}</a></td></tr>" in html.split(f"<tr><td>{status}</td>")[1].split("</tr>")[0] + "</tr>"
    assert GroupMemberCount.objects.get(group=sensors).devices == stats["total"] == 3


def test_deleting_a_group_deletes_its_count(admin_client, tree):
    admin_client.get(CHANGELIST)

    services.group_delete(group_id=tree[1].pk)

    assert list(GroupMemberCount.objects.values_list("group__name", flat=True)) == ["Production"]


# --- The budget bounds a count in hand too: the database stops it at the deadline -----------------------------------


def slow_devices():
    """Every device, each taking 2.5 ms to look at (PostgreSQL's pg_sleep; a Python function on SQLite)."""
    if connection.vendor == "postgresql":
        return Device.objects.filter(RawSQL("pg_sleep(0.0025) IS NOT NULL", [], output_field=BooleanField()))
    connection.ensure_connection()
    connection.connection.create_function("slow", 0, lambda: time.sleep(0.0025) or 1)
    return Device.objects.filter(RawSQL("slow() = 1", [], output_field=BooleanField()))


@pytest.fixture
def many_devices():
    DeviceFactory.create_batch(400)  # a second to count slowly


def test_a_count_is_stopped_at_its_deadline(many_devices):
    started = time.monotonic()

    with pytest.raises(TimedOut):
        count_within(slow_devices(), 0.2)

    assert time.monotonic() - started < 0.6
    assert count_within(Device.objects.all(), 0.2) == 400  # the connection is usable
    assert slow_devices().count() == 400  # and a second's query after it is not cut short (the test's transaction)


def test_a_slow_group_leaves_the_page_within_its_budget_and_stays_stale(many_devices, settings, monkeypatch):
    settings.DEVMANAGER_GROUP_COUNT_BUDGET = 0.2
    slow, fast = DeviceGroupFactory(name="Slow"), DeviceGroupFactory(name="Fast")
    monkeypatch.setattr(
        "groups.counting.member_devices", lambda group: slow_devices() if group == slow else Device.objects.all()
    )
    groups = [slow, fast]  # both never counted: the slow one comes first
    started = time.monotonic()

    attach_member_counts(groups)

    assert time.monotonic() - started < 0.6
    assert [(group.member_count, group.member_count_stale) for group in groups] == [(None, True), (None, True)]
    assert not GroupMemberCount.objects.exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's transactions take its write lock at their start")
@pytest.mark.django_db(transaction=True)  # a page's count runs outside any transaction
def test_a_count_on_sqlite_neither_waits_for_a_writer_nor_holds_one_up():
    DeviceFactory.create_batch(3)
    writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # a write in progress, for as long as the count takes
    try:
        started = time.monotonic()
        assert count_within(Device.objects.all(), 0.2) == 3
        assert time.monotonic() - started < 0.5  # a transaction of its own would wait for the writer's lock
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_tree_page_with_a_slow_group_answers_within_its_budget(admin_client, many_devices, settings, monkeypatch):
    settings.DEVMANAGER_GROUP_COUNT_BUDGET = 0.2
    slow = DeviceGroupFactory(name="Slow")
    monkeypatch.setattr("groups.counting.member_devices", lambda group: slow_devices())
    admin_client.get(CHANGELIST, {"q": "no such group"})  # the session's first request of a minute writes its use
    started = time.monotonic()

    html = admin_client.get(CHANGELIST).content.decode()

    assert time.monotonic() - started < 0.8  # counting the slow group alone takes a second
    assert 'title="not counted yet"' in html and slow.name in html
    assert not GroupMemberCount.objects.exists()
