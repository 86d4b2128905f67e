"""Member counts of groups, cached: the group tree (1,000 groups) and the dashboard's largest groups show them.

A group is dynamic (its criteria and `q`, and its ancestors'), so its members are known only by counting them: one
query per group, from a few milliseconds to a second at a million devices. A page cannot count a thousand groups, so
each count is stored (`GroupMemberCount`) with the time it began, and a page shows the stored counts. A count is
**stale** when it is older than `DEVMANAGER_GROUP_COUNT_MAX_AGE` seconds, or when the group or one of its ancestors
changed after it began (their `updated_at`: a changed definition or a move). A page recounts its stale groups, never
counted first and then oldest first, until `DEVMANAGER_GROUP_COUNT_BUDGET` seconds have gone (the count in hand is
stopped by the database at the deadline, and its group stays stale); `count_group_members` (cron) recounts them all.
So a count shown is at most the max age old, or is marked stale with its age; devices that change meanwhile are not
seen until the next count. A group's own page counts afresh (its stats) and stores the count.
"""

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from devmanager.db import TimedOut, count_within

from .models import DeviceGroup, GroupMemberCount
from .querysets import member_devices


def with_definition_changed_at(groups):
    """Annotate `definition_changed_at`: the last change of each group or of one of its ancestors, in the same query
    (a subquery over the tree's (tree_id, lft) range)."""
    chain = (
        DeviceGroup.objects.filter(tree_id=OuterRef("tree_id"), lft__lte=OuterRef("lft"), rght__gte=OuterRef("rght"))
        .order_by()
        .values("tree_id")
        .annotate(last=Max("updated_at"))
        .values("last")
    )
    return groups.annotate(definition_changed_at=Subquery(chain))


def group_count_members(
    *, group: DeviceGroup, devices: int | None = None, started: datetime | None = None
) -> GroupMemberCount:
    """Count the group's members now (or store `devices`, a count the caller has just made, which it `started`
    then) and keep the count."""
    started = started or timezone.now()
    if devices is None:
        devices = member_devices(group).count()
    count, _ = GroupMemberCount.objects.update_or_create(
        group_id=group.pk, defaults={"devices": devices, "counted_at": started}
    )
    return count


def attach_member_counts(groups: list[DeviceGroup], budget: float | None = None) -> None:
    """Give each group `member_count` (its stored count or None) and `member_count_stale`, after recounting stale
    groups for at most `budget` seconds (default: `DEVMANAGER_GROUP_COUNT_BUDGET`; 0 recounts none)."""
    budget = settings.DEVMANAGER_GROUP_COUNT_BUDGET if budget is None else budget
    changed = dict(with_definition_changed_at(DeviceGroup.objects.filter(pk__in=[g.pk for g in groups])).values_list(
        "pk", "definition_changed_at"
    ))  # fmt: skip
    stored = {count.group_id: count for count in GroupMemberCount.objects.filter(group__in=[g.pk for g in groups])}
    oldest = timezone.now() - timedelta(seconds=settings.DEVMANAGER_GROUP_COUNT_MAX_AGE)
    for group in groups:
        group.member_count = stored.get(group.pk)
        group.member_count_stale = is_stale(group.member_count, changed.get(group.pk), oldest)
    stale = sorted(
        (group for group in groups if group.member_count_stale),
        key=lambda group: (group.member_count is not None, group.member_count and group.member_count.counted_at),
    )
    deadline = time.monotonic() + budget
    for group in stale:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        started = timezone.now()
        try:
            devices = count_within(member_devices(group), left)
        except TimedOut:
            break  # the group stays stale: a later page, or count_group_members, counts it
        count = group_count_members(group=group, devices=devices, started=started)
        group.member_count, group.member_count_stale = count, False


def is_stale(count: GroupMemberCount | None, definition_changed_at, oldest) -> bool:
    if count is None:
        return True
    return count.counted_at < oldest or (definition_changed_at is not None and count.counted_at < definition_changed_at)


def largest_groups(limit: int, budget: float | None = None) -> list[DeviceGroup]:
    """The `limit` groups with the most members by their stored counts, after recounting stale groups within the
    budget (as the tree does); each with `member_count` and `member_count_stale`. Never-counted groups are left out."""
    groups = list(DeviceGroup.objects.all())
    attach_member_counts(groups, budget)
    counted = [group for group in groups if group.member_count is not None]
    counted.sort(key=lambda group: (-group.member_count.devices, group.name, str(group.pk)))
    return counted[:limit]


def count_all_members(*, stale_only: bool = True) -> int:
    """Recount every group (or only the stale ones); how many were counted. For `count_group_members`."""
    groups = list(DeviceGroup.objects.order_by("tree_id", "lft"))
    if stale_only:
        attach_member_counts(groups, budget=0)
        groups = [group for group in groups if group.member_count_stale]
    for group in groups:
        group_count_members(group=group)
    return len(groups)
