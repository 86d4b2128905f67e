"""Concurrent writes to the group tree through the API keep the MPTT fields consistent (PostgreSQL only)."""

from collections import defaultdict

import pytest
from django.db import connection
from rest_framework.test import APIClient

from groups.models import DeviceGroup
from tests.concurrency import run_concurrently
from tests.conftest import API
from tests.factories import DeviceGroupFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises every write transaction"),
]

GROUPS = f"{API}/device-groups"


def crit(field, operand, value):
    return {"field": field, "operand": operand, "value": value}


def run_tasks(plaintext, tasks) -> list:
    """Run each task(client) in its own thread, released together; the exceptions they raised."""
    return run_concurrently(lambda client, index: tasks[index](client), plaintext, len(tasks))


def assert_tree_consistent():
    """The MPTT fields agree with the parent links: per tree, lft/rght number 1..2n once each; every node sits
    inside its parent's interval, one level below it; and the intervals nest exactly as the parent links do."""
    rows = {row["id"]: row for row in DeviceGroup.objects.values("id", "parent_id", "tree_id", "lft", "rght", "level")}
    trees = defaultdict(list)
    for row in rows.values():
        trees[row["tree_id"]].append(row)
        assert row["lft"] < row["rght"], row
        parent = rows.get(row["parent_id"])
        if row["parent_id"] is None:
            assert (row["level"], row["lft"]) == (0, 1), row
            continue
        assert parent is not None, row
        assert row["tree_id"] == parent["tree_id"], row
        assert row["level"] == parent["level"] + 1, row
        assert parent["lft"] < row["lft"] < row["rght"] < parent["rght"], row
    for tree in trees.values():
        assert sum(row["parent_id"] is None for row in tree) == 1
        assert sorted(value for row in tree for value in (row["lft"], row["rght"])) == list(range(1, 2 * len(tree) + 1))
        for row in tree:
            # The nearest enclosing interval is the parent.
            enclosing = [other for other in tree if other["lft"] < row["lft"] and other["rght"] > row["rght"]]
            nearest = max(enclosing, key=lambda other: other["lft"], default=None)
            assert (nearest["id"] if nearest else None) == row["parent_id"], row


def snapshot_tree() -> dict:
    return {
        row["id"]: (row["tree_id"], row["lft"], row["rght"], row["level"], row["parent_id"])
        for row in DeviceGroup.objects.values("id", "tree_id", "lft", "rght", "level", "parent_id")
    }


def assert_rebuild_changes_only_numbering():
    """`rebuild()` recomputes the MPTT fields from the parent links: the nesting it finds must be the stored one."""
    before = snapshot_tree()
    DeviceGroup.objects.rebuild()
    after = snapshot_tree()

    assert after.keys() == before.keys()
    assert {pk: (level, parent) for pk, (_, _, _, level, parent) in after.items()} == {
        pk: (level, parent) for pk, (_, _, _, level, parent) in before.items()
    }

    def descendants(tree):
        return {
            pk: (rght - lft - 1) // 2
            for pk, (_, lft, rght, _, _) in tree.items()  # a node's descendant count follows from its interval
        }

    assert descendants(after) == descendants(before)


@pytest.fixture
def forest():
    """Four roots that receive children, and four movable subtrees of three levels."""
    roots = [
        DeviceGroupFactory(name=f"root-{index}", criteria=[crit("alias", "ne", f"r{index}")]) for index in range(4)
    ]
    subtrees = []
    for index in range(4):
        top = DeviceGroupFactory(name=f"subtree-{index}", parent=roots[index])
        middle = DeviceGroupFactory(name="middle", parent=top)
        DeviceGroupFactory(name="leaf-1", parent=middle)
        DeviceGroupFactory(name="leaf-2", parent=middle)
        subtrees.append(top)
    assert_tree_consistent()
    return roots, subtrees


