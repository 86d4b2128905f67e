"""Lists of groups, of a group's devices and of one device's groups: sort, filters, bookmarks, and query counts."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices.models import Device
from groups.models import DeviceGroup
from tests.conftest import API, assert_error, mark_key_used
from tests.factories import DeviceFactory, DeviceGroupFactory

pytestmark = pytest.mark.django_db

GROUPS = f"{API}/device-groups"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def crit(field, operand, value):
    return {"field": field, "operand": operand, "value": value}


def get_list(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) <= {"next", "list", "total"} and isinstance(body["next"], str)
    return body


def names(client, **params):
    return [group["name"] for group in get_list(client, GROUPS, page_size=1000, **params)["list"]]


def walk(client, url, **params):
    """Every item of a list, page by page, following the bookmarks; and the number of pages."""
    items, pages = [], 0
    body = get_list(client, url, **params)
    while True:
        items.extend(body["list"])
        pages += 1
        if not body["next"]:
            return items, pages
        body = get_list(client, url, bookmark=body["next"])


def count_queries(client, url, params=None) -> tuple[int, dict]:
    """The queries of one request (the API key's lookup included)."""
    mark_key_used(client)
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    return len(context.captured_queries), response.json()


@pytest.fixture
def dated_groups():
    """Five roots with distinct names and timestamps: created in one order, updated in another."""
    specs = [("delta", 0, 3), ("alpha", 1, 0), ("echo", 2, 4), ("charlie", 3, 1), ("bravo", 4, 2)]
    groups = {}
    for name, created, updated in specs:
        group = DeviceGroupFactory(name=name)
        DeviceGroup.objects.filter(pk=group.pk).update(
            created_at=T0 + timedelta(days=created), updated_at=T0 + timedelta(days=updated)
        )
        groups[name] = group
    return groups


@pytest.fixture
def small_tree():
    """root-a > child-a1 > leaf; root-a > child-a2; root-b > child-b1."""
    root_a = DeviceGroupFactory(name="root-a")
    root_b = DeviceGroupFactory(name="root-b")
    child_a1 = DeviceGroupFactory(name="child-a1", parent=root_a)
    child_a2 = DeviceGroupFactory(name="child-a2", parent=root_a)
    child_b1 = DeviceGroupFactory(name="child-b1", parent=root_b)
    leaf = DeviceGroupFactory(name="Leaf", parent=child_a1)
    return {group.name: group for group in (root_a, root_b, child_a1, child_a2, child_b1, leaf)}


# --- Shape and sort ---------------------------------------------------------------------------------------------


def test_list_empty(api_client):
    assert get_list(api_client, GROUPS) == {"next": "", "list": []}


def test_list_items_are_full_groups(api_client):
    root = DeviceGroupFactory(name="root", criteria=[crit("tags", "contains", "a")])
    child = DeviceGroupFactory(name="child", parent=root, criteria=[crit("status", "eq", "ACTIVE")])

    listed = {group["id"]: group for group in get_list(api_client, GROUPS)["list"]}

    assert listed[str(child.pk)] == api_client.get(f"{GROUPS}/{child.pk}").json()
    assert listed[str(child.pk)]["inherited_criteria"] == [crit("tags", "contains", "a")]
    assert listed[str(root.pk)]["inherited_criteria"] == []


def test_list_default_sort_is_created_at_then_id(api_client, dated_groups):
    assert names(api_client) == ["delta", "alpha", "echo", "charlie", "bravo"]

    DeviceGroup.objects.update(created_at=T0)
    by_id = sorted(dated_groups.values(), key=lambda group: group.pk)
    assert names(api_client) == [group.name for group in by_id]


@pytest.mark.parametrize(
    "sort_by, mode, expected",
    [
        ("name", "asc", ["alpha", "bravo", "charlie", "delta", "echo"]),
        ("name", "desc", ["echo", "delta", "charlie", "bravo", "alpha"]),
        ("created_at", "asc", ["delta", "alpha", "echo", "charlie", "bravo"]),
        ("created_at", "desc", ["bravo", "charlie", "echo", "alpha", "delta"]),
        ("updated_at", "asc", ["alpha", "charlie", "bravo", "delta", "echo"]),
        ("updated_at", "desc", ["echo", "delta", "bravo", "charlie", "alpha"]),
    ],
)
def test_list_sorted(api_client, dated_groups, sort_by, mode, expected):
    assert names(api_client, sort_by=sort_by, sort_mode=mode) == expected


def test_list_sort_ties_broken_by_id(api_client):
    groups = [DeviceGroupFactory(name="same", parent=DeviceGroupFactory(name=f"p{index}")) for index in range(6)]

    ascending, _ = walk(api_client, GROUPS, sort_by="name", page_size=4, filter="name[eq]:same")
    descending, _ = walk(api_client, GROUPS, sort_by="name", sort_mode="desc", page_size=4, filter="name[eq]:same")

    by_id = sorted(str(group.pk) for group in groups)
    assert [group["id"] for group in ascending] == by_id
    assert [group["id"] for group in descending] == by_id[::-1]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"sort_by": "id"}, "sort_by"),
        ({"sort_by": "parent_id"}, "sort_by"),
        ({"sort_by": "creation_timestamp"}, "sort_by"),
        ({"sort_mode": "up"}, "sort_mode"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"bookmark": "forged"}, "bookmark"),
        ({"include": "everything"}, "include"),
    ],
)
def test_list_bad_parameters_rejected(api_client, dated_groups, params, field):
    assert_error(api_client.get(GROUPS, params), 400, "validation_error", field=field)


