"""The fleet dashboard (the admin's index): each number equals the API's or the feed's, and its link lists exactly
the devices or events it counts."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from console.eventcounts import keep_events_tallied
from console.models import EventDayCount, EventTally
from devices import services
from devmanager.worker import WORK
from events.models import Event, FeedCounter
from events.pruning import prune_events
from groups.counting import count_all_members
from tests.conftest import API
from tests.factories import DeviceFactory, DeviceGroupFactory

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")


def expiring(device_id: str, days: float, dms: str = "dms-a", status: str = "ACTIVE"):
    DeviceFactory(id=device_id, dms_owner=dms)
    expires = timezone.now() + timedelta(days=days)
    services.device_set_identity_slot(
        device_id=device_id, source="test", status=status, active_version=1, type="X509", expiration_date=expires
    )


@pytest.fixture
def fleet():
    for index in range(3):
        DeviceFactory(id=f"plain-{index}", dms_owner="", tags=["lab"])
    expiring("a-3d", 3)
    expiring("a-20d", 20)
    expiring("a-60d", 60)
    expiring("a-200d", 200)
    expiring("b-5d", 5, dms="dms-b", status="ABOUT_TO_EXPIRE")
    expiring("b-revoked", 2, dms="dms-b", status="REVOKED")  # a revoked identity no longer expires
    expiring("none-10d", 10, dms="")
    services.device_decommission(device_id="a-200d", source="test")


def figures(response) -> dict:
    return response.context["dashboard"]


def listed_count(admin_client, url: str) -> int:
    response = admin_client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count


def test_dashboard_is_the_admins_index_with_the_app_list(admin_client, fleet):
    response = admin_client.get(INDEX)

    assert response.status_code == 200
    assert "console/dashboard.html" in [template.name for template in response.templates]
    html = response.content.decode()
    assert 'id="status-distribution"' in html and "<svg" in html
    assert reverse("admin:devices_device_changelist") in html  # the app list is still there


def test_status_counts_equal_the_apis_stats(admin_client, api_client, fleet):
    stats = api_client.get(f"{API}/stats").json()

    dashboard = figures(admin_client.get(INDEX))

    assert dashboard.total == stats["total"] == 10
    assert {bar.label: bar.value for bar in dashboard.status_chart.bars} == stats["status_distribution"]


def test_each_status_links_to_a_list_of_that_many_devices(admin_client, fleet):
    for bar in figures(admin_client.get(INDEX)).status_chart.bars:
        assert listed_count(admin_client, bar.url) == bar.value, bar.label


def test_expiry_counts_per_dms_and_window(admin_client, fleet):
    dashboard = figures(admin_client.get(INDEX))

    rows = {row.dms: [count.count for count in row.counts] for row in dashboard.expiry_rows}
    assert rows == {"dms-a": [1, 2, 3], "dms-b": [1, 1, 1], "": [0, 1, 1]}
    assert [count.count for count in dashboard.expiry_totals] == [2, 4, 5]


def test_each_expiry_count_links_to_a_list_of_that_many_devices(admin_client, fleet):
    dashboard = figures(admin_client.get(INDEX))

    links = [link for row in dashboard.expiry_rows for link in row.counts] + dashboard.expiry_totals
    for count in links:
        assert listed_count(admin_client, count.url) == count.count, count.figure


def test_expiry_link_counts_from_the_instant_it_carries(admin_client, fleet):
    expiring("a-6.5d", 6.5)
    devices = reverse("admin:devices_device_changelist")
    day_ago = (timezone.now() - timedelta(days=1)).isoformat()

    anchored = listed_count(admin_client, f"{devices}?{urlencode({'expires_within': 7, 'expires_from': day_ago})}")

    assert anchored == 2  # a-3d and b-5d; a-6.5d is beyond a day ago's 7 days
    assert listed_count(admin_client, f"{devices}?expires_within=7") == 3


def test_expiry_filter_refuses_an_unknown_window_or_instant(admin_client, fleet):
    devices = reverse("admin:devices_device_changelist")

    assert listed_count(admin_client, f"{devices}?expires_within=8") == 0
    assert listed_count(admin_client, f"{devices}?expires_within=7&expires_from=2026-13-01T00:00:00") == 0
    assert listed_count(admin_client, f"{devices}?expires_within=90") == 5


def test_events_per_day_equal_the_feeds_and_link_to_as_many(admin_client, fleet):
    dashboard = figures(admin_client.get(INDEX))

    today = timezone.now().date().isoformat()
    shown = {bar.label: bar.value for bar in dashboard.event_chart.bars}
    expected = {}
    for event_type in Event.objects.values_list("type", flat=True):
        expected[f"{today} {event_type}"] = expected.get(f"{today} {event_type}", 0) + 1
    assert shown == expected
    for bar in dashboard.event_chart.bars:
        assert listed_count(admin_client, bar.url) == bar.value, bar.label


def test_events_are_counted_once_across_loads(admin_client, fleet):
    admin_client.get(INDEX)
    DeviceFactory(id="later")
    admin_client.get(INDEX)

    dashboard = figures(admin_client.get(INDEX))

    created = next(bar for bar in dashboard.event_chart.bars if bar.label.endswith("device.created"))
    assert created.value == Event.objects.filter(type="device.created").count() == 11


class OneRound:
    """A worker's `stopping` event that lets its loop go round once."""

    def __init__(self):
        self.waits = 0

    def wait(self, timeout=None):
        self.waits += 1
        return self.waits > 1


