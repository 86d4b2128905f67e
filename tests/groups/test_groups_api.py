"""The device group resource: create, read, replace, delete, the limits, and the scopes."""

import uuid

import pytest

from groups.models import DeviceGroup
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory, DeviceGroupFactory
from tests.helpers import groups_snapshot

pytestmark = pytest.mark.django_db

GROUPS = f"{API}/device-groups"


def crit(field, operand, value):
    return {"field": field, "operand": operand, "value": value}


def create(client, **body):
    response = client.post(GROUPS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def put(client, group_id, body, **headers):
    return client.put(f"{GROUPS}/{group_id}", body, format="json", **headers)


def chain(length, **fields):
    """A chain of `length` nested groups, root first."""
    groups = [DeviceGroupFactory(**fields)]
    for _ in range(length - 1):
        groups.append(DeviceGroupFactory(parent=groups[-1], **fields))
    return groups


def member_ids(client, group_id):
    response = client.get(f"{GROUPS}/{group_id}/devices", {"page_size": 1000})
    assert response.status_code == 200, response.content
    return {device["id"] for device in response.json()["list"]}


# --- Create -----------------------------------------------------------------------------------------------------


def test_create_generates_uuid_when_id_absent(api_client):
    response = api_client.post(GROUPS, {"name": "Sensors"}, format="json")

    assert response.status_code == 201
    body = response.json()
    group_id = uuid.UUID(body["id"])
    assert response["Location"].endswith(f"{GROUPS}/{group_id}")
    assert body["parent_id"] is None and body["criteria"] == [] and body["inherited_criteria"] == []
    assert body["description"] == ""
    assert DeviceGroup.objects.get(pk=group_id).name == "Sensors"


def test_create_accepts_given_uuid(api_client):
    given = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

    body = create(api_client, id=given, name="Sensors", description="all of them")

    assert body["id"] == given and body["description"] == "all of them"
    assert DeviceGroup.objects.filter(pk=given).exists()


def test_create_duplicate_id_conflicts(api_client):
    existing = create(api_client, name="First")

    response = api_client.post(GROUPS, {"id": existing["id"], "name": "Second"}, format="json")

    assert_error(response, 409, "conflict")
    assert list(DeviceGroup.objects.values_list("name", flat=True)) == ["First"]


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", 42, "7c9e6679-7425-40de-944b"])
def test_create_non_uuid_id_rejected(api_client, bad_id):
    response = api_client.post(GROUPS, {"id": bad_id, "name": "x"}, format="json")

    assert_error(response, 400, "validation_error", field="id")
    assert not DeviceGroup.objects.exists()


@pytest.mark.parametrize("length", [1, 255])
def test_create_name_length_limits_accepted(api_client, length):
    body = create(api_client, name="n" * length)

    assert body["name"] == "n" * length


@pytest.mark.parametrize("name", ["", "n" * 256, 42, None, ["x"], {"a": 1}, True])
def test_create_bad_name_rejected(api_client, name):
    response = api_client.post(GROUPS, {"name": name}, format="json")

    assert_error(response, 400, "validation_error", field="name")
    assert not DeviceGroup.objects.exists()


def test_create_without_name_rejected(api_client):
    assert_error(api_client.post(GROUPS, {}, format="json"), 400, "validation_error", field="name")


def test_create_unknown_body_field_rejected(api_client):
    response = api_client.post(GROUPS, {"name": "x", "colour": "red"}, format="json")

    assert_error(response, 400, "validation_error", field="colour")
    assert not DeviceGroup.objects.exists()


@pytest.mark.parametrize("body", [[], "a group", 42])
def test_create_body_not_an_object_rejected(api_client, body):
    response = api_client.post(GROUPS, body, format="json")

    assert_error(response, 400, "validation_error")
    assert not DeviceGroup.objects.exists()


@pytest.mark.parametrize("content", ["{", '{"name": "x",}', "\xff"])
def test_create_malformed_json_rejected(api_client, content):
    response = api_client.post(GROUPS, content, content_type="application/json")

    assert_error(response, 400, "bad_request")
    assert not DeviceGroup.objects.exists()


def test_create_non_uuid_parent_rejected(api_client):
    response = api_client.post(GROUPS, {"name": "x", "parent_id": "root"}, format="json")

    assert_error(response, 400, "validation_error", field="parent_id")


def test_create_32_criteria_accepted(api_client):
    criteria = [crit("alias", "ne", f"x{index}") for index in range(32)]

    assert create(api_client, name="x", criteria=criteria)["criteria"] == criteria


def test_create_more_than_32_criteria_rejected(api_client):
    criteria = [crit("alias", "ne", f"x{index}") for index in range(33)]

    response = api_client.post(GROUPS, {"name": "x", "criteria": criteria}, format="json")

    assert_error(response, 400, "validation_error", field="criteria")
    assert not DeviceGroup.objects.exists()


@pytest.mark.parametrize("criteria", [None, "tags[ct]:x", {"field": "tags"}])
def test_create_criteria_not_a_list_rejected(api_client, criteria):
    response = api_client.post(GROUPS, {"name": "x", "criteria": criteria}, format="json")

    assert_error(response, 400, "validation_error", field="criteria")


def test_create_operator_alias_returned_as_operand(api_client):
    body = create(api_client, name="x", criteria=[{"field": "status", "operator": "eq", "value": "ACTIVE"}])

    assert body["criteria"] == [crit("status", "eq", "ACTIVE")]
    assert DeviceGroup.objects.get(pk=body["id"]).criteria == [crit("status", "eq", "ACTIVE")]
    assert api_client.get(f"{GROUPS}/{body['id']}").json()["criteria"] == [crit("status", "eq", "ACTIVE")]


def test_create_operand_and_different_operator_rejected(api_client):
    criterion = {"field": "status", "operand": "eq", "operator": "ne", "value": "ACTIVE"}

    response = api_client.post(GROUPS, {"name": "x", "criteria": [criterion]}, format="json")

    assert_error(response, 400, "validation_error", field="criteria[0]")


@pytest.mark.parametrize("value", [":colon", "=equals", "::double", ":=", "a:b=c"])
def test_criteria_value_with_leading_separator_round_trips_and_matches(api_client, value):
    DeviceFactory(id="exact", alias=value)
    DeviceFactory(id="stripped", alias=value[1:])

    group = create(api_client, name="x", criteria=[crit("alias", "eq", value)])

    assert group["criteria"] == [crit("alias", "eq", value)]
    assert api_client.get(f"{GROUPS}/{group['id']}").json()["criteria"] == [crit("alias", "eq", value)]
    assert member_ids(api_client, group["id"]) == {"exact"}
    links = api_client.get(f"{API}/devices/exact/device-groups").json()["list"]
    assert [link["group_id"] for link in links] == [group["id"]]


# --- Read -------------------------------------------------------------------------------------------------------


def test_get_returns_group_with_strong_etag(api_client):
    parent = create(api_client, name="Parent", criteria=[crit("tags", "contains", "production")])
    child = create(api_client, name="Child", parent_id=parent["id"], criteria=[crit("status", "eq", "ACTIVE")])

    response = api_client.get(f"{GROUPS}/{child['id']}")

    assert response.status_code == 200
    assert response.json() == child
    etag = response["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert set(child) == {
        "id",
        "name",
        "description",
        "parent_id",
        "criteria",
        "q",
        "inherited_criteria",
        "inherited_q",
        "created_at",
        "updated_at",
    }
    assert child["created_at"].endswith("Z") and child["updated_at"].endswith("Z")


def test_get_with_current_etag_not_modified(api_client):
    group = create(api_client, name="x")
    etag = api_client.get(f"{GROUPS}/{group['id']}")["ETag"]

    response = api_client.get(f"{GROUPS}/{group['id']}", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response["ETag"] == etag
    assert not response.content


def test_get_with_old_etag_returns_group(api_client):
    group = create(api_client, name="x")
    old = api_client.get(f"{GROUPS}/{group['id']}")["ETag"]
    assert put(api_client, group["id"], {"name": "y"}).status_code == 200

    response = api_client.get(f"{GROUPS}/{group['id']}", HTTP_IF_NONE_MATCH=old)

    assert response.status_code == 200
    assert response.json()["name"] == "y"
    assert response["ETag"] != old


@pytest.mark.parametrize("group_id", ["7c9e6679-7425-40de-944b-e07fc1f90ae7", "not-a-uuid", "1"])
@pytest.mark.parametrize("suffix", ["", "/devices", "/stats"])
def test_get_unknown_group_not_found(api_client, group_id, suffix):
    assert_error(api_client.get(f"{GROUPS}/{group_id}{suffix}"), 404, "not_found")


@pytest.mark.parametrize("method", ["put", "delete"])
@pytest.mark.parametrize("group_id", ["7c9e6679-7425-40de-944b-e07fc1f90ae7", "not-a-uuid"])
def test_write_unknown_group_not_found(api_client, method, group_id):
    response = getattr(api_client, method)(f"{GROUPS}/{group_id}", {"name": "x"}, format="json")

    assert_error(response, 404, "not_found")
    assert not DeviceGroup.objects.exists()


# --- Replace ----------------------------------------------------------------------------------------------------


def test_put_name_only_keeps_other_fields(api_client):
    parent = create(api_client, name="Parent")
    group = create(
        api_client, name="x", description="d", parent_id=parent["id"], criteria=[crit("tags", "contains", "a")]
    )

    response = put(api_client, group["id"], {"name": "renamed"})

    assert response.status_code == 200
    body = response.json()
    assert body == {**group, "name": "renamed", "updated_at": body["updated_at"]}
    assert body["updated_at"] > group["updated_at"]
    stored = DeviceGroup.objects.get(pk=group["id"])
    assert (stored.name, stored.description, str(stored.parent_id)) == ("renamed", "d", parent["id"])
    assert stored.criteria == [crit("tags", "contains", "a")]


@pytest.mark.parametrize("body", [{}, {"name": "x"}, {"name": "x", "description": "d", "criteria": []}])
def test_put_that_changes_nothing_keeps_etag_and_updated_at(api_client, body):
    group = create(api_client, name="x", description="d")
    etag = api_client.get(f"{GROUPS}/{group['id']}")["ETag"]

    response = put(api_client, group["id"], {**body, "parent_id": None} if body else body)

    assert response.status_code == 200
    assert response.json() == group
    assert response["ETag"] == etag == api_client.get(f"{GROUPS}/{group['id']}")["ETag"]


def test_children_moved_up_by_a_deletion_are_updated(api_client):
    grandparent = create(api_client, name="gp")
    parent = create(api_client, name="p", parent_id=grandparent["id"])
    child = create(api_client, name="c", parent_id=parent["id"])
    grandchild = create(api_client, name="gc", parent_id=child["id"])
    before = {name: api_client.get(f"{GROUPS}/{item['id']}") for name, item in (("c", child), ("gc", grandchild))}

    assert api_client.delete(f"{GROUPS}/{parent['id']}").status_code == 204

    moved = api_client.get(f"{GROUPS}/{child['id']}")
    assert moved.json()["parent_id"] == grandparent["id"]
    assert moved.json()["updated_at"] > before["c"].json()["updated_at"]
    assert moved["ETag"] != before["c"]["ETag"]
    below = api_client.get(f"{GROUPS}/{grandchild['id']}")
    assert below["ETag"] != before["gc"]["ETag"]  # its inherited criteria are another chain now
    assert below.json()["updated_at"] == before["gc"].json()["updated_at"]  # its own fields are the same


def test_put_empty_criteria_clears_them(api_client):
    DeviceFactory(id="a", tags=["a"])
    DeviceFactory(id="b", tags=["b"])
    group = create(api_client, name="x", criteria=[crit("tags", "contains", "a")])
    assert member_ids(api_client, group["id"]) == {"a"}

    response = put(api_client, group["id"], {"criteria": []})

    assert response.status_code == 200
    assert response.json()["criteria"] == []
    assert DeviceGroup.objects.get(pk=group["id"]).criteria == []
    assert member_ids(api_client, group["id"]) == {"a", "b"}


def test_put_replaces_criteria(api_client):
    group = create(api_client, name="x", criteria=[crit("tags", "contains", "a")])

    response = put(api_client, group["id"], {"criteria": [{"field": "status", "operator": "ne", "value": "expired"}]})

    assert response.status_code == 200
    assert response.json()["criteria"] == [crit("status", "ne", "expired")]


def test_put_null_parent_makes_root(api_client):
    parent = create(api_client, name="Parent", criteria=[crit("tags", "contains", "a")])
    group = create(api_client, name="Child", parent_id=parent["id"])

    response = put(api_client, group["id"], {"parent_id": None})

    assert response.status_code == 200
    assert response.json()["parent_id"] is None and response.json()["inherited_criteria"] == []
    stored = DeviceGroup.objects.get(pk=group["id"])
    assert stored.parent_id is None and stored.level == 0 and stored.is_root_node()


def test_put_move_updates_descendants_inherited_criteria(api_client):
    old_root = create(api_client, name="Old", criteria=[crit("tags", "contains", "old")])
    new_root = create(api_client, name="New", criteria=[crit("tags", "contains", "new")])
    middle = create(api_client, name="Middle", parent_id=old_root["id"], criteria=[crit("alias", "ne", "m")])
    leaf = create(api_client, name="Leaf", parent_id=middle["id"])
    DeviceFactory(id="old-device", tags=["old"])
    DeviceFactory(id="new-device", tags=["new"])
    assert member_ids(api_client, leaf["id"]) == {"old-device"}

    response = put(api_client, middle["id"], {"parent_id": new_root["id"]})

    assert response.status_code == 200
    assert response.json()["inherited_criteria"] == [crit("tags", "contains", "new")]
    moved_leaf = api_client.get(f"{GROUPS}/{leaf['id']}").json()
    assert moved_leaf["parent_id"] == middle["id"]
    assert moved_leaf["inherited_criteria"] == [crit("tags", "contains", "new"), crit("alias", "ne", "m")]
    assert member_ids(api_client, leaf["id"]) == {"new-device"}
    assert DeviceGroup.objects.get(pk=leaf["id"]).level == 2


def test_descendant_etag_changes_when_ancestor_criteria_change(api_client):
    root = create(api_client, name="Root", criteria=[crit("tags", "contains", "a")])
    leaf = create(api_client, name="Leaf", parent_id=create(api_client, name="Mid", parent_id=root["id"])["id"])
    etag = api_client.get(f"{GROUPS}/{leaf['id']}")["ETag"]

    assert put(api_client, root["id"], {"criteria": [crit("tags", "contains", "b")]}).status_code == 200

    response = api_client.get(f"{GROUPS}/{leaf['id']}", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200  # its inherited_criteria changed, so must its ETag
    assert response.json()["inherited_criteria"] == [crit("tags", "contains", "b")]


def test_descendant_etag_changes_when_subtree_moves(api_client):
    old_root = create(api_client, name="Old", criteria=[crit("tags", "contains", "old")])
    new_root = create(api_client, name="New")
    middle = create(api_client, name="Middle", parent_id=old_root["id"])
    leaf = create(api_client, name="Leaf", parent_id=middle["id"])
    etag = api_client.get(f"{GROUPS}/{leaf['id']}")["ETag"]

    assert put(api_client, middle["id"], {"parent_id": new_root["id"]}).status_code == 200

    assert api_client.get(f"{GROUPS}/{leaf['id']}", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_put_with_same_id_accepted(api_client):
    group = create(api_client, name="x")

    response = put(api_client, group["id"], {"id": group["id"], "name": "y"})

    assert response.status_code == 200
    assert response.json()["id"] == group["id"] and response.json()["name"] == "y"


def test_put_with_different_id_rejected(api_client):
    group = create(api_client, name="x")
    before = groups_snapshot()

    response = put(api_client, group["id"], {"id": str(uuid.uuid4()), "name": "y"})

    assert_error(response, 400, "validation_error", field="id")
    assert groups_snapshot() == before


def test_put_unknown_field_rejected(api_client):
    group = create(api_client, name="x")
    before = groups_snapshot()

    response = put(api_client, group["id"], {"name": "y", "inherited_criteria": []})

    assert_error(response, 400, "validation_error", field="inherited_criteria")
    assert groups_snapshot() == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": "n" * 256}, "name"),
        ({"name": 7}, "name"),
        ({"criteria": [crit("color", "eq", "red")]}, "criteria[0]"),
        ({"criteria": [crit("alias", "ne", str(index)) for index in range(33)]}, "criteria"),
        ({"parent_id": "not-a-uuid"}, "parent_id"),
        ({"parent_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}, "parent_id"),
    ],
)
def test_put_invalid_body_rejected(api_client, body, field):
    group = create(api_client, name="x")
    before = groups_snapshot()

    assert_error(put(api_client, group["id"], body), 400, "validation_error", field=field)
    assert groups_snapshot() == before


def test_put_with_current_if_match_applies(api_client):
    group = create(api_client, name="x")
    etag = api_client.get(f"{GROUPS}/{group['id']}")["ETag"]

    response = put(api_client, group["id"], {"name": "y"}, HTTP_IF_MATCH=etag)

    assert response.status_code == 200
    assert response["ETag"] != etag
    assert DeviceGroup.objects.get(pk=group["id"]).name == "y"


def test_put_with_stale_if_match_precondition_failed(api_client):
    group = create(api_client, name="x")
    stale = api_client.get(f"{GROUPS}/{group['id']}")["ETag"]
    assert put(api_client, group["id"], {"description": "changed"}).status_code == 200
    before = groups_snapshot()

    response = put(api_client, group["id"], {"name": "y", "parent_id": None}, HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert groups_snapshot() == before


def test_delete_with_stale_if_match_precondition_failed(api_client):
    group = create(api_client, name="x")
    create(api_client, name="child", parent_id=group["id"])
    stale = api_client.get(f"{GROUPS}/{group['id']}")["ETag"]
    assert put(api_client, group["id"], {"description": "changed"}).status_code == 200
    before = groups_snapshot()

    response = api_client.delete(f"{GROUPS}/{group['id']}?cascade=true", HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert groups_snapshot() == before


def test_delete_with_current_if_match_deletes(api_client):
    group = create(api_client, name="x")
    etag = api_client.get(f"{GROUPS}/{group['id']}")["ETag"]

    assert api_client.delete(f"{GROUPS}/{group['id']}", HTTP_IF_MATCH=etag).status_code == 204
    assert not DeviceGroup.objects.exists()


def test_put_rename_onto_sibling_name_conflicts(api_client):
    parent = create(api_client, name="Parent")
    create(api_client, name="Taken", parent_id=parent["id"])
    group = create(api_client, name="Free", parent_id=parent["id"])
    before = groups_snapshot()

    assert_error(put(api_client, group["id"], {"name": "Taken"}), 409, "conflict")
    assert groups_snapshot() == before


def test_put_move_next_to_same_named_sibling_conflicts(api_client):
    first = create(api_client, name="First")
    second = create(api_client, name="Second")
    create(api_client, name="Sensors", parent_id=first["id"])
    moving = create(api_client, name="Sensors", parent_id=second["id"])
    before = groups_snapshot()

    assert_error(put(api_client, moving["id"], {"parent_id": first["id"]}), 409, "conflict")
    assert groups_snapshot() == before


def test_put_move_to_roots_next_to_same_named_root_conflicts(api_client):
    create(api_client, name="Sensors")
    moving = create(api_client, name="Sensors", parent_id=create(api_client, name="Parent")["id"])
    before = groups_snapshot()

    assert_error(put(api_client, moving["id"], {"parent_id": None}), 409, "conflict")
    assert groups_snapshot() == before


def test_put_validation_error_reported_before_conflict(api_client):
    parent = create(api_client, name="Parent")
    create(api_client, name="Taken", parent_id=parent["id"])
    group = create(api_client, name="Free", parent_id=parent["id"])

    response = put(api_client, group["id"], {"name": "Taken", "criteria": [crit("color", "eq", "red")]})

    assert_error(response, 400, "validation_error", field="criteria[0]")


def test_same_name_under_different_parents_allowed(api_client):
    first = create(api_client, name="First")
    second = create(api_client, name="Second")

    create(api_client, name="Sensors", parent_id=first["id"])
    create(api_client, name="Sensors", parent_id=second["id"])

    assert DeviceGroup.objects.filter(name="Sensors").count() == 2


def test_root_name_conflict(api_client):
    create(api_client, name="Sensors")

    assert_error(api_client.post(GROUPS, {"name": "Sensors"}, format="json"), 409, "conflict")
    assert DeviceGroup.objects.count() == 1


# --- Depth limit ------------------------------------------------------------------------------------------------


def test_chain_of_16_levels_accepted(api_client):
    groups = chain(15)

    deepest = create(api_client, name="level-16", parent_id=str(groups[-1].pk))

    assert len(deepest["inherited_criteria"]) == 0
    assert DeviceGroup.objects.get(pk=deepest["id"]).level == 15  # MPTT counts from 0


def test_seventeenth_level_rejected(api_client):
    groups = chain(16)

    response = api_client.post(GROUPS, {"name": "level-17", "parent_id": str(groups[-1].pk)}, format="json")

    assert_error(response, 400, "validation_error", field="parent_id")
    assert DeviceGroup.objects.count() == 16


def test_move_subtree_to_exactly_16_levels_accepted(api_client):
    target = chain(10)
    subtree = chain(6)

    response = put(api_client, subtree[0].pk, {"parent_id": str(target[-1].pk)})

    assert response.status_code == 200, response.content
    assert DeviceGroup.objects.get(pk=subtree[-1].pk).level == 15


def test_move_subtree_beyond_16_levels_rejected(api_client):
    target = chain(10)
    subtree = chain(7)
    before = groups_snapshot()

    response = put(api_client, subtree[0].pk, {"parent_id": str(target[-1].pk)})

    assert_error(response, 400, "validation_error", field="parent_id")
    assert groups_snapshot() == before


def test_move_deep_subtree_only_counts_its_own_height(api_client):
    """Moving the middle of a 16-level chain under a root keeps it within the limit."""
    groups = chain(16)
    other = DeviceGroupFactory()

    response = put(api_client, groups[8].pk, {"parent_id": str(other.pk)})

    assert response.status_code == 200, response.content
    assert DeviceGroup.objects.get(pk=groups[-1].pk).level == 8


def test_deepest_and_widest_chain_evaluates(api_client):
    """16 levels of 32 criteria each: 512 conditions for the deepest group, on either database."""
    DeviceFactory(id="member", alias="fine", tags=["t"])
    DeviceFactory(id="outsider", alias="zz7-31", tags=["t"])
    parent = None
    for level in range(16):
        criteria = [crit("alias", "nc", f"zz{level}-{index}") for index in range(31)]
        criteria.append(crit("tags", "contains_ic", "T") if level % 2 else crit("tags", "contains", "t"))
        parent = DeviceGroupFactory(parent=parent, criteria=criteria)

    assert member_ids(api_client, parent.pk) == {"member"}
    assert api_client.get(f"{GROUPS}/{parent.pk}/stats").json()["total"] == 1
    assert len(api_client.get(f"{GROUPS}/{parent.pk}").json()["inherited_criteria"]) == 15 * 32
    links = api_client.get(f"{API}/devices/member/device-groups").json()["list"]
    assert len(links) == 16
    outsider_links = api_client.get(f"{API}/devices/outsider/device-groups").json()["list"]
    assert len(outsider_links) == 7  # levels 0 to 6; level 7 excludes its alias
    assert api_client.get(f"{API}/devices/outsider/device-groups/{parent.pk}").status_code == 404


# --- Delete -----------------------------------------------------------------------------------------------------


def test_delete_child_name_clashing_with_parents_sibling_conflicts(api_client):
    top = create(api_client, name="Top")
    create(api_client, name="Sensors", parent_id=top["id"])
    doomed = create(api_client, name="Doomed", parent_id=top["id"])
    create(api_client, name="Fine", parent_id=doomed["id"])
    create(api_client, name="Sensors", parent_id=doomed["id"])  # moved second: the first move must be undone
    before = groups_snapshot()

    assert_error(api_client.delete(f"{GROUPS}/{doomed['id']}"), 409, "conflict")
    assert groups_snapshot() == before


def test_delete_root_whose_child_clashes_with_another_root_conflicts(api_client):
    create(api_client, name="Sensors")
    doomed = create(api_client, name="Doomed")
    create(api_client, name="Sensors", parent_id=doomed["id"])
    before = groups_snapshot()

    assert_error(api_client.delete(f"{GROUPS}/{doomed['id']}"), 409, "conflict")
    assert groups_snapshot() == before


def test_delete_with_clashing_child_and_cascade_deletes_subtree(api_client):
    create(api_client, name="Sensors")
    doomed = create(api_client, name="Doomed")
    create(api_client, name="Sensors", parent_id=doomed["id"])

    assert api_client.delete(f"{GROUPS}/{doomed['id']}?cascade=true").status_code == 204
    assert list(DeviceGroup.objects.values_list("name", flat=True)) == ["Sensors"]


def test_delete_child_named_like_deleted_group_moves_up(api_client):
    top = create(api_client, name="Top")
    doomed = create(api_client, name="Sensors", parent_id=top["id"])
    child = create(api_client, name="Sensors", parent_id=doomed["id"])

    assert api_client.delete(f"{GROUPS}/{doomed['id']}").status_code == 204

    assert DeviceGroup.objects.get(pk=child["id"]).parent_id == uuid.UUID(top["id"])
    assert DeviceGroup.objects.count() == 2


def test_delete_root_with_child_of_same_name_makes_child_root(api_client):
    doomed = create(api_client, name="Sensors")
    child = create(api_client, name="Sensors", parent_id=doomed["id"])
    grandchild = create(api_client, name="Leaf", parent_id=child["id"])

    assert api_client.delete(f"{GROUPS}/{doomed['id']}").status_code == 204

    assert api_client.get(f"{GROUPS}/{child['id']}").json()["parent_id"] is None
    assert DeviceGroup.objects.get(pk=grandchild["id"]).level == 1


def test_delete_root_moves_children_to_roots(api_client):
    root = create(api_client, name="Root", criteria=[crit("tags", "contains", "a")])
    children = [create(api_client, name=f"child-{index}", parent_id=root["id"]) for index in range(3)]
    grandchild = create(api_client, name="Leaf", parent_id=children[0]["id"])

    assert api_client.delete(f"{GROUPS}/{root['id']}").status_code == 204

    for child in children:
        moved = api_client.get(f"{GROUPS}/{child['id']}").json()
        assert moved["parent_id"] is None and moved["inherited_criteria"] == []
    assert DeviceGroup.objects.get(pk=grandchild["id"]).level == 1
    assert DeviceGroup.objects.count() == 4


def test_moved_up_child_etag_changes(api_client):
    top = create(api_client, name="Top", criteria=[crit("tags", "contains", "a")])
    middle = create(api_client, name="Middle", parent_id=top["id"], criteria=[crit("tags", "contains", "b")])
    child = create(api_client, name="Child", parent_id=middle["id"])
    etag = api_client.get(f"{GROUPS}/{child['id']}")["ETag"]

    assert api_client.delete(f"{GROUPS}/{middle['id']}").status_code == 204

    response = api_client.get(f"{GROUPS}/{child['id']}", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200  # its parent_id and inherited_criteria changed, so must its ETag
    assert response.json()["parent_id"] == top["id"]


@pytest.mark.parametrize("cascade", ["maybe", "", "2", "TRUE!"])
def test_delete_bad_cascade_rejected(api_client, cascade):
    group = create(api_client, name="x")
    create(api_client, name="child", parent_id=group["id"])

    assert_error(api_client.delete(f"{GROUPS}/{group['id']}?cascade={cascade}"), 400, "validation_error", "cascade")
    assert DeviceGroup.objects.count() == 2


def test_delete_cascade_false_moves_children_up(api_client):
    group = create(api_client, name="x")
    child = create(api_client, name="child", parent_id=group["id"])

    assert api_client.delete(f"{GROUPS}/{group['id']}?cascade=false").status_code == 204
    assert DeviceGroup.objects.get().pk == uuid.UUID(child["id"])


# --- Membership of groups without criteria ----------------------------------------------------------------------


def test_chain_without_criteria_matches_every_device(api_client):
    devices = {DeviceFactory(tags=tags).pk for tags in ([], ["a"], ["b", "c"])}
    groups = chain(3)

    assert member_ids(api_client, groups[-1].pk) == devices
    stats = api_client.get(f"{GROUPS}/{groups[-1].pk}/stats").json()
    assert stats["total"] == 3 and stats["status_distribution"]["NO_IDENTITY"] == 3
    for device_id in devices:
        links = api_client.get(f"{API}/devices/{device_id}/device-groups").json()["list"]
        assert {link["group_id"] for link in links} == {str(group.pk) for group in groups}


def test_group_without_criteria_inherits_ancestors(api_client):
    DeviceFactory(id="a", tags=["a"])
    DeviceFactory(id="b", tags=["b"])
    root = DeviceGroupFactory(criteria=[crit("tags", "contains", "a")])
    leaf = DeviceGroupFactory(parent=DeviceGroupFactory(parent=root))

    assert member_ids(api_client, leaf.pk) == {"a"}
    links = api_client.get(f"{API}/devices/b/device-groups").json()["list"]
    assert links == []


def test_device_groups_link_shape(api_client):
    DeviceFactory(id="a", tags=["a"])
    root = create(api_client, name="Root", criteria=[crit("tags", "contains", "a")])
    leaf = create(api_client, name="Leaf", parent_id=root["id"])

    response = api_client.get(f"{API}/devices/a/device-groups")

    assert response.status_code == 200
    body = response.json()
    assert body["next"] == ""
    by_group = {link["group_id"]: link for link in body["list"]}
    assert by_group[leaf["id"]] == {"device_id": "a", "group_id": leaf["id"], "group": leaf}
    assert by_group[root["id"]]["group"] == root
    detail = api_client.get(f"{API}/devices/a/device-groups/{leaf['id']}")
    assert detail.status_code == 200 and detail.json() == by_group[leaf["id"]]


@pytest.mark.parametrize("group_id", ["not-a-uuid", "7c9e6679-7425-40de-944b-e07fc1f90ae7"])
def test_device_group_link_unknown_group_not_found(api_client, group_id):
    DeviceFactory(id="a")

    assert_error(api_client.get(f"{API}/devices/a/device-groups/{group_id}"), 404, "not_found")


def test_device_groups_unknown_device_not_found(api_client):
    group = DeviceGroupFactory()

    assert_error(api_client.get(f"{API}/devices/nobody/device-groups"), 404, "not_found")
    assert_error(api_client.get(f"{API}/devices/nobody/device-groups/{group.pk}"), 404, "not_found")


# --- Scopes -----------------------------------------------------------------------------------------------------


@pytest.fixture
def one_group():
    DeviceFactory(id="a", tags=["a"])
    return DeviceGroupFactory(criteria=[crit("tags", "contains", "a")])


def test_groups_read_scope_reads(client_with_scopes, one_group):
    client = client_with_scopes("groups:read")

    assert client.get(GROUPS).status_code == 200
    assert client.get(f"{GROUPS}/{one_group.pk}").status_code == 200


@pytest.mark.parametrize("suffix", ["/devices", "/stats"])
@pytest.mark.parametrize("scopes", [("groups:read",), ("groups:write",), ("groups:read", "groups:write")])
def test_group_members_and_stats_need_devices_read_too(client_with_scopes, one_group, suffix, scopes):
    # No scope but devices:read reveals a device, nor counts them.
    response = client_with_scopes(*scopes).get(f"{GROUPS}/{one_group.pk}{suffix}")

    body = assert_error(response, 403, "access_denied")
    assert "devices:read" in body["message"]


@pytest.mark.parametrize("suffix", ["/devices", "/stats"])
def test_group_members_and_stats_with_groups_and_devices_read(client_with_scopes, one_group, suffix):
    response = client_with_scopes("groups:read", "devices:read").get(f"{GROUPS}/{one_group.pk}{suffix}")

    assert response.status_code == 200
    assert response.json().get("total", len(response.json().get("list", []))) == 1


def test_groups_write_key_cannot_list_the_fleet_through_a_group_without_criteria(client_with_scopes, one_group):
    client = client_with_scopes("groups:write")
    group = client.post(GROUPS, {"name": "everything"}, format="json").json()

    assert_error(client.get(f"{GROUPS}/{group['id']}/devices"), 403, "access_denied")


def test_groups_read_scope_cannot_write(client_with_scopes, one_group):
    client = client_with_scopes("groups:read")
    before = groups_snapshot()

    assert_error(client.post(GROUPS, {"name": "x"}, format="json"), 403, "access_denied")
    assert_error(put(client, one_group.pk, {"name": "y"}), 403, "access_denied")
    assert_error(client.delete(f"{GROUPS}/{one_group.pk}"), 403, "access_denied")
    assert groups_snapshot() == before


def test_groups_write_scope_implies_read(client_with_scopes, one_group):
    client = client_with_scopes("groups:write")

    assert client.get(f"{GROUPS}/{one_group.pk}").status_code == 200
    assert client.post(GROUPS, {"name": "x"}, format="json").status_code == 201


@pytest.mark.parametrize("suffix", ["", "/devices", "/stats"])
def test_devices_scopes_cannot_use_groups(client_with_scopes, one_group, suffix):
    client = client_with_scopes("devices:read", "devices:write")

    assert_error(client.get(f"{GROUPS}{suffix and f'/{one_group.pk}{suffix}'}"), 403, "access_denied")


def test_devices_scopes_cannot_write_groups(client_with_scopes, one_group):
    client = client_with_scopes("devices:read", "devices:write")
    before = groups_snapshot()

    assert_error(client.post(GROUPS, {"name": "x"}, format="json"), 403, "access_denied")
    assert_error(client.delete(f"{GROUPS}/{one_group.pk}"), 403, "access_denied")
    assert groups_snapshot() == before


def test_device_memberships_need_devices_scope(client_with_scopes, one_group):
    groups_only = client_with_scopes("groups:read", "groups:write")
    devices_read = client_with_scopes("devices:read")

    assert_error(groups_only.get(f"{API}/devices/a/device-groups"), 403, "access_denied")
    assert_error(groups_only.get(f"{API}/devices/a/device-groups/{one_group.pk}"), 403, "access_denied")
    assert devices_read.get(f"{API}/devices/a/device-groups").status_code == 200
    assert devices_read.get(f"{API}/devices/a/device-groups/{one_group.pk}").status_code == 200


def test_groups_without_key_unauthorised(anon_client, one_group):
    assert_error(anon_client.get(GROUPS), 401, "invalid_auth")
    assert_error(anon_client.get(f"{GROUPS}/{one_group.pk}"), 401, "invalid_auth")
