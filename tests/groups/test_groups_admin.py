"""The operators' console for groups: the tree, the add and change forms, drag and drop, and deletion."""

import json
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from devices.models import Device
from groups.models import DeviceGroup
from tests.factories import DeviceFactory, DeviceGroupFactory
from tests.helpers import groups_snapshot

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:groups_devicegroup_changelist")
ADD = reverse("admin:groups_devicegroup_add")
DEVICE_CHANGELIST = reverse("admin:devices_device_changelist")


def crit(field, operand, value):
    return {"field": field, "operand": operand, "value": value}


def change_url(group) -> str:
    return reverse("admin:groups_devicegroup_change", args=[group.pk])


def delete_url(group) -> str:
    return reverse("admin:groups_devicegroup_delete", args=[group.pk])


def form_data(**fields) -> dict:
    data = {"name": "Sensors", "description": "", "parent": "", "criteria_json": "[]", "_save": "Save"}
    return {**data, **fields}


def form_errors(response) -> dict:
    assert response.status_code == 200, "the form was accepted"
    return response.context["adminform"].form.errors


def all_errors(response) -> str:
    return " ".join(message for messages in form_errors(response).values() for message in messages)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def move(admin_client, cut, pasted_on, position="last-child"):
    data = {"cmd": "move_node", "cut_item": str(cut.pk), "pasted_on": str(pasted_on.pk), "position": position}
    response = admin_client.post(CHANGELIST, data)
    assert response.status_code == 200
    return response.content.decode()


def assert_tree_consistent():
    before = groups_snapshot()
    DeviceGroup.objects.rebuild()
    assert [(row[0], row[2]) for row in groups_snapshot()] == [(row[0], row[2]) for row in before]
    for group in DeviceGroup.objects.all():
        expected = group.parent.level + 1 if group.parent else 0
        assert group.level == expected


@pytest.fixture
def tree():
    """Production > Sensors > Temperature, and a second root Lab."""
    production = DeviceGroupFactory(name="Production", criteria=[crit("tags", "contains", "production")])
    sensors = DeviceGroupFactory(name="Sensors", parent=production, criteria=[crit("tags", "contains", "sensor")])
    temperature = DeviceGroupFactory(name="Temperature", parent=sensors, criteria=[crit("status", "eq", "ACTIVE")])
    lab = DeviceGroupFactory(name="Lab")
    return production, sensors, temperature, lab


# --- The changelist ---------------------------------------------------------------------------------------------


def test_changelist_shows_tree_in_depth_first_order(admin_client, tree):
    production, sensors, temperature, lab = tree
    DeviceGroupFactory(name="Pressure", parent=production)

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    listed = [group.name for group in response.context["cl"].result_list]
    assert listed == ["Production", "Sensors", "Temperature", "Pressure", "Lab"]
    html = response.content.decode()
    for group in (production, sensors, temperature, lab):
        level = DeviceGroup.objects.get(pk=group.pk).level
        assert f'data-pk="{group.pk}" data-level="{level}"' in html
        assert f'<div style="text-indent:{level * 20}px">{group.name}</div>' in html
    assert "tags[contains]production" in html and "(all devices)" in html
    assert "mptt/draggable-admin.js" in html


def test_changelist_requires_login(client, tree):
    response = client.get(CHANGELIST)

    assert response.status_code == 302 and "/login/" in response["Location"]


def test_changelist_offers_no_bulk_delete(admin_client, tree):
    response = admin_client.get(CHANGELIST)

    assert "delete_selected" not in response.context["cl"].model_admin.get_actions(response.wsgi_request)


def test_changelist_search_by_name(admin_client, tree):
    response = admin_client.get(CHANGELIST, {"q": "temp"})

    assert [group.name for group in response.context["cl"].result_list] == ["Temperature"]


# --- The add form -----------------------------------------------------------------------------------------------


def test_add_form_loads(admin_client, tree):
    response = admin_client.get(ADD)

    assert response.status_code == 200
    assert "criteria_json" in response.context["adminform"].form.fields


