"""A device's page in a real browser: long ids keep the list's columns in view, the newest events lead to the whole
history, and the buttons (decommission, renew the identity slot, delete) act through their confirmations."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from tests.admin_pages import device_change_url
from tests.factories import DeviceFactory

LONG_ID = "sensor-" + "0123456789" * 24 + "-end"  # 255 characters, the most an id may have, with no space
LONG_ALIAS = "Warehouse-" + "temperature" * 22 + "!"  # 253


@pytest.fixture
def devices(transactional_db):
    """A device with the longest id and alias, one with an active identity slot and 30 updates, one decommissioned."""
    DeviceFactory(id=LONG_ID, alias=LONG_ALIAS, dms_owner="dms-" + "x" * 200, tags=["t" * 128, "sensor"])
    DeviceFactory(id="busy-1", alias="Busy sensor")
    services.device_set_identity_slot(
        device_id="busy-1", source="test", status="ABOUT_TO_EXPIRE", active_version=1, type="X509",
        expiration_date=timezone.now() + timedelta(days=3),
    )  # fmt: skip
    for number in range(30):
        services.device_update(device_id="busy-1", source="test", fields={"alias": f"Busy sensor {number}"})
    DeviceFactory(id="retired-1")
    services.device_decommission(device_id="retired-1", source="test")


def within_viewport(page, locator) -> bool:
    box, width = locator.bounding_box(), page.viewport_size["width"]
    return box is not None and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= width


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_long_id_and_alias_keep_every_column_of_the_device_list_in_view(admin_page, devices):
    page = admin_page
    page.goto("/admin/devices/device/")

    headers = page.locator("#result_list thead th")
    expect(headers).to_have_count(7)  # the checkbox and six columns
    for index in range(7):
        assert within_viewport(page, headers.nth(index)), headers.nth(index).inner_text()
    row = page.locator("#result_list tbody tr").filter(has=page.locator(f'[title="{LONG_ID}"]'))
    assert within_viewport(page, row.locator("td.field-creation_timestamp"))
    expect(row.locator("th.field-id .long-value")).to_have_attribute("title", LONG_ID)
    expect(row.locator("td.field-alias .long-value")).to_have_attribute("title", LONG_ALIAS)
    assert no_horizontal_scroll(page)

    row.get_by_role("link").click()  # the cut-short id still leads to the device
    expect(page.locator("#content > h2")).to_have_text(LONG_ID)
    assert no_horizontal_scroll(page)


def test_device_page_shows_the_newest_20_events_and_links_to_the_whole_history(admin_page, devices):
    page = admin_page
    page.goto(device_change_url("busy-1"))

    events = page.locator("#events-group tbody tr.has_original")
    expect(events).to_have_count(20)
    expect(events.first).to_contain_text("Updated: alias")
    page.get_by_role("link", name="The device's full history").click()

    expect(page.locator("h1")).to_have_text("History of device busy-1")
    expect(page.locator("#result_list tbody tr")).to_have_count(33)  # CREATED, PROVISIONED, STATUS-UPDATED, 30 updates
    expect(page.locator("#result_list tbody tr").last).to_contain_text("Device created")
    page.locator(".breadcrumbs").get_by_role("link", name="busy-1").click()
    expect(page.locator("#content > h2")).to_have_text("busy-1")


def test_decommission_button_asks_then_decommissions(admin_page, devices):
    page = admin_page
    page.goto(device_change_url("busy-1"))
    page.locator(".object-tools").get_by_role("link", name="Decommission").click()

    expect(page.locator(".device-action-explanation")).to_contain_text("Decommissioning is final")
    assert Device.objects.get(pk="busy-1").status == DeviceStatus.ABOUT_TO_EXPIRE
    page.get_by_role("button", name="Yes, decommission").click()

    expect(page.locator(".messagelist")).to_contain_text("Device 'busy-1' was decommissioned.")
    expect(page.locator(".field-status .readonly")).to_have_text("Decommissioned")
    expect(page.locator(".object-tools")).not_to_contain_text("Decommission")
    device = Device.objects.get(pk="busy-1")
    assert (device.status, device.identity["status"]) == (DeviceStatus.DECOMMISSIONED, "REVOKED")
    latest = DeviceEvent.objects.filter(device_id="busy-1").order_by("-timestamp").first()
    assert (latest.type, latest.source) == (EventType.DECOMMISSIONED, "operator")


def test_renew_button_renews_the_identity_slot(admin_page, devices):
    page = admin_page
    page.goto(device_change_url("busy-1"))
    page.locator(".object-tools").get_by_role("link", name="Renew identity slot").click()

    expect(page.locator(".device-action-explanation")).to_contain_text("makes version 2 the active version")
    page.get_by_label("New expiration date:").fill("2099-06-30 12:00")
    page.get_by_role("button", name="Yes, renew identity slot").click()

    expect(page.locator(".messagelist")).to_contain_text("The identity slot of device 'busy-1' was renewed.")
    expect(page.locator(".field-status .readonly")).to_have_text("Active")
    device = Device.objects.get(pk="busy-1")
    assert (device.identity["active_version"], device.identity["expiration_date"]) == (2, "2099-06-30T12:00:00.000000Z")
    latest = list(DeviceEvent.objects.filter(device_id="busy-1").order_by("-timestamp")[:2])
    assert [(event.type, event.source) for event in latest] == [
        (EventType.STATUS_UPDATED, "operator"),
        (EventType.RENEWED, "operator"),
    ]


def test_renewal_refused_when_the_device_was_decommissioned_meanwhile(admin_page, devices):
    page = admin_page
    page.goto(reverse("admin:devices_device_renew_slot", args=["busy-1"]))
    expect(page.get_by_role("button", name="Yes, renew identity slot")).to_be_visible()
    services.device_decommission(device_id="busy-1", source="night-shift")  # another operator, meanwhile
    page.get_by_role("button", name="Yes, renew identity slot").click()

    expect(page.locator(".messagelist .error")).to_contain_text("Renew identity slot: nothing was done.")
    assert Device.objects.get(pk="busy-1").identity["active_version"] == 1


def test_delete_button_deletes_a_decommissioned_device(admin_page, devices):
    page = admin_page
    page.goto(device_change_url("retired-1"))
    page.locator(".object-tools").get_by_role("link", name="Delete").click()

    expect(page.locator("#content")).to_contain_text("Device events: 2")
    page.get_by_role("button", name=re.compile(r"^Yes, I.m sure")).click()

    expect(page.locator(".messagelist")).to_contain_text("was deleted successfully")
    assert not Device.objects.filter(pk="retired-1").exists()
    assert not DeviceEvent.objects.filter(device_id="retired-1").exists()


def test_delete_button_of_a_device_in_service_says_why_not(admin_page, devices):
    page = admin_page
    page.goto(device_change_url("busy-1"))
    page.locator(".object-tools").get_by_role("link", name="Delete").click()

    expect(page.locator(".messagelist .error")).to_contain_text(
        "Not deleted: Device 'busy-1' is ABOUT_TO_EXPIRE; decommission it first"
    )
    expect(page.locator("#content > h2")).to_have_text("busy-1")
    assert Device.objects.filter(pk="busy-1").exists()