def test_list_total_count(api_client, small_tree):
    body = get_list(api_client, GROUPS, page_size=2, include="total_count", filter="parent_id[ne]:null")

    assert body["total"] == 4 and len(body["list"]) == 2 and body["next"]


# --- Bookmarks --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sort_by", ["name", "created_at", "updated_at"])
@pytest.mark.parametrize("mode", ["asc", "desc"])
def test_bookmark_walk_returns_every_group_once(api_client, sort_by, mode):
    roots = [DeviceGroupFactory(name=f"g{index % 7}") for index in range(7)]
    for index in range(16):
        DeviceGroupFactory(name=f"g{index % 4}", parent=roots[index % 7])
    DeviceGroup.objects.filter(name="g1").update(created_at=T0, updated_at=T0)  # ties, broken by id

    items, pages = walk(api_client, GROUPS, sort_by=sort_by, sort_mode=mode, page_size=5)

    ids = [group["id"] for group in items]
    assert sorted(ids) == sorted(str(pk) for pk in DeviceGroup.objects.values_list("pk", flat=True))
    assert len(set(ids)) == 23 and pages == 5
    ordering = [f"-{sort_by}", "-id"] if mode == "desc" else [sort_by, "id"]
    assert ids == [str(pk) for pk in DeviceGroup.objects.order_by(*ordering).values_list("pk", flat=True)]


@pytest.mark.parametrize("sort_by", ["name", "created_at"])
def test_bookmark_walk_while_groups_change_returns_survivors_once(api_client, sort_by):
    groups = [DeviceGroupFactory(name=f"g{index:02d}") for index in range(20)]
    doomed = {str(group.pk) for group in groups[3::4]}
    seen, body, step = [], get_list(api_client, GROUPS, sort_by=sort_by, page_size=4), 0
    while True:
        seen.extend(group["id"] for group in body["list"])
        if not body["next"]:
            break
        step += 1
        DeviceGroupFactory(name=f"a-new-{step}", parent=groups[0])  # sorts first by name, last by date
        DeviceGroupFactory(name=f"z-new-{step}")
        if 4 * step - 1 < len(groups):
            assert api_client.delete(f"{GROUPS}/{groups[4 * step - 1].pk}").status_code == 204
        body = get_list(api_client, GROUPS, bookmark=body["next"])

    survivors = {str(group.pk) for group in groups} - doomed
    assert len(seen) == len(set(seen))
    assert survivors <= set(seen)


