"""Reads over the group tree: inherited criteria, member devices, and the groups one device belongs to."""

from django.db.models import BooleanField, Case, Exists, OuterRef, Q, Value, When

from devices.models import Device

from .criteria import compile_criteria
from .models import DeviceGroup

# Group conditions evaluated per query when computing one device's membership.
MEMBERSHIP_CHUNK = 300


def attach_inherited_criteria(groups) -> None:
    """Set `inherited_criteria` (ancestors' criteria, root first) on each group, with one query for all of them."""
    groups = [group for group in groups if getattr(group, "inherited_criteria", None) is None]
    non_roots = [group for group in groups if group.parent_id is not None]
    for group in groups:
        group.inherited_criteria = []
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
        group.inherited_criteria = [
            criterion
            for ancestor in ancestors
            if ancestor.tree_id == group.tree_id and ancestor.lft < group.lft and ancestor.rght > group.rght
            for criterion in ancestor.criteria
        ]


def member_condition(group: DeviceGroup) -> Q:
    """The devices of a group: its inherited criteria (root first) and its own, in one condition."""
    attach_inherited_criteria([group])
    return compile_criteria([*group.inherited_criteria, *group.criteria])


def member_devices(group: DeviceGroup):
    return Device.objects.filter(member_condition(group))


class Membership:
    """The groups one device is in, found by walking the tree from the roots: only the children of matching groups
    that have children are read and evaluated, so the cost follows the matching groups, not all groups. Each level
    costs two small queries (the groups' criteria, then one evaluation of all of them against the device)."""

    def __init__(self, device: Device):
        self.matched: dict = {}  # group id -> (parent id, criteria), for every group the device is in
        level = DeviceGroup.objects.filter(parent__isnull=True)
        while level is not None:
            rows = list(level.values_list("id", "parent_id", "criteria", "lft", "rght"))
            outcome = _evaluate(device, [(group_id, criteria) for group_id, _, criteria, _, _ in rows])
            members = [row for row in rows if outcome[row[0]]]
            self.matched.update({group_id: (parent_id, criteria) for group_id, parent_id, criteria, _, _ in members})
            with_children = [group_id for group_id, _, _, lft, rght in members if rght - lft > 1]
            level = DeviceGroup.objects.filter(parent_id__in=with_children) if with_children else None

    @property
    def group_ids(self) -> list:
        return list(self.matched)

    def attach_inherited_criteria(self, groups) -> None:
        """Every ancestor of a member is a member: its inherited criteria come from the walk, with no query."""
        for group in groups:
            chain, parent_id = [], self.matched[group.pk][0]
            while parent_id is not None:
                parent_id, criteria = self.matched[parent_id]
                chain.insert(0, criteria)
            group.inherited_criteria = [criterion for criteria in chain for criterion in criteria]


def _evaluate(device: Device, groups: list[tuple]) -> dict:
    """Whether the device satisfies each (group id, criteria)'s own criteria (its ancestors already matched)."""
    outcome = {group_id: True for group_id, criteria in groups if not criteria}
    pending = [(group_id, criteria) for group_id, criteria in groups if criteria]
    for start in range(0, len(pending), MEMBERSHIP_CHUNK):
        chunk = pending[start : start + MEMBERSHIP_CHUNK]
        tests = {
            f"g{index}": Case(When(compile_criteria(criteria), then=Value(True)), default=Value(False),
                              output_field=BooleanField())
            for index, (_, criteria) in enumerate(chunk)
        }  # fmt: skip
        row = Device.objects.filter(pk=device.pk).annotate(**tests).values(*tests).first() or {}
        outcome.update({group_id: bool(row.get(f"g{index}")) for index, (group_id, _) in enumerate(chunk)})
    return outcome
