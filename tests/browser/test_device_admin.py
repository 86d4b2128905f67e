"""An operator's day with the device admin, in a real browser: log in, create, find, edit, decommission (a job)."""

import json
import re

import pytest
from playwright.sync_api import expect

from devices import services
from devices.models import Device
from tests.factories import DeviceFactory
from tests.fleet.helpers import run_jobs

from .conftest import PASSWORD, add_form_ready


def device_rows(page):
    return page.locator("#result_list tbody tr")


def listed_ids(page) -> list[str]:
    return device_rows(page).locator("th.field-id").all_inner_texts()


def row_of(page, device_id: str):
    return device_rows(page).filter(has=page.get_by_role("link", name=device_id, exact=True))


@pytest.fixture
def fleet(transactional_db):
    """Three devices of which one is active."""
    DeviceFactory(id="boiler-1", alias="Boiler room thermometer", tags=["heat"], dms_owner="dms-a")
    DeviceFactory(id="cold-store-7", alias="Cold store probe", tags=["cold"], dms_owner="dms-b")
    DeviceFactory(id="gate-3", alias="Gate camera", tags=["camera"], dms_owner="dms-b")
    services.device_set_identity_slot(
        device_id="cold-store-7", source="test", status="ACTIVE", active_version=1, type="X509"
    )


def test_login_form_leads_to_the_device_list(page, staff_user):
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))

    page.get_by_label("Username:").fill("operator")
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.locator("#devices-device").get_by_role("link", name="Devices").click()
    expect(page.get_by_role("heading", name="Select device to change")).to_be_visible()


def test_login_with_a_wrong_password_is_refused(page, staff_user):
    page.goto("/admin/login/")
    page.get_by_label("Username:").fill("operator")
    page.get_by_label("Password:").fill("not the password")
    page.get_by_role("button", name="Log in").click()

    expect(page.locator(".errornote")).to_contain_text("Please enter the correct username and password")
    expect(page).to_have_url(re.compile(r"/admin/login/"))


def test_create_device_through_the_add_form(admin_page):
    page = admin_page
    page.goto("/admin/devices/device/")
    page.get_by_role("link", name="Add device").click()
    add_form_ready(page)

    page.get_by_label("Id:", exact=True).fill("warehouse-sensor-1")
    page.get_by_label("Alias:").fill("Warehouse temperature sensor")
    page.get_by_label("Tags:").fill("sensor, temperature")
    page.get_by_label("Dms owner:").fill("dms-production")
    page.get_by_label("Icon color:").fill("#FF5733")
    page.get_by_label("Metadata:").fill('{"location": "warehouse-a"}')
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    row = row_of(page, "warehouse-sensor-1")
    expect(row.locator("td.field-alias")).to_have_text("Warehouse temperature sensor")
    expect(row.locator("td.field-status")).to_have_text("No Identity")
    expect(row.locator("td.field-tag_list")).to_have_text("sensor, temperature")
    device = Device.objects.get(pk="warehouse-sensor-1")
    assert (device.tags, device.metadata) == (["sensor", "temperature"], {"location": "warehouse-a"})


def test_create_device_with_a_taken_id_shows_the_error(admin_page, fleet):
    page = admin_page
    page.goto("/admin/devices/device/add/")
    add_form_ready(page)
    page.get_by_label("Id:", exact=True).fill("boiler-1")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".errorlist")).to_contain_text("A device with this id already exists.")


def test_search_by_id_and_by_part_of_the_alias(admin_page, fleet):
    page = admin_page
    page.goto("/admin/devices/device/")
    expect(device_rows(page)).to_have_count(3)

    search = page.locator("#searchbar")
    search.fill("cold-store-7")
    search.press("Enter")
    expect(device_rows(page)).to_have_count(1)
    assert listed_ids(page) == ["cold-store-7"]
    expect(page.locator("#changelist-search")).to_contain_text("1 result")

    search = page.locator("#searchbar")
    search.fill("boiler ROOM")
    page.get_by_role("button", name="Search").click()
    expect(device_rows(page)).to_have_count(1)
    assert listed_ids(page) == ["boiler-1"]

    search = page.locator("#searchbar")
    search.fill("no-such-device")
    search.press("Enter")
    expect(device_rows(page)).to_have_count(0)
    expect(page.locator("#changelist-search")).to_contain_text("0 results")


