"""The seed's three-level example and the tree's basic behaviour."""

import pytest

from devices.models import Device
from groups.models import DeviceGroup
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

GROUPS = f"{API}/device-groups"


def create(client, **body):
    response = client.post(GROUPS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def crit(field, operand, value):
    return {"field": field, "operand": operand, "value": value}


@pytest.fixture
def three_levels(api_client):
    production = create(api_client, name="Production", criteria=[crit("tags", "contains", "production")])
    sensors = create(
        api_client, name="Sensors", parent_id=production["id"], criteria=[crit("tags", "contains", "sensor")]
    )
    temperature = create(
        api_client,
        name="Temperature",
        parent_id=sensors["id"],
        criteria=[crit("tags", "contains", "temperature"), {"field": "status", "operator": "eq", "value": "ACTIVE"}],
    )
    return production, sensors, temperature


@pytest.fixture
def fleet():
    specs = {
        "match-1": (["production", "sensor", "temperature"], "ACTIVE"),
        "match-2": (["temperature", "sensor", "production", "x"], "ACTIVE"),
        "inactive": (["production", "sensor", "temperature"], "EXPIRED"),
        "no-prod": (["sensor", "temperature"], "ACTIVE"),
        "no-sensor": (["production", "temperature"], "ACTIVE"),
        "prod-sensor": (["production", "sensor"], "ACTIVE"),
        "other": ([], "NO_IDENTITY"),
    }
    for device_id, (tags, status) in specs.items():
        DeviceFactory(id=device_id, tags=tags)
        Device.objects.filter(pk=device_id).update(status=status)


def member_ids(client, group_id, **params):
    response = client.get(f"{GROUPS}/{group_id}/devices", {"page_size": 100, **params})
    assert response.status_code == 200, response.content
    return {device["id"] for device in response.json()["list"]}


@pytest.mark.usefixtures("fleet")
def test_three_level_example_selects_exactly_the_right_devices(api_client, three_levels):
    production, sensors, temperature = three_levels

    assert temperature["inherited_criteria"] == [
        crit("tags", "contains", "production"),
        crit("tags", "contains", "sensor"),
    ]
    assert temperature["criteria"][1] == crit("status", "eq", "ACTIVE")
    assert member_ids(api_client, temperature["id"]) == {"match-1", "match-2"}
    assert member_ids(api_client, sensors["id"]) == {"match-1", "match-2", "inactive", "prod-sensor"}
    assert member_ids(api_client, production["id"]) == {"match-1", "match-2", "inactive", "no-sensor", "prod-sensor"}


@pytest.mark.usefixtures("fleet")
def test_group_devices_accept_device_list_filters(api_client, three_levels):
    _, sensors, _ = three_levels

    assert member_ids(api_client, sensors["id"], filter="status[eq]:EXPIRED") == {"inactive"}


@pytest.mark.usefixtures("fleet")
def test_group_stats_count_members_by_status(api_client, three_levels):
    _, sensors, _ = three_levels
    response = api_client.get(f"{GROUPS}/{sensors['id']}/stats")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 4
    assert body["status_distribution"]["ACTIVE"] == 3 and body["status_distribution"]["EXPIRED"] == 1
    assert len(body["status_distribution"]) == 7


@pytest.mark.usefixtures("fleet")
def test_group_stats_honour_filters(api_client, three_levels):
    _, sensors, _ = three_levels

    response = api_client.get(f"{GROUPS}/{sensors['id']}/stats", {"filter": ["status[eq]:ACTIVE", "id[ne]:match-1"]})

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    assert body["status_distribution"]["ACTIVE"] == 2 and body["status_distribution"]["EXPIRED"] == 0
    expected = member_ids(api_client, sensors["id"], filter=["status[eq]:ACTIVE", "id[ne]:match-1"])
    assert len(expected) == body["total"]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("params", "field"),
    [({"filter": "bogus"}, "filter[0]"), ({"filter": ["status[eq]:ACTIVE", "status[eq]:NOPE"]}, "filter[1]"),
     ({"Filter": "status[eq]:ACTIVE"}, "Filter"), ({"page_size": "5"}, "page_size")],
)  # fmt: skip
def test_group_stats_bad_parameter_is_400(api_client, three_levels, params, field):
    _, sensors, _ = three_levels

    assert_error(api_client.get(f"{GROUPS}/{sensors['id']}/stats", params), 400, "validation_error", field)