def test_bookmark_carries_filter(api_client, small_tree):
    items, pages = walk(api_client, GROUPS, filter="parent_id[ne]:null", page_size=1)

    assert {group["name"] for group in items} == {"child-a1", "child-a2", "child-b1", "Leaf"}
    assert pages == 4


def test_bookmark_with_different_filter_rejected(api_client, small_tree):
    bookmark = get_list(api_client, GROUPS, page_size=1, filter="parent_id[eq]:null")["next"]

    response = api_client.get(GROUPS, {"bookmark": bookmark, "filter": "parent_id[ne]:null"})

    assert_error(response, 400, "validation_error", field="filter")


def test_bookmark_of_group_devices_refused_by_group_list(api_client, small_tree):
    DeviceFactory.create_batch(3)
    url = f"{GROUPS}/{small_tree['root-a'].pk}/devices"
    bookmark = get_list(api_client, url, page_size=1)["next"]

    assert_error(api_client.get(GROUPS, {"bookmark": bookmark}), 400, "validation_error", field="bookmark")


# --- Filters ----------------------------------------------------------------------------------------------------


def test_filter_id_eq_and_in(api_client, small_tree):
    a1, b1, leaf = small_tree["child-a1"], small_tree["child-b1"], small_tree["Leaf"]

    assert names(api_client, filter=f"id[eq]:{a1.pk}") == ["child-a1"]
    assert set(names(api_client, filter=f"id[in]:{b1.pk},{leaf.pk}")) == {"child-b1", "Leaf"}
    assert names(api_client, filter=f"id[eq]{str(leaf.pk).upper()}") == ["Leaf"]
    assert names(api_client, filter=f"id[eq]:{uuid.uuid4()}") == []


def test_filter_name(api_client, small_tree):
    assert names(api_client, filter="name[eq]:Leaf") == ["Leaf"]
    assert names(api_client, filter="name[eq]:leaf") == []
    assert set(names(api_client, filter="name[ct_ic]:CHILD-A")) == {"child-a1", "child-a2"}
    assert set(names(api_client, filter="name[contains_ignorecase]=ROOT")) == {"root-a", "root-b"}


def test_filter_parent_id_null_selects_roots(api_client, small_tree):
    assert set(names(api_client, filter="parent_id[eq]:null")) == {"root-a", "root-b"}
    assert set(names(api_client, filter="parent_id[ne]:null")) == {"child-a1", "child-a2", "child-b1", "Leaf"}


def test_filter_parent_id_selects_children(api_client, small_tree):
    root_a = small_tree["root-a"]

    assert set(names(api_client, filter=f"parent_id[eq]:{root_a.pk}")) == {"child-a1", "child-a2"}
    assert set(names(api_client, filter=f"parent_id[in]:{root_a.pk},null")) == {
        "root-a",
        "root-b",
        "child-a1",
        "child-a2",
    }


def test_filter_dates(api_client, dated_groups):
    assert set(names(api_client, filter="created_at[af]:2026-01-03T00:00:00Z")) == {"charlie", "bravo"}
    assert set(names(api_client, filter="updated_at[bf]:20260102T000001Z")) == {"alpha", "charlie"}
    assert names(api_client, filter="created_at[eq]:2026-01-02") == ["alpha"]
    assert names(api_client, filter=["created_at[after]:2026-01-01T12:00:00Z", "updated_at[before]:2026-01-03"]) == [
        "alpha",
        "charlie",
    ]