def test_the_worker_counts_the_events_before_a_page_load_does(fleet):
    assert [work.threads() for work in WORK if work.loop is keep_events_tallied] == [1]  # one thread in each worker

    keep_events_tallied(OneRound())

    tally = EventTally.objects.get()
    assert tally.position == FeedCounter.objects.get().position
    counted = EventDayCount.objects.aggregate(total=Sum("events"))["total"]
    assert counted == Event.objects.count() > 0


def test_pruned_events_leave_the_counts(admin_client, fleet):
    admin_client.get(INDEX)
    old = timezone.now() - timedelta(days=3)
    Event.objects.filter(subject__startswith="plain-").update(time=old)
    EventDayCount.objects.all().delete()  # counted again from the start, with the old days
    EventTally.objects.update(position=0)
    assert sum(bar.value for bar in figures(admin_client.get(INDEX)).event_chart.bars) == Event.objects.count()

    prune_events(old + timedelta(seconds=1))

    dashboard = figures(admin_client.get(INDEX))
    assert sum(bar.value for bar in dashboard.event_chart.bars) == Event.objects.count()
    assert not any(bar.label.startswith(old.date().isoformat()) for bar in dashboard.event_chart.bars)


def test_largest_groups_with_their_counts_and_links(admin_client, fleet):
    lab = DeviceGroupFactory(name="Lab", criteria=[{"field": "tags", "operand": "contains", "value": "lab"}])
    everything = DeviceGroupFactory(name="Everything")
    DeviceGroupFactory(name="Nothing", parent=lab, criteria=[{"field": "dms_owner", "operand": "eq", "value": "x"}])

    dashboard = figures(admin_client.get(INDEX))

    assert [(bar.label, bar.value) for bar in dashboard.groups_chart.bars] == [
        ("Everything", 10), ("Lab", 3), ("Nothing", 0)
    ]  # fmt: skip
    for bar in dashboard.groups_chart.bars:
        assert listed_count(admin_client, bar.url) == bar.value, bar.label
    assert str(everything.pk) in dashboard.groups_chart.bars[0].figure


def test_largest_groups_read_stored_counts_beyond_the_budget(admin_client, fleet, settings):
    DeviceGroupFactory(name="Lab", criteria=[{"field": "tags", "operand": "contains", "value": "lab"}])
    settings.DEVMANAGER_GROUP_COUNT_BUDGET = 0
    assert figures(admin_client.get(INDEX)).groups_chart.bars == []  # never counted: not shown

    count_all_members()
    DeviceFactory(id="plain-more", tags=["lab"])

    bars = figures(admin_client.get(INDEX)).groups_chart.bars
    assert [(bar.label, bar.value) for bar in bars] == [("Lab", 3)]  # as counted, until the count is stale


def test_dashboard_costs_a_fixed_number_of_queries(admin_client, fleet, django_assert_max_num_queries):
    count_all_members()
    admin_client.get(INDEX)
    for index in range(5):
        DeviceGroupFactory(name=f"g{index}")
    count_all_members()
    DeviceFactory(id="one-more")

    with django_assert_max_num_queries(30):
        assert admin_client.get(INDEX).status_code == 200


def test_staff_without_device_permission_see_no_figures(client, fleet):
    user = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(user)

    response = client.get(INDEX)

    assert response.status_code == 200
    assert response.context["dashboard"] is None
    assert b"status-distribution" not in response.content


def test_dashboard_needs_a_staff_login(client):
    response = client.get(INDEX)

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