def test_status_filter_and_dms_filter(admin_page, fleet):
    page = admin_page
    page.goto("/admin/devices/device/")
    filters = page.locator("#changelist-filter")

    filters.get_by_role("link", name="Active", exact=True).click()
    expect(device_rows(page)).to_have_count(1)
    assert listed_ids(page) == ["cold-store-7"]
    expect(page.locator("#changelist-filter-extra-actions")).to_contain_text("Clear all filters")

    page.locator("#changelist-filter-extra-actions").get_by_role("link", name="Clear all filters").click()
    expect(device_rows(page)).to_have_count(3)
    page.locator("#changelist-filter").get_by_role("link", name="dms-b", exact=True).click()
    expect(device_rows(page)).to_have_count(2)
    assert sorted(listed_ids(page)) == ["cold-store-7", "gate-3"]


def test_search_combines_with_the_status_filter(admin_page, fleet):
    page = admin_page
    page.goto("/admin/devices/device/?status__exact=NO_IDENTITY")
    search = page.locator("#searchbar")
    search.fill("e")  # in every alias
    search.press("Enter")

    expect(device_rows(page)).to_have_count(2)
    assert sorted(listed_ids(page)) == ["boiler-1", "gate-3"]


def metadata_box(page):
    return page.get_by_label("Metadata:")


def test_edit_metadata_on_the_device_page(admin_page, fleet):
    page = admin_page
    page.goto("/admin/devices/device/")
    page.get_by_role("link", name="gate-3", exact=True).click()
    expect(page.get_by_role("heading", name="gate-3")).to_be_visible()
    assert json.loads(metadata_box(page).input_value()) == {"location": "warehouse-a"}

    metadata_box(page).fill('{"location": "north gate", "floor": 0, "tags": ["outdoor"]}')
    page.get_by_role("button", name="Save and continue editing").click()

    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert json.loads(metadata_box(page).input_value()) == {"location": "north gate", "floor": 0, "tags": ["outdoor"]}
    history = page.locator("#events-group")
    expect(history).to_contain_text("METADATA-UPDATED")
    expect(history).to_contain_text("operator")


def test_invalid_metadata_json_shows_a_clear_error_and_keeps_the_stored_one(admin_page, fleet):
    page = admin_page
    page.goto("/admin/devices/device/gate-3/change/")
    metadata_box(page).fill('{"location": "north gate",}')
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".errornote")).to_contain_text("Please correct the error below.")
    error = page.locator(".field-metadata_json .errorlist")
    expect(error).to_contain_text("Invalid JSON")
    expect(metadata_box(page)).to_have_value('{"location": "north gate",}')  # the text is kept for fixing
    assert Device.objects.get(pk="gate-3").metadata == {"location": "warehouse-a"}

    metadata_box(page).fill('["not", "an", "object"]')
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".field-metadata_json .errorlist")).to_be_visible()
    assert Device.objects.get(pk="gate-3").metadata == {"location": "warehouse-a"}


def test_decommission_with_the_admin_action(admin_page, fleet):
    """The action asks for confirmation with the count, starts a job, and the job's page shows its progress as the
    worker runs it, without a reload."""
    page = admin_page
    page.goto("/admin/devices/device/")
    row_of(page, "cold-store-7").get_by_role("checkbox").check()
    row_of(page, "gate-3").get_by_role("checkbox").check()
    expect(page.locator(".action-counter")).to_have_text("2 of 3 selected")

    page.locator("select[name=action]").select_option(label="Decommission (a job over the selected devices)")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".fleet-count")).to_contain_text("will act on 2 devices")
    page.get_by_role("button", name="Decommission: start the job").click()

    expect(page.locator(".messagelist")).to_contain_text("Job started")
    progress = page.locator(".job-progress-text")
    expect(progress).to_contain_text("queued")
    run_jobs()  # the worker, meanwhile
    expect(progress).to_have_text("succeeded: 2 / 2", timeout=10_000)

    page.goto("/admin/devices/device/")
    expect(row_of(page, "cold-store-7").locator("td.field-status")).to_have_text("Decommissioned")
    expect(row_of(page, "gate-3").locator("td.field-status")).to_have_text("Decommissioned")
    expect(row_of(page, "boiler-1").locator("td.field-status")).to_have_text("No Identity")
    device = Device.objects.get(pk="cold-store-7")
    assert device.identity["status"] == "REVOKED"
