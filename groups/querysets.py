"""Reads over the group tree: inherited definitions, member devices, and the groups one device belongs to."""

from django.db.models import BooleanField, Case, Exists, OuterRef, Q, Value, When

from devices.models import Device

from .criteria import compile_definition
from .models import DeviceGroup

# Group conditions evaluated per query when computing one device's membership.
MEMBERSHIP_CHUNK = 300


def attach_inherited(groups) -> None:
    """Set `inherited_criteria` (the ancestors' criteria, root first) and `inherited_q` (their non-empty `q`, root
    first) on each group, with one query for all of them."""
    groups = [group for group in groups if getattr(group, "inherited_criteria", None) is None]
    non_roots = [group for group in groups if group.parent_id is not None]
    for group in groups:
        group.inherited_criteria, group.inherited_q = [], []
    if not non_roots:
        return
    # An ancestor is a group with one of these inside its interval. Not one OR term per group: SQLite refuses
    # expressions nested 1,000 deep, and a page may hold 1,000 groups.
    inside = DeviceGroup.objects.filter(
        pk__in=[group.pk for group in non_roots],
        tree_id=OuterRef("tree_id"),
        lft__gt=OuterRef("lft"),
        lft__lt=OuterRef("rght"),
    )
    trees = {group.tree_id for group in non_roots}
    ancestors = list(DeviceGroup.objects.filter(Exists(inside), tree_id__in=trees).order_by("tree_id", "lft"))
    for group in non_roots:
        chain = [
            ancestor
            for ancestor in ancestors
            if ancestor.tree_id == group.tree_id and ancestor.lft < group.lft and ancestor.rght > group.rght
        ]
        group.inherited_criteria = [criterion for ancestor in chain for criterion in ancestor.criteria]
        group.inherited_q = [ancestor.q for ancestor in chain if ancestor.q]


def member_condition(group: DeviceGroup) -> Q:
    """The devices of a group: its inherited criteria and `q` (root first) and its own, in one condition."""
    attach_inherited([group])
    condition = compile_definition([*group.inherited_criteria, *group.criteria], group.q)
    for q in group.inherited_q:
        condition &= compile_definition([], q)
    return condition


def member_devices(group: DeviceGroup):
    return Device.objects.filter(member_condition(group))


class Membership:
    """The groups one device is in, found by walking the tree from the roots: only the children of matching groups
    that have children are read and evaluated, so the cost follows the matching groups, not all groups. Each level
    costs two small queries (the groups' definitions, then one evaluation of all of them against the device)."""

    def __init__(self, device: Device):
        self.matched: dict = {}  # group id -> (parent id, criteria, q), for every group the device is in
        level = DeviceGroup.objects.filter(parent__isnull=True)
        while level is not None:
            rows = list(level.values_list("id", "parent_id", "criteria", "q", "lft", "rght"))
            outcome = _evaluate(device, [(group_id, criteria, q) for group_id, _, criteria, q, _, _ in rows])
            members = [row for row in rows if outcome[row[0]]]
            self.matched.update({row[0]: row[1:4] for row in members})
            with_children = [row[0] for row in members if row[5] - row[4] > 1]
            level = DeviceGroup.objects.filter(parent_id__in=with_children) if with_children else None

    @property
    def group_ids(self) -> list:
        return list(self.matched)

    def attach_inherited(self, groups) -> None:
        """Every ancestor of a member is a member: its inherited definitions come from the walk, with no query."""
        for group in groups:
            chain, parent_id = [], self.matched[group.pk][0]
            while parent_id is not None:
                parent_id, criteria, q = self.matched[parent_id]
                chain.insert(0, (criteria, q))
            group.inherited_criteria = [criterion for criteria, _ in chain for criterion in criteria]
            group.inherited_q = [q for _, q in chain if q]


def _evaluate(device: Device, groups: list[tuple]) -> dict:
    """Whether the device satisfies each (group id, criteria, q)'s own definition (its ancestors already matched)."""
    outcome = {group_id: True for group_id, criteria, q in groups if not criteria and not q}
    pending = [(group_id, criteria, q) for group_id, criteria, q in groups if criteria or q]
    for start in range(0, len(pending), MEMBERSHIP_CHUNK):
        chunk = pending[start : start + MEMBERSHIP_CHUNK]
        tests = {
            f"g{index}": Case(When(compile_definition(criteria, q), then=Value(True)), default=Value(False),
                              output_field=BooleanField())
            for index, (_, criteria, q) in enumerate(chunk)
        }  # fmt: skip
        row = Device.objects.filter(pk=device.pk).annotate(**tests).values(*tests).first() or {}
        outcome.update({group_id: bool(row.get(f"g{index}")) for index, (group_id, _, _) in enumerate(chunk)})
    return outcome
