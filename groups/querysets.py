"""Reads over the group tree: inherited criteria, member devices, and the groups one device belongs to."""

from functools import reduce
from operator import or_

from django.db.models import BooleanField, Case, Q, Value, When

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
    within = [Q(tree_id=group.tree_id, lft__lt=group.lft, rght__gt=group.rght) for group in non_roots]
    ancestors = list(DeviceGroup.objects.filter(reduce(or_, within)).order_by("tree_id", "lft"))
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


def groups_of_device(device: Device) -> list[DeviceGroup]:
    """The groups a device is in, walking the tree top-down: only the children of matching groups are read and
    evaluated, so the cost follows the matching groups, not all groups. Each level costs two small queries (its
    groups' criteria, then one evaluation of all of them against the device)."""
    matched, parents = [], [None]
    while parents:
        level = DeviceGroup.objects.filter(
            Q(parent__isnull=True) if parents == [None] else Q(parent_id__in=parents)
        ).values_list("id", "criteria")
        outcome = _evaluate(device, list(level))
        parents = [group_id for group_id, is_member in outcome.items() if is_member]
        matched.extend(parents)
    groups = list(DeviceGroup.objects.filter(pk__in=matched).order_by("tree_id", "lft"))
    attach_inherited_criteria(groups)
    return groups


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