def test_add_creates_group_through_service(admin_client, tree):
    _, sensors, _, _ = tree
    criteria = [crit("tags", "contains", "humidity"), {"field": "status", "operator": "ne", "value": "revoked"}]

    response = admin_client.post(
        ADD, form_data(name="Humidity", description="wet", parent=str(sensors.pk), criteria_json=json.dumps(criteria))
    )

    assert response.status_code == 302, form_errors(response)
    group = DeviceGroup.objects.get(name="Humidity")
    assert group.parent_id == sensors.pk and group.description == "wet" and group.level == 2
    assert group.criteria == [crit("tags", "contains", "humidity"), crit("status", "ne", "revoked")]
    assert group.version == 1 and group.created_at == group.updated_at
    assert_tree_consistent()


def test_add_root_with_empty_criteria(admin_client):
    response = admin_client.post(ADD, form_data(name="Everything", criteria_json=""))

    assert response.status_code == 302, form_errors(response)
    group = DeviceGroup.objects.get()
    assert group.is_root_node() and group.criteria == []


def test_add_seen_by_api(admin_client, api_client, tree):
    production, _, _, _ = tree
    admin_client.post(ADD, form_data(name="Gateways", parent=str(production.pk)))
    group = DeviceGroup.objects.get(name="Gateways")

    body = api_client.get(f"/api/devmanager/v1/device-groups/{group.pk}").json()

    assert body["parent_id"] == str(production.pk)
    assert body["inherited_criteria"] == [crit("tags", "contains", "production")]


@pytest.mark.parametrize(
    "criteria_json, message",
    [
        ("[{", "Invalid JSON"),
        ('{"field": "tags"}', "must be an array"),
        ("null", "null"),
        (json.dumps([crit("colour", "eq", "red")]), "criteria[0]"),
        (json.dumps([crit("tags", "contains", "x"), crit("status", "eq", "SLEEPING")]), "criteria[1]"),
        (json.dumps([crit("metadata", "jsonpath", "$[")]), "criteria[0]"),
        (json.dumps([{"field": "status", "operand": "eq", "value": 1}]), "criteria[0]"),
        (json.dumps([crit("alias", "ne", str(index)) for index in range(33)]), "32"),
    ],
)
def test_add_bad_criteria_shows_error_and_creates_nothing(admin_client, criteria_json, message):
    response = admin_client.post(ADD, form_data(criteria_json=criteria_json))

    errors = form_errors(response)
    assert "criteria_json" in errors
    assert message in " ".join(errors["criteria_json"])
    assert not DeviceGroup.objects.exists()


def test_add_32_criteria_accepted(admin_client):
    criteria = [crit("alias", "ne", str(index)) for index in range(32)]

    response = admin_client.post(ADD, form_data(criteria_json=json.dumps(criteria)))

    assert response.status_code == 302, form_errors(response)
    assert len(DeviceGroup.objects.get().criteria) == 32


def test_add_sibling_name_clash_shows_error(admin_client, tree):
    production, _, _, _ = tree
    before = groups_snapshot()

    response = admin_client.post(ADD, form_data(name="Sensors", parent=str(production.pk)))

    assert "A sibling group is already named 'Sensors'." in form_errors(response)["__all__"]
    assert groups_snapshot() == before


def test_add_root_name_clash_shows_error(admin_client, tree):
    before = groups_snapshot()

    response = admin_client.post(ADD, form_data(name="Lab"))

    assert "A sibling group is already named 'Lab'." in form_errors(response)["__all__"]
    assert groups_snapshot() == before


def test_add_below_sixteenth_level_shows_error(admin_client):
    parent = None
    for level in range(16):
        parent = DeviceGroupFactory(name=f"level-{level + 1}", parent=parent)

    response = admin_client.post(ADD, form_data(name="level-17", parent=str(parent.pk)))

    assert "16 levels" in " ".join(form_errors(response)["parent"])
    assert DeviceGroup.objects.count() == 16


def test_add_empty_name_shows_error(admin_client):
    response = admin_client.post(ADD, form_data(name=""))

    assert "name" in form_errors(response)
    assert not DeviceGroup.objects.exists()


# --- The change form --------------------------------------------------------------------------------------------


@pytest.fixture
def fleet():
    specs = {
        "hot": (["production", "sensor"], "ACTIVE"),
        "cold": (["production", "sensor"], "EXPIRED"),
        "gateway": (["production"], "ACTIVE"),
        "lab-sensor": (["sensor"], "ACTIVE"),
    }
    for device_id, (tags, status) in specs.items():
        DeviceFactory(id=device_id, tags=tags)
        Device.objects.filter(pk=device_id).update(status=status)