@pytest.mark.parametrize(
    "value", ["9999-12-31", "9999-12-31T23:59:59Z", "99991231T235959Z", "9999-12-31T23:59:59.999999Z"]
)
def test_filter_date_eq_on_last_day_of_calendar_matches_that_day(api_client, dated_groups, value):
    # Found by tests/fuzz: the end of the day (or second) written lies past the calendar, which was a 500.
    DeviceGroup.objects.filter(pk=dated_groups["echo"].pk).update(created_at=datetime.max.replace(tzinfo=UTC))

    assert names(api_client, filter=f"created_at[eq]:{value}") == ["echo"]


def test_filters_combine(api_client, small_tree):
    root_a = small_tree["root-a"]

    assert names(api_client, filter=[f"parent_id[eq]:{root_a.pk}", "name[ne]:child-a1"]) == ["child-a2"]


@pytest.mark.parametrize(
    "bad",
    [
        "status[eq]:ACTIVE",
        "colour[eq]:red",
        "id[eq]:not-a-uuid",
        "id[in]:",
        "parent_id[eq]:root",
        "created_at[af]:yesterday",
        "updated_at[bf]:2026-13-45",
        "name[jsonpath]:$.x",
        "name[gt]:a",
        "created_at[ct]:2026",
        "name",
    ],
)
def test_bad_filter_rejected_naming_it(api_client, small_tree, bad):
    response = api_client.get(GROUPS, {"filter": ["name[ne]:x", bad]})

    body = assert_error(response, 400, "validation_error", field="filter[1]")
    assert [item["name"] for item in body["fields"]] == ["filter[1]"]


# --- Query counts of the group list -----------------------------------------------------------------------------


@pytest.fixture
def fifty_nested_groups():
    """Five chains of ten levels, each level with criteria."""
    for chain in range(5):
        parent = None
        for level in range(10):
            parent = DeviceGroupFactory(
                name=f"c{chain}-l{level}", parent=parent, criteria=[crit("alias", "ne", f"{chain}-{level}")]
            )


def test_group_list_page_costs_fixed_queries(api_client, fifty_nested_groups, django_assert_max_num_queries):
    mark_key_used(api_client)
    with django_assert_max_num_queries(3):  # the key, the page, the ancestors of the page
        response = api_client.get(GROUPS, {"page_size": 50})

    groups = response.json()["list"]
    assert len(groups) == 50
    assert max(len(group["inherited_criteria"]) for group in groups) == 9


def test_group_list_query_count_independent_of_page_size(api_client, fifty_nested_groups):
    small, small_body = count_queries(api_client, GROUPS, {"page_size": 5, "sort_by": "name"})
    large, large_body = count_queries(api_client, GROUPS, {"page_size": 50, "sort_by": "name"})
    later, _ = count_queries(api_client, GROUPS, {"bookmark": small_body["next"]})

    assert len(small_body["list"]) == 5 and len(large_body["list"]) == 50
    assert small == large == later


def test_group_list_page_of_1000_nested_groups(api_client, django_assert_max_num_queries):
    """The largest page, with its ancestors found in one query (SQLite refuses a 1,000-term OR)."""
    rows = []
    for chain in range(100):
        parent = None
        for level in range(10):
            parent = DeviceGroup(
                name=f"c{chain:02d}-l{level}", parent=parent, level=level, tree_id=chain + 1, lft=0, rght=0,
                criteria=[crit("alias", "ne", f"{chain}-{level}")],
            )  # fmt: skip
            rows.append(parent)
    DeviceGroup.objects.bulk_create(rows)
    DeviceGroup.objects.rebuild()  # bulk_create skips MPTT: number the trees once, as the service would have

    mark_key_used(api_client)
    with django_assert_max_num_queries(3):
        body = get_list(api_client, GROUPS, page_size=1000, sort_by="name")

    assert len(body["list"]) == 1000 and body["next"] == ""
    for group in body["list"]:
        chain, level = (int(part[1:]) for part in group["name"].split("-"))
        assert group["inherited_criteria"] == [crit("alias", "ne", f"{chain}-{above}") for above in range(level)]


