"""Device groups in a real browser: a nested group made through the forms, its member count, and the tree."""

import json

import pytest
from playwright.sync_api import expect

from groups.models import DeviceGroup
from tests.factories import DeviceFactory, DeviceGroupFactory

from .conftest import add_form_ready


def criterion(field: str, operand: str, value: str) -> dict:
    return {"field": field, "operand": operand, "value": value}


@pytest.fixture
def fleet(transactional_db):
    DeviceFactory(id="prod-sensor-1", tags=["production", "sensor"])
    DeviceFactory(id="prod-sensor-2", tags=["production", "sensor"])
    DeviceFactory(id="prod-gateway", tags=["production", "gateway"])
    DeviceFactory(id="lab-sensor", tags=["lab", "sensor"])


def fill_group_form(page, name: str, criteria: list, parent: str | None = None) -> None:
    add_form_ready(page)
    page.get_by_label("Name:").fill(name)
    if parent:
        page.get_by_label("Parent:").select_option(label=parent)
    page.get_by_label("Criteria:").fill(json.dumps(criteria))


def test_nested_group_with_criteria_shows_its_member_count(admin_page, fleet):
    page = admin_page
    page.goto("/admin/groups/devicegroup/")
    page.get_by_role("link", name="Add device group").click()
    fill_group_form(page, "Production", [criterion("tags", "contains", "production")])
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator(".field-members")).to_contain_text("3 device(s)")

    page.goto("/admin/groups/devicegroup/add/")
    fill_group_form(page, "Sensors", [criterion("tags", "contains", "sensor")], parent="Production")
    page.get_by_role("button", name="Save and continue editing").click()

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator(".field-inherited")).to_contain_text('"production"')
    members = page.locator(".field-members")
    expect(members).to_contain_text("2 device(s)")  # sensors among the production devices only
    members.get_by_role("link", name="show them").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    assert sorted(rows.locator("th.field-id").all_inner_texts()) == ["prod-sensor-1", "prod-sensor-2"]
    sensors = DeviceGroup.objects.get(name="Sensors")
    assert sensors.parent.name == "Production"
    assert sensors.criteria == [criterion("tags", "contains", "sensor")]


def test_invalid_criteria_are_reported_on_the_form(admin_page, fleet):
    page = admin_page
    page.goto("/admin/groups/devicegroup/add/")
    fill_group_form(page, "Broken", [criterion("colour", "eq", "red")])
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(".field-criteria_json .errorlist")).to_contain_text("criteria[0]")
    add_form_ready(page)
    page.get_by_label("Criteria:").fill('[{"field": "tags",')
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".field-criteria_json .errorlist")).to_contain_text("Invalid JSON")
    assert not DeviceGroup.objects.exists()


@pytest.fixture
def tree(transactional_db):
    production = DeviceGroupFactory(name="Production", criteria=[criterion("tags", "contains", "production")])
    sensors = DeviceGroupFactory(name="Sensors", parent=production, criteria=[criterion("tags", "contains", "sensor")])
    DeviceGroupFactory(name="Temperature", parent=sensors, criteria=[criterion("tags", "contains_ic", "temperature")])
    DeviceGroupFactory(name="Gateways", parent=production, criteria=[criterion("tags", "contains", "gateway")])
    DeviceGroupFactory(name="Lab")


def tree_row(page, name: str):
    return page.locator("#result_list tbody tr").filter(has=page.locator(".field-indented_title", has_text=name))


def title_cell(page, name: str):
    return tree_row(page, name).locator(".field-indented_title")


def test_group_tree_expands_and_collapses(admin_page, tree):
    page = admin_page
    page.goto("/admin/groups/devicegroup/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(5)
    # Depth-first, each level indented further; the tree starts collapsed to its roots.
    titles = [text.strip() for text in rows.locator(".field-indented_title").all_text_contents()]
    assert titles == ["Production", "Sensors", "Temperature", "Gateways", "Lab"]
    expect(title_cell(page, "Production")).to_be_visible()
    expect(title_cell(page, "Lab")).to_be_visible()
    expect(title_cell(page, "Sensors")).to_be_hidden()

    page.get_by_role("link", name="Expand tree").click()
    for name in ("Sensors", "Temperature", "Gateways"):
        expect(title_cell(page, name)).to_be_visible()
    indents = {
        name: title_cell(page, name).locator("div").evaluate("div => parseInt(div.style.textIndent)")
        for name in ("Production", "Sensors", "Temperature")
    }
    assert indents["Production"] < indents["Sensors"] < indents["Temperature"]
    expect(tree_row(page, "Sensors")).to_contain_text("tags[contains]sensor")

    # The disclosure triangle of Production folds its whole subtree.
    tree_row(page, "Production").locator(".tree-node").click()
    for name in ("Sensors", "Temperature", "Gateways"):
        expect(title_cell(page, name)).to_be_hidden()
    expect(title_cell(page, "Lab")).to_be_visible()

    title_cell(page, "Production").get_by_role("link", name="Production").click()
    expect(page.get_by_role("heading", name="Production")).to_be_visible()
