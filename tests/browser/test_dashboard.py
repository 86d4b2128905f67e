"""The fleet dashboard in a real browser: its numbers are the API's, each link lands on a list of that many
devices or events, and the group tree shows member counts."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from devices import services
from tests.conftest import API
from tests.factories import DeviceFactory, DeviceGroupFactory


@pytest.fixture
def fleet(transactional_db):
    for index in range(4):
        DeviceFactory(id=f"sensor-{index}", tags=["production", "sensor"], dms_owner="dms-a")
    DeviceFactory(id="gateway", tags=["production", "gateway"], dms_owner="dms-b")
    DeviceFactory(id="lab", tags=["lab"], dms_owner="")
    for device_id, days in (("sensor-0", 5), ("sensor-1", 20), ("gateway", 45)):
        services.device_set_identity_slot(
            device_id=device_id, source="test", status="ACTIVE", active_version=1, type="X509",
            expiration_date=timezone.now() + timedelta(days=days),
        )  # fmt: skip
    services.device_decommission(device_id="lab", source="test")
    production = DeviceGroupFactory(name="Production", criteria=[{"field": "tags", "operand": "contains",
                                                                   "value": "production"}])  # fmt: skip
    DeviceGroupFactory(name="Sensors", parent=production, criteria=[{"field": "tags", "operand": "contains",
                                                                     "value": "sensor"}])  # fmt: skip


def figure_links(page, selector: str) -> list[tuple[int, str]]:
    links = page.locator(selector)
    return [(int(link.get_attribute("data-count")), link.get_attribute("href")) for link in links.all()]


def listed_count(page) -> int:
    """The count the device or event list says under its table ("7 devices", "1 event")."""
    text = page.locator("p.paginator").inner_text().split("\n")[-1].strip()
    return int(text.split()[0])


def test_dashboard_numbers_equal_the_apis_stats(admin_page, fleet):
    page = admin_page
    stats = page.request.get(f"{API}/stats").json()  # as the logged-in operator (the API's session auth)

    page.goto("/admin/")

    total = page.locator('#status-distribution [data-figure="total"]')
    expect(total).to_have_text(f"{stats['total']:,}")
    for status, count in stats["status_distribution"].items():
        bar = page.locator(f'#status-distribution a[data-figure="status:{status}"]')
        expect(bar.locator("text.value")).to_have_text(f"{count:,}")  # written in the chart: no script needed


def test_following_each_number_lands_on_a_list_of_that_count(admin_page, fleet):
    page = admin_page
    page.goto("/admin/")
    selectors = ["#status-distribution a[data-figure]", "#identity-expiry a[data-figure]",
                 "#events-per-day td a[data-figure]", "#largest-groups a[data-figure]"]  # fmt: skip
    links = [link for selector in selectors for link in figure_links(page, selector)]
    assert len(links) > 15
    for count, href in links:
        page.goto(href)
        assert listed_count(page) == count, href


def test_clicking_a_bar_of_the_chart_opens_its_devices(admin_page, fleet):
    page = admin_page
    page.goto("/admin/")

    page.locator('#status-distribution a[data-figure="status:ACTIVE"] rect').click()

    expect(page).to_have_url("/admin/devices/device/?status__exact=ACTIVE")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)


def test_group_tree_shows_member_counts(admin_page, fleet):
    page = admin_page
    page.goto("/admin/groups/devicegroup/")
    page.get_by_role("link", name="Expand tree").click()

    rows = page.locator("#result_list tbody tr")
    counts = {
        row.locator(".field-indented_title").inner_text().strip(): row.locator(".member-count").inner_text()
        for row in rows.all()
    }
    assert counts == {"Production": "5", "Sensors": "4"}

    rows.filter(has_text="Sensors").locator("a.member-count").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