def test_group_list_of_roots_costs_fewer_queries(api_client, fifty_nested_groups):
    roots, _ = count_queries(api_client, GROUPS, {"filter": "parent_id[eq]:null"})
    nested, _ = count_queries(api_client, GROUPS, {"filter": "parent_id[ne]:null"})

    assert roots <= nested <= roots + 1


# --- A group's devices ------------------------------------------------------------------------------------------


@pytest.fixture
def deep_group():
    """A group five levels down whose chain selects the devices tagged `member`; 30 members, 5 others."""
    parent = None
    for level in range(5):
        parent = DeviceGroupFactory(name=f"level-{level}", parent=parent, criteria=[crit("alias", "ne", f"x{level}")])
    group = DeviceGroupFactory(name="members", parent=parent, criteria=[crit("tags", "contains", "member")])
    for index in range(30):
        DeviceFactory(id=f"member-{index:02d}", alias=f"alias-{(index * 7) % 30:02d}", tags=["member"])
    for index in range(5):
        DeviceFactory(id=f"other-{index}", tags=["other"])
    return group


def test_group_devices_list_shape(api_client, deep_group):
    body = get_list(api_client, f"{GROUPS}/{deep_group.pk}/devices", page_size=10)

    assert len(body["list"]) == 10 and body["next"]
    device = body["list"][0]
    assert device == api_client.get(f"{API}/devices/{device['id']}").json()


def test_group_devices_default_sort_is_creation_timestamp(api_client, deep_group):
    Device.objects.filter(pk__in=["member-03", "member-17"]).update(creation_timestamp=T0)  # a tie, broken by id

    listed = [device["id"] for device in walk(api_client, f"{GROUPS}/{deep_group.pk}/devices", page_size=7)[0]]

    ordered = Device.objects.filter(pk__startswith="member-").order_by("creation_timestamp", "id")
    assert listed == list(ordered.values_list("pk", flat=True))
    assert listed[:2] == ["member-03", "member-17"]


@pytest.mark.parametrize("sort_by", ["id", "alias", "status", "dms_owner", "creation_timestamp", "updated_timestamp"])
@pytest.mark.parametrize("mode", ["asc", "desc"])
def test_group_devices_bookmark_walk_sorted(api_client, deep_group, sort_by, mode):
    url = f"{GROUPS}/{deep_group.pk}/devices"

    items, pages = walk(api_client, url, sort_by=sort_by, sort_mode=mode, page_size=4)

    assert pages == 8
    ids = [device["id"] for device in items]
    assert sorted(ids) == [f"member-{index:02d}" for index in range(30)]
    ordering = [f"-{sort_by}", "-id"] if mode == "desc" else [sort_by, "id"]
    assert ids == list(Device.objects.filter(pk__in=ids).order_by(*ordering).values_list("pk", flat=True))


def test_group_devices_sorted_by_alias(api_client, deep_group):
    body = get_list(api_client, f"{GROUPS}/{deep_group.pk}/devices", sort_by="alias", sort_mode="desc", page_size=3)

    assert [device["alias"] for device in body["list"]] == ["alias-29", "alias-28", "alias-27"]


def test_group_devices_total_count(api_client, deep_group):
    url = f"{GROUPS}/{deep_group.pk}/devices"
    body = get_list(api_client, url, page_size=5, include="total_count")
    filtered = get_list(api_client, url, page_size=5, include="total_count", filter="alias[in]:alias-01,alias-02")

    assert body["total"] == 30 and len(body["list"]) == 5
    assert filtered["total"] == 2 and filtered["next"] == ""
    assert "total" not in get_list(api_client, url)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"sort_by": "name"}, "sort_by"),
        ({"sort_mode": "sideways"}, "sort_mode"),
        ({"filter": "name[eq]:x"}, "filter[0]"),
        ({"filter": "metadata[jsonpath]:$["}, "filter[0]"),
        ({"bookmark": "nope"}, "bookmark"),
    ],
)
def test_group_devices_bad_parameters_rejected(api_client, deep_group, params, field):
    assert_error(api_client.get(f"{GROUPS}/{deep_group.pk}/devices", params), 400, "validation_error", field=field)


