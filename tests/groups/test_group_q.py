"""A group's `q` (contract, section 8): ANDed with its criteria and with every ancestor's criteria and `q`, on every
path that computes members: the member list, the stats, one device's groups, the membership check, the export."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from devices.models import Device
from groups.models import DeviceGroup
from tests.conftest import API, assert_error, mark_key_used
from tests.factories import DeviceFactory, DeviceGroupFactory

pytestmark = pytest.mark.django_db

GROUPS = f"{API}/device-groups"


def create(client, **body):
    response = client.post(GROUPS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def member_ids(client, group_id, **params):
    response = client.get(f"{GROUPS}/{group_id}/devices", {"page_size": 100, **params})
    assert response.status_code == 200, response.content
    return {device["id"] for device in response.json()["list"]}


def groups_of(client, device_id):
    response = client.get(f"{API}/devices/{device_id}/device-groups", {"page_size": 100})
    assert response.status_code == 200, response.content
    return {link["group"]["name"]: link["group"] for link in response.json()["list"]}


@pytest.fixture
def fleet():
    specs = {
        "prod-expired": (["production"], "EXPIRED", "dms-a"),
        "prod-revoked-lab": (["production"], "REVOKED", "lab"),
        "prod-active": (["production", "critical"], "ACTIVE", "dms-a"),
        "prod-active-lab": (["production", "critical"], "ACTIVE", "lab"),
        "test-expired": (["test"], "EXPIRED", "dms-a"),
    }
    for device_id, (tags, status, dms) in specs.items():
        DeviceFactory(id=device_id, tags=tags, dms_owner=dms)
        Device.objects.filter(pk=device_id).update(status=status)


@pytest.fixture
def tree(api_client, fleet):
    production = create(
        api_client,
        name="Production",
        criteria=[{"field": "tags", "operand": "contains", "value": "production"}],
        q="not dms_owner[eq]:lab",
    )
    attention = create(
        api_client, name="Attention", parent_id=production["id"], q="status[in]:EXPIRED,REVOKED or tags[ct]:critical"
    )
    expired = create(api_client, name="Expired", parent_id=attention["id"], q="status[eq]:EXPIRED")
    return production, attention, expired


def test_members_satisfy_criteria_q_and_every_ancestors(api_client, tree):
    production, attention, expired = tree

    assert member_ids(api_client, production["id"]) == {"prod-expired", "prod-active"}
    assert member_ids(api_client, attention["id"]) == {"prod-expired", "prod-active"}
    assert member_ids(api_client, expired["id"]) == {"prod-expired"}


def test_group_shows_its_q_and_its_ancestors(api_client, tree):
    production, _, expired = tree

    assert production["q"] == "not dms_owner[eq]:lab" and production["inherited_q"] == []
    body = api_client.get(f"{GROUPS}/{expired['id']}").json()
    assert body["q"] == "status[eq]:EXPIRED"
    assert body["inherited_q"] == ["not dms_owner[eq]:lab", "status[in]:EXPIRED,REVOKED or tags[ct]:critical"]
    listed = {group["name"]: group for group in api_client.get(GROUPS).json()["list"]}
    assert listed["Expired"]["inherited_q"] == body["inherited_q"]


def test_group_without_q_has_an_empty_one(api_client):
    group = create(api_client, name="All")

    assert group["q"] == "" and group["inherited_q"] == []


def test_stats_count_the_members(api_client, tree):
    _, attention, _ = tree

    body = api_client.get(f"{GROUPS}/{attention['id']}/stats").json()

    assert body["total"] == 2
    assert body["status_distribution"]["EXPIRED"] == 1 and body["status_distribution"]["ACTIVE"] == 1


def test_one_devices_groups_follow_the_q(api_client, tree):
    assert set(groups_of(api_client, "prod-expired")) == {"Production", "Attention", "Expired"}
    assert set(groups_of(api_client, "prod-active")) == {"Production", "Attention"}
    assert groups_of(api_client, "prod-active-lab") == {}  # the root's q leaves it out, so the walk stops there
    assert groups_of(api_client, "test-expired") == {}
    linked = groups_of(api_client, "prod-expired")["Expired"]
    assert linked["inherited_q"] == ["not dms_owner[eq]:lab", "status[in]:EXPIRED,REVOKED or tags[ct]:critical"]


def test_membership_check_follows_the_q(api_client, tree):
    _, _, expired = tree

    assert api_client.get(f"{API}/devices/prod-expired/device-groups/{expired['id']}").status_code == 200
    assert api_client.get(f"{API}/devices/prod-active/device-groups/{expired['id']}").status_code == 404


def test_walk_does_not_evaluate_children_of_a_group_whose_q_fails(api_client, tree, django_assert_num_queries):
    # The root's q leaves the device out: its children are never read. The key, the device, the roots, one evaluation.
    mark_key_used(api_client)
    with django_assert_num_queries(4):
        assert api_client.get(f"{API}/devices/prod-active-lab/device-groups").json()["list"] == []


def test_changing_a_q_changes_the_members_and_the_descendants(api_client, tree):
    production, attention, expired = tree
    etag = api_client.get(f"{GROUPS}/{expired['id']}")["ETag"]

    response = api_client.put(f"{GROUPS}/{production['id']}", {"q": ""}, format="json")

    assert response.status_code == 200 and response.json()["q"] == ""
    child = api_client.get(f"{GROUPS}/{expired['id']}")
    assert child["ETag"] != etag
    assert child.json()["inherited_q"] == ["status[in]:EXPIRED,REVOKED or tags[ct]:critical"]
    assert member_ids(api_client, attention["id"]) == {
        "prod-expired",
        "prod-revoked-lab",
        "prod-active",
        "prod-active-lab",
    }


def test_export_of_a_group_follows_the_q(tree):
    _, _, expired = tree
    out = io.StringIO()

    call_command("export_devices", group=expired["id"], stdout=out, stderr=io.StringIO())

    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == ["prod-expired"]


@pytest.mark.parametrize(
    ("q", "position"),
    [
        ("status[eq]:ACTIVE and", "at character 22"),
        ("(status[eq]:ACTIVE", "at character 19"),
        ("status[eq]:ACTIVE or colour[eq]:red", "at character 22"),
        ("status[eq]:SLEEPING", "at character 1"),
    ],
)
def test_invalid_q_is_refused_naming_q_with_the_position(api_client, q, position):
    response = api_client.post(GROUPS, {"name": "Bad", "q": q}, format="json")

    body = assert_error(response, 400, "validation_error", "q")
    assert position in body["fields"][0]["message"]


@pytest.mark.parametrize("q", [3, None, ["status[eq]:ACTIVE"]])
def test_q_must_be_a_string(api_client, q):
    assert_error(api_client.post(GROUPS, {"name": "Bad", "q": q}, format="json"), 400, "validation_error", "q")


def test_q_of_a_group_is_validated_on_update_and_nothing_changes(api_client):
    group = DeviceGroupFactory(q="status[eq]:ACTIVE")

    response = api_client.put(f"{GROUPS}/{group.pk}", {"q": "not"}, format="json")

    assert_error(response, 400, "validation_error", "q")
    assert api_client.get(f"{GROUPS}/{group.pk}").json()["q"] == "status[eq]:ACTIVE"


# --- The admin ----------------------------------------------------------------------------------------------------

ADMIN_ADD = reverse("admin:groups_devicegroup_add")


def admin_form(**fields) -> dict:
    return {"name": "Attention", "description": "", "parent": "", "criteria_json": "[]", "q": "", **fields}


def test_admin_saves_a_q_through_the_service(admin_client, api_client, fleet):
    response = admin_client.post(ADMIN_ADD, admin_form(q="status[in]:EXPIRED,REVOKED and not dms_owner[eq]:lab"))

    assert response.status_code == 302
    group = DeviceGroup.objects.get(name="Attention")
    assert group.q == "status[in]:EXPIRED,REVOKED and not dms_owner[eq]:lab"
    assert member_ids(api_client, group.pk) == {"prod-expired", "test-expired"}
    page = admin_client.get(reverse("admin:groups_devicegroup_change", args=[group.pk])).content.decode()
    assert "2 device(s)" in page


def test_admin_shows_an_invalid_q_inline_and_creates_nothing(admin_client):
    response = admin_client.post(ADMIN_ADD, admin_form(q="status[eq]:ACTIVE or or"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "at character 22" in " ".join(errors["q"])
    assert not DeviceGroup.objects.exists()