def test_concurrent_creates_and_moves_keep_tree_consistent(api_key, forest):
    roots, subtrees = forest
    plaintext = api_key()
    created, moves = [], []

    def creator(parent):
        def task(client):
            for index in range(12):
                response = client.post(GROUPS, {"name": f"child-{index}", "parent_id": str(parent.pk)}, format="json")
                assert response.status_code == 201, response.content
                created.append(response.json()["id"])

        return task

    def mover(subtree, offset):
        def task(client):
            for step in range(12):
                target = roots[(offset + step) % len(roots)] if step % 3 else None
                body = {"parent_id": str(target.pk) if target else None}
                response = client.put(f"{GROUPS}/{subtree.pk}", body, format="json")
                assert response.status_code == 200, response.content
                moves.append((subtree.pk, target.pk if target else None))

        return task

    tasks = [creator(root) for root in roots] + [mover(subtree, index) for index, subtree in enumerate(subtrees)]
    failures = run_tasks(plaintext, tasks)

    assert failures == []
    assert len(created) == 48 and len(moves) == 48
    assert DeviceGroup.objects.count() == 4 + 16 + 48  # no group lost
    assert DeviceGroup.objects.filter(pk__in=created).count() == 48
    for root in roots:
        assert DeviceGroup.objects.filter(parent=root, name__startswith="child-").count() == 12
    for subtree in subtrees:
        # Each subtree ends under the root of its last move, still three levels deep.
        last_target = roots[(subtrees.index(subtree) + 11) % len(roots)]
        stored = DeviceGroup.objects.get(pk=subtree.pk)
        assert stored.parent_id == last_target.pk
        assert stored.get_descendant_count() == 3
    assert_tree_consistent()
    assert_rebuild_changes_only_numbering()


def test_concurrent_moves_inherit_criteria_of_final_parent(api_key, forest):
    roots, subtrees = forest
    plaintext = api_key()

    def shuffle(subtree, offset):
        def task(client):
            for step in range(10):
                target = roots[(offset + step) % len(roots)]
                response = client.put(f"{GROUPS}/{subtree.pk}", {"parent_id": str(target.pk)}, format="json")
                assert response.status_code == 200, response.content

        return task

    assert run_tasks(plaintext, [shuffle(subtree, index) for index, subtree in enumerate(subtrees)]) == []

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    for subtree in subtrees:
        leaf = DeviceGroup.objects.get(parent__parent=subtree, name="leaf-1")
        root = DeviceGroup.objects.get(pk=subtree.pk).parent
        body = client.get(f"{GROUPS}/{leaf.pk}").json()
        assert body["inherited_criteria"] == root.criteria
    assert_tree_consistent()
    assert_rebuild_changes_only_numbering()


def test_concurrent_deletes_creates_and_moves_keep_tree_consistent(api_key, forest):
    roots, subtrees = forest
    plaintext = api_key()
    middles = list(DeviceGroup.objects.filter(name="middle"))

    def delete_middle(middle):
        def task(client):
            assert client.delete(f"{GROUPS}/{middle.pk}").status_code == 204  # its leaves move up

        return task

    def creator(parent):
        def task(client):
            for index in range(8):
                response = client.post(GROUPS, {"name": f"new-{index}", "parent_id": str(parent.pk)}, format="json")
                assert response.status_code == 201, response.content

        return task

    def mover(subtree, target):
        def task(client):
            for _ in range(4):
                for parent in (target, None):
                    body = {"parent_id": str(parent.pk) if parent else None}
                    assert client.put(f"{GROUPS}/{subtree.pk}", body, format="json").status_code == 200

        return task

    tasks = [
        *(delete_middle(middle) for middle in middles),
        *(creator(root) for root in roots),
        *(mover(subtree, roots[(index + 1) % 4]) for index, subtree in enumerate(subtrees)),
    ]
    assert run_tasks(plaintext, tasks) == []

    assert DeviceGroup.objects.count() == 4 + 16 - 4 + 32
    for subtree in subtrees:
        stored = DeviceGroup.objects.get(pk=subtree.pk)
        assert stored.is_root_node()
        assert sorted(child.name for child in stored.get_children()) == ["leaf-1", "leaf-2"]
    assert_tree_consistent()
    assert_rebuild_changes_only_numbering()