def test_group_devices_bookmark_of_other_group_rejected(api_client, deep_group):
    other = DeviceGroupFactory(name="everything")
    bookmark = get_list(api_client, f"{GROUPS}/{other.pk}/devices", page_size=1)["next"]

    response = api_client.get(f"{GROUPS}/{deep_group.pk}/devices", {"bookmark": bookmark})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_group_devices_page_costs_fixed_queries(api_client, deep_group, django_assert_max_num_queries):
    mark_key_used(api_client)
    # The key, the group, its ancestors, the count, the page, the page's recent events.
    with django_assert_max_num_queries(6):
        response = api_client.get(
            f"{GROUPS}/{deep_group.pk}/devices", {"page_size": 30, "include": "total_count", "sort_by": "alias"}
        )

    assert response.status_code == 200 and len(response.json()["list"]) == 30


def test_group_devices_query_count_independent_of_page_size(api_client, deep_group):
    url = f"{GROUPS}/{deep_group.pk}/devices"
    small, small_body = count_queries(api_client, url, {"page_size": 5})
    large, large_body = count_queries(api_client, url, {"page_size": 30})
    later, _ = count_queries(api_client, url, {"bookmark": small_body["next"]})

    assert len(small_body["list"]) == 5 and len(large_body["list"]) == 30
    assert small == large == later


# --- One device's groups ----------------------------------------------------------------------------------------

DEPTH = 4


@pytest.fixture
def membership_tree():
    """63 groups, depth 4: 3 roots by owner > 4 by tag > 2 by status > 1 by alias; criteria at every level."""
    for dms in ("dms-a", "dms-b", "dms-c"):
        root = DeviceGroupFactory(name=dms, criteria=[crit("dms_owner", "eq", dms)])
        for tag in ("t0", "t1", "t2", "t3"):
            by_tag = DeviceGroupFactory(name=tag, parent=root, criteria=[crit("tags", "contains", tag)])
            for status in ("NO_IDENTITY", "ACTIVE"):
                by_status = DeviceGroupFactory(name=status, parent=by_tag, criteria=[crit("status", "eq", status)])
                DeviceGroupFactory(name="named", parent=by_status, criteria=[crit("alias", "ct", "sensor")])
    assert DeviceGroup.objects.count() == 63
    assert max(DeviceGroup.objects.values_list("level", flat=True)) == DEPTH - 1


def membership(client, device_id) -> tuple[int, set[str]]:
    queries, body = count_queries(client, f"{API}/devices/{device_id}/device-groups")
    paths = set()
    for link in body["list"]:
        group = DeviceGroup.objects.get(pk=link["group_id"])
        paths.add("/".join(ancestor.name for ancestor in group.get_ancestors(include_self=True)))
    return queries, paths


def test_membership_of_device_deep_in_tree(api_client, membership_tree):
    DeviceFactory(id="deep", dms_owner="dms-b", tags=["t1", "t3"], alias="a sensor")

    queries, paths = membership(api_client, "deep")

    assert paths == {
        "dms-b",
        "dms-b/t1",
        "dms-b/t3",
        "dms-b/t1/NO_IDENTITY",
        "dms-b/t3/NO_IDENTITY",
        "dms-b/t1/NO_IDENTITY/named",
        "dms-b/t3/NO_IDENTITY/named",
    }
    # Grows with the depth, never with the number of groups: per level, its groups' criteria and one evaluation
    # of all of them; then the device, one probe below the deepest matches, the matches and their ancestors.
    assert queries <= 2 * DEPTH + 4