@pytest.mark.usefixtures("fleet")
def test_membership_agrees_with_group_device_lists(api_client, three_levels):
    create(api_client, name="Everything")  # no criteria: every device
    groups = api_client.get(GROUPS, {"page_size": 100}).json()["list"]
    members = {group["id"]: member_ids(api_client, group["id"]) for group in groups}
    for device in Device.objects.all():
        response = api_client.get(f"{API}/devices/{device.pk}/device-groups")
        assert response.status_code == 200
        linked = {link["group_id"] for link in response.json()["list"]}
        assert linked == {group_id for group_id, ids in members.items() if device.pk in ids}, device.pk
        for group_id, ids in members.items():
            detail = api_client.get(f"{API}/devices/{device.pk}/device-groups/{group_id}")
            assert detail.status_code == (200 if device.pk in ids else 404)


@pytest.mark.usefixtures("fleet")
def test_delete_middle_group_moves_children_up(api_client, three_levels):
    production, sensors, temperature = three_levels

    assert api_client.delete(f"{GROUPS}/{sensors['id']}").status_code == 204

    moved = api_client.get(f"{GROUPS}/{temperature['id']}").json()
    assert moved["parent_id"] == production["id"]
    assert moved["inherited_criteria"] == [crit("tags", "contains", "production")]
    assert member_ids(api_client, temperature["id"]) == {"match-1", "match-2", "no-sensor"}


def test_delete_cascade_removes_subtree(api_client, three_levels):
    production, _, _ = three_levels

    assert api_client.delete(f"{GROUPS}/{production['id']}?cascade=true").status_code == 204
    assert not DeviceGroup.objects.exists()


def test_move_under_own_descendant_rejected(api_client, three_levels):
    production, _, temperature = three_levels
    response = api_client.put(f"{GROUPS}/{production['id']}", {"parent_id": temperature["id"]}, format="json")

    assert_error(response, 400, "validation_error", field="parent_id")


def test_move_under_itself_rejected(api_client, three_levels):
    production, _, _ = three_levels
    response = api_client.put(f"{GROUPS}/{production['id']}", {"parent_id": production["id"]}, format="json")

    assert_error(response, 400, "validation_error", field="parent_id")


def test_missing_parent_rejected(api_client):
    response = api_client.post(
        GROUPS, {"name": "x", "parent_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}, format="json"
    )

    assert_error(response, 400, "validation_error", field="parent_id")


@pytest.mark.parametrize(
    "criterion",
    [
        crit("color", "eq", "red"),
        crit("status", "eq", "SLEEPING"),
        crit("tags", "gt", "x"),
        crit("metadata", "jsonpath", "$["),
        {"field": "status", "value": "ACTIVE"},
        {"field": "status", "operand": "eq", "value": 3},
        {"field": "status", "operand": "eq", "value": "ACTIVE", "extra": 1},
        "status[eq]:ACTIVE",
    ],
)
def test_bad_criterion_rejected_naming_it(api_client, criterion):
    body = {"name": "x", "criteria": [crit("tags", "contains", "ok"), criterion]}

    assert_error(api_client.post(GROUPS, body, format="json"), 400, "validation_error", field="criteria[1]")
    assert not DeviceGroup.objects.exists()


def test_sibling_name_conflict(api_client, three_levels):
    production, _, _ = three_levels
    response = api_client.post(GROUPS, {"name": "Sensors", "parent_id": production["id"]}, format="json")

    assert_error(response, 409, "conflict")


def test_move_keeps_tree_consistent(api_client, three_levels):
    _, sensors, temperature = three_levels
    other = create(api_client, name="Other")

    response = api_client.put(f"{GROUPS}/{sensors['id']}", {"parent_id": other["id"]}, format="json")

    assert response.status_code == 200
    moved = api_client.get(f"{GROUPS}/{temperature['id']}").json()
    assert moved["inherited_criteria"] == [crit("tags", "contains", "sensor")]
    DeviceGroup.objects.rebuild()  # a consistent tree is unchanged by a rebuild
    assert api_client.get(f"{GROUPS}/{temperature['id']}").json() == moved