@pytest.mark.usefixtures("fleet")
def test_change_page_shows_member_count_and_link(admin_client, tree):
    _, sensors, temperature, _ = tree

    response = admin_client.get(change_url(sensors))

    assert response.status_code == 200
    html = response.content.decode()
    link = f"{DEVICE_CHANGELIST}?group={sensors.pk}"
    assert f'2 device(s): <a href="{link}">show them</a>' in html
    assert "tags" in html and "production" in html  # the inherited criteria
    assert "1 device(s)" in admin_client.get(change_url(temperature)).content.decode()


@pytest.mark.usefixtures("fleet")
def test_member_link_lists_exactly_members(admin_client, tree):
    production, sensors, temperature, lab = tree
    expected = {production: {"hot", "cold", "gateway"}, sensors: {"hot", "cold"}, temperature: {"hot"}}
    expected[lab] = {"hot", "cold", "gateway", "lab-sensor"}

    for group, members in expected.items():
        html = admin_client.get(change_url(group)).content.decode()
        link = re.search(r'<a href="([^"]+\?group=[^"]+)">show them</a>', html)[1]
        response = admin_client.get(link)
        assert response.status_code == 200
        assert {device.pk for device in response.context["cl"].result_list} == members, group.name


def test_device_changelist_unknown_group_lists_nothing(admin_client, fleet, tree):
    response = admin_client.get(DEVICE_CHANGELIST, {"group": "7c9e6679-7425-40de-944b-e07fc1f90ae7"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_change_updates_through_service(admin_client, tree):
    _, sensors, temperature, lab = tree
    version = DeviceGroup.objects.get(pk=sensors.pk).version

    response = admin_client.post(
        change_url(sensors),
        form_data(
            name="Sensors v2",
            description="moved",
            parent=str(lab.pk),
            criteria_json=json.dumps([crit("tags", "contains", "sensor2")]),
        ),
    )

    assert response.status_code == 302, form_errors(response)
    stored = DeviceGroup.objects.get(pk=sensors.pk)
    assert (stored.name, stored.description, stored.parent_id) == ("Sensors v2", "moved", lab.pk)
    assert stored.criteria == [crit("tags", "contains", "sensor2")]
    assert stored.version == version + 1
    assert DeviceGroup.objects.get(pk=temperature.pk).level == 2
    assert_tree_consistent()


def test_change_form_shows_stored_criteria(admin_client, tree):
    _, _, temperature, _ = tree

    form = admin_client.get(change_url(temperature)).context["adminform"].form

    assert json.loads(form["criteria_json"].value()) == [crit("status", "eq", "ACTIVE")]


@pytest.mark.parametrize("target", [0, 2])  # itself, its grandchild
def test_change_parent_cycle_shows_error(admin_client, tree, target):
    production = tree[0]
    before = groups_snapshot()

    response = admin_client.post(change_url(production), form_data(name="Production", parent=str(tree[target].pk)))

    assert form_errors(response)["parent"] == ["a group cannot move under itself or one of its descendants"]
    assert groups_snapshot() == before


def test_change_rename_onto_sibling_shows_error(admin_client, tree):
    production = tree[0]
    pressure = DeviceGroupFactory(name="Pressure", parent=production)
    before = groups_snapshot()

    response = admin_client.post(change_url(pressure), form_data(name="Sensors", parent=str(production.pk)))

    assert "A sibling group is already named 'Sensors'." in all_errors(response)
    assert groups_snapshot() == before


def test_change_bad_criteria_shows_error(admin_client, tree):
    _, sensors, _, _ = tree
    before = groups_snapshot()

    response = admin_client.post(change_url(sensors), form_data(criteria_json="[1]"))

    assert "criteria[0]" in " ".join(form_errors(response)["criteria_json"])
    assert groups_snapshot() == before


# --- Drag and drop ----------------------------------------------------------------------------------------------


def test_drag_into_group_moves_through_service(admin_client, tree):
    _, sensors, temperature, lab = tree
    version = DeviceGroup.objects.get(pk=sensors.pk).version

    assert move(admin_client, sensors, lab) == "OK"

    stored = DeviceGroup.objects.get(pk=sensors.pk)
    assert stored.parent_id == lab.pk and stored.version == version + 1
    assert DeviceGroup.objects.get(pk=temperature.pk).get_ancestors().first() == lab
    assert_tree_consistent()


@pytest.mark.parametrize("position", ["left", "right"])
def test_drag_beside_group_moves_to_its_parent(admin_client, tree, position):
    production, _, temperature, lab = tree

    assert move(admin_client, temperature, lab, position) == "OK"

    assert DeviceGroup.objects.get(pk=temperature.pk).is_root_node()
    assert move(admin_client, lab, DeviceGroup.objects.get(name="Sensors"), position) == "OK"
    assert DeviceGroup.objects.get(pk=lab.pk).parent_id == production.pk
    assert_tree_consistent()


def messages_after(admin_client) -> list[str]:
    """The messages a drag and drop left for the next page."""
    return messages_of(admin_client.get(CHANGELIST))


@pytest.mark.parametrize(
    "target, position",
    [("Production", "last-child"), ("Temperature", "last-child"), ("Temperature", "left"), ("Sensors", "right")],
)
def test_drag_creating_cycle_fails(admin_client, tree, target, position):
    production = tree[0]
    before = groups_snapshot()

    response = move(admin_client, production, DeviceGroup.objects.get(name=target), position)

    assert response.startswith("FAIL")
    assert groups_snapshot() == before
    assert any(message.startswith("Cannot move Production") for message in messages_after(admin_client))


def test_drag_next_to_same_named_sibling_fails(admin_client, tree):
    production, _, _, lab = tree
    other = DeviceGroupFactory(name="Sensors", parent=lab)
    before = groups_snapshot()

    assert move(admin_client, other, production).startswith("FAIL")
    assert groups_snapshot() == before


def test_drag_beyond_depth_limit_fails(admin_client, tree):
    _, _, temperature, lab = tree
    parent = lab
    for level in range(14):
        parent = DeviceGroupFactory(name=f"level-{level + 2}", parent=parent)
    before = groups_snapshot()

    assert move(admin_client, DeviceGroup.objects.get(name="Sensors"), parent).startswith("FAIL")
    assert groups_snapshot() == before
    assert move(admin_client, temperature, parent) == "OK"


@pytest.mark.parametrize("position", ["first-child", "", "inside"])
def test_drag_unknown_position_fails(admin_client, tree, position):
    _, sensors, _, lab = tree
    before = groups_snapshot()

    assert move(admin_client, sensors, lab, position).startswith("FAIL")
    assert groups_snapshot() == before


@pytest.mark.parametrize("field", ["cut_item", "pasted_on"])
@pytest.mark.parametrize("value", ["7c9e6679-7425-40de-944b-e07fc1f90ae7", "not-a-uuid", ""])
def test_drag_unknown_group_fails(admin_client, tree, field, value):
    _, sensors, _, lab = tree
    data = {"cmd": "move_node", "cut_item": str(sensors.pk), "pasted_on": str(lab.pk), "position": "last-child"}
    before = groups_snapshot()

    response = admin_client.post(CHANGELIST, {**data, field: value})

    assert response.status_code == 200 and response.content.decode().startswith("FAIL")
    assert groups_snapshot() == before


# --- Deletion ---------------------------------------------------------------------------------------------------


def test_delete_moves_children_up(admin_client, tree):
    production, sensors, temperature, _ = tree
    pressure = DeviceGroupFactory(name="Pressure", parent=sensors)

    assert admin_client.get(delete_url(sensors)).status_code == 200
    response = admin_client.post(delete_url(sensors), {"post": "yes"})

    assert response.status_code == 302
    assert not DeviceGroup.objects.filter(pk=sensors.pk).exists()
    for child in (temperature, pressure):
        stored = DeviceGroup.objects.get(pk=child.pk)
        assert stored.parent_id == production.pk and stored.level == 1
    assert_tree_consistent()


def test_delete_root_makes_children_roots(admin_client, tree):
    production, sensors, temperature, _ = tree

    response = admin_client.post(delete_url(production), {"post": "yes"})

    assert response.status_code == 302
    assert DeviceGroup.objects.get(pk=sensors.pk).is_root_node()
    assert DeviceGroup.objects.get(pk=temperature.pk).level == 1
    assert DeviceGroup.objects.count() == 3


def test_delete_with_clashing_child_shows_error(admin_client, tree):
    production, sensors, _, _ = tree
    DeviceGroupFactory(name="Pressure", parent=production)
    DeviceGroupFactory(name="Pressure", parent=sensors)
    before = groups_snapshot()

    response = admin_client.post(delete_url(sensors), {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert any("Pressure" in message for message in messages_of(response))
    assert groups_snapshot() == before