def test_membership_query_count_follows_depth_not_size(api_client, membership_tree):
    DeviceFactory(id="deep", dms_owner="dms-b", tags=["t1"], alias="a sensor")
    before, _ = membership(api_client, "deep")
    for index in range(60):  # more groups, none deeper
        DeviceGroupFactory(name=f"extra-{index}", parent=DeviceGroup.objects.get(name="dms-a"))

    after, paths = membership(api_client, "deep")

    assert after == before and len(paths) == 4


def test_membership_skips_subtrees_of_non_matching_roots(api_client, membership_tree):
    DeviceFactory(id="stranger", dms_owner="dms-z", tags=["t1"], alias="a sensor")

    queries, paths = membership(api_client, "stranger")

    # The key, the device, the tree, the roots' criteria: nothing below a root that does not match is evaluated.
    assert paths == set() and queries <= 4
    for index in range(60):
        DeviceGroupFactory(name=f"extra-{index}", parent=DeviceGroup.objects.get(name="dms-c"))
    assert membership(api_client, "stranger")[0] == queries


def test_membership_stops_at_first_non_matching_level(api_client, membership_tree):
    DeviceFactory(id="shallow", dms_owner="dms-a", tags=["none"], alias="a sensor")
    root_only, paths = membership(api_client, "shallow")
    DeviceFactory(id="stranger", dms_owner="dms-z")
    nothing, _ = membership(api_client, "stranger")

    assert paths == {"dms-a"}
    assert root_only <= nothing + 3  # one more level evaluated, and the one matching group loaded


def test_membership_agrees_with_group_members(api_client, membership_tree):
    DeviceFactory(id="d1", dms_owner="dms-c", tags=["t0", "t2"], alias="sensor 1")
    DeviceFactory(id="d2", dms_owner="dms-c", tags=["t0"], alias="gateway")
    Device.objects.filter(pk="d2").update(status="ACTIVE")

    for device_id in ("d1", "d2"):
        links = api_client.get(f"{API}/devices/{device_id}/device-groups").json()["list"]
        linked = {link["group_id"] for link in links}
        for group in DeviceGroup.objects.all():
            response = api_client.get(f"{GROUPS}/{group.pk}/devices", {"filter": f"id[eq]:{device_id}"})
            assert (str(group.pk) in linked) == bool(response.json()["list"]), (device_id, group.name)


# --- One device's groups, as a list ----------------------------------------------------------------------------


@pytest.fixture
def device_in_every_group(small_tree):
    return DeviceFactory(id="member-of-all")


def test_device_groups_walk_by_bookmarks(api_client, device_in_every_group, small_tree):
    url = f"{API}/devices/member-of-all/device-groups"
    items, pages = walk(api_client, url, page_size=2, sort_by="name")

    assert pages == 3
    assert [item["group"]["name"] for item in items] == sorted(small_tree, key=lambda name: name)
    assert all(item["device_id"] == "member-of-all" for item in items)


def test_device_groups_inherited_criteria_from_the_walk(api_client, device_in_every_group, small_tree):
    small_tree["root-a"].criteria = [crit("id", "ct", "member")]
    small_tree["root-a"].save()
    items = get_list(api_client, f"{API}/devices/member-of-all/device-groups", filter="name[eq]:Leaf")["list"]

    assert [item["group"]["inherited_criteria"] for item in items] == [[crit("id", "ct", "member")]]


def test_device_groups_filter_and_total(api_client, device_in_every_group, small_tree):
    body = get_list(
        api_client, f"{API}/devices/member-of-all/device-groups", filter="parent_id[eq]:null", include="total_count"
    )

    assert {item["group"]["name"] for item in body["list"]} == {"root-a", "root-b"}
    assert body["total"] == 2


@pytest.mark.parametrize(("params", "field"), [({"page_size": "0"}, "page_size"), ({"sort_by": "id"}, "sort_by")])
def test_device_groups_bad_list_parameters_rejected(api_client, device_in_every_group, params, field):
    response = api_client.get(f"{API}/devices/member-of-all/device-groups", params)

    assert_error(response, 400, "validation_error", field=field)
