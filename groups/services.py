"""Writes to the group tree. Every write takes the tree lock, so concurrent moves keep the MPTT fields consistent."""

import copy
import uuid

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from devices.changes import Change, publish
from devices.services import if_match_satisfied
from devmanager.errors import Conflict, Invalid, NotFound, PreconditionFailed

from .criteria import criterion_error, q_error
from .models import MAX_DEPTH, DeviceGroup

TREE_LOCK_KEY = 0x6465766772  # any constant shared by all writers of the tree


def _lock_tree() -> None:
    # SQLite serialises write transactions anyway; PostgreSQL needs an explicit lock for the whole tree.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_LOCK_KEY])


def _locked_group(group_id, if_match: str | None = None) -> DeviceGroup:
    _lock_tree()
    try:
        group = DeviceGroup.objects.get(pk=group_id)
    except DeviceGroup.DoesNotExist as exc:
        raise NotFound(f"No device group {group_id}.") from exc
    if not if_match_satisfied(if_match, group.etag):
        raise PreconditionFailed()
    return group


def _parent(parent_id) -> DeviceGroup | None:
    if parent_id is None:
        return None
    parent = DeviceGroup.objects.filter(pk=parent_id).first()
    if parent is None:
        raise Invalid({"parent_id": [f"no device group {parent_id}"]})
    return parent


def _check_name_free(name: str, parent: DeviceGroup | None, exclude=()) -> None:
    siblings = DeviceGroup.objects.filter(parent=parent, name=name).exclude(pk__in=exclude)
    if siblings.exists():
        raise Conflict(f"A sibling group is already named {name!r}.")


def _save(group: DeviceGroup) -> None:
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError as exc:
        raise Conflict("A group with that id, or a sibling with that name, already exists.") from exc


def _touch_descendants(group: DeviceGroup) -> None:
    # Descendants show their ancestors' criteria and q: when those change, so do their representations and ETags.
    group.get_descendants().update(version=F("version") + 1)


def group_check_definition(criteria: list, q: str) -> None:
    """Raise unless the criteria and `q` are valid in the filter language (each criterion an object of strings
    `field`, `operand`, `value`). The API's serializer and the admin's form check the same with the same functions
    first, to name the input at fault in their own terms; this guards every other caller."""
    errors: dict = {}
    for index, criterion in enumerate(criteria):
        if message := criterion_error(criterion):
            errors.setdefault("criteria", {})[index] = [message]
    if q and (message := q_error(q)):
        errors["q"] = [message]
    if errors:
        raise Invalid(errors)


def group_check_placement(*, group: DeviceGroup | None, name: str, parent: DeviceGroup | None) -> None:
    """Raise unless `group` (None: a new one) may be named `name` under `parent`: no cycle, the depth limit, and a
    name free among its future siblings. Shared by the services and the admin's forms."""
    if group is not None and parent is not None and (parent.pk == group.pk or parent.is_descendant_of(group)):
        raise Invalid({"parent_id": ["a group cannot move under itself or one of its descendants"]})
    height = 0
    if group is not None and group.pk:
        height = max(group.get_descendants(include_self=True).values_list("level", flat=True)) - group.level
    if (parent.level + 1 if parent else 0) + height >= MAX_DEPTH:
        raise Invalid({"parent_id": [f"groups nest at most {MAX_DEPTH} levels"]})
    if group is None or name != group.name or parent != group.parent:
        _check_name_free(name, parent, exclude=[group.pk] if group is not None else [])


@transaction.atomic
def group_create(
    *,
    name: str,
    id: uuid.UUID | None = None,
    description: str = "",
    parent_id=None,
    criteria: list | None = None,
    q: str = "",
    actor: str = "",
) -> DeviceGroup:
    group_check_definition(criteria or [], q)
    _lock_tree()
    parent = _parent(parent_id)
    group_check_placement(group=None, name=name, parent=parent)
    if id is not None and DeviceGroup.objects.filter(pk=id).exists():
        raise Conflict(f"A device group with id {id} already exists.")
    now = timezone.now()
    group = DeviceGroup(
        id=id or uuid.uuid4(),
        name=name,
        description=description,
        parent=parent,
        criteria=criteria or [],
        q=q,
        created_at=now,
        updated_at=now,
    )
    _save(group)
    publish([Change("group.created", str(group.pk), actor, group=group, at=now)])
    return group


_UNSET = object()
# The fields of a group whose change the feed names (`parent_id` for a move).
GROUP_FIELDS = ("name", "description", "criteria", "q")


@transaction.atomic
def group_update(*, group_id, if_match: str | None = None, parent_id=_UNSET, actor: str = "", **fields) -> DeviceGroup:
    """Replace the fields given; `parent_id` moves the group with its subtree (None: to the roots)."""
    group_check_definition(fields.get("criteria", []), fields.get("q", ""))
    group = _locked_group(group_id, if_match)
    parent = group.parent if parent_id is _UNSET else _parent(parent_id)
    group_check_placement(group=group, name=fields.get("name", group.name), parent=parent)
    moved = parent != group.parent
    fields = {field: value for field, value in fields.items() if getattr(group, field) != value}
    if not fields and not moved:
        return group  # nothing changes: the same ETag and updated_at
    changes = {field: (getattr(group, field), value) for field, value in fields.items()}
    if moved:
        changes["parent_id"] = (_id(group.parent_id), _id(parent.pk if parent else None))
    for field, value in fields.items():
        setattr(group, field, value)
    if moved:
        group.move_to(parent, "last-child")
        group.refresh_from_db()
        for field, value in fields.items():
            setattr(group, field, value)
    group.version += 1
    group.updated_at = timezone.now()
    _save(group)
    if moved or "criteria" in fields or "q" in fields:
        _touch_descendants(group)
    publish([Change("group.updated", str(group.pk), actor, group=group, changes=changes, at=group.updated_at)])
    return group


def _id(value) -> str | None:
    return None if value is None else str(value)


@transaction.atomic
def group_delete(*, group_id, cascade: bool = False, if_match: str | None = None, actor: str = "") -> None:
    """Delete a group; its children move up to its parent (or become roots), unless `cascade` deletes them too.
    The feed gets `group.deleted` for each group deleted (descendants first) and `group.updated` for each child moved
    up."""
    group = _locked_group(group_id, if_match)
    deleted = Change("group.deleted", str(group.pk), actor, group=copy.copy(group))  # as it was: named, placed
    changes = []
    if cascade:
        descendants = list(group.get_descendants().order_by("-level", "-lft"))
        changes = [Change("group.deleted", str(descendant.pk), actor, group=descendant) for descendant in descendants]
    else:
        _touch_descendants(group)
        # Free its name for a child of the same name moving up beside it (a group's name is never empty).
        DeviceGroup.objects.filter(pk=group.pk).update(name="")
        children = list(group.get_children())
        for child in children:
            _check_name_free(child.name, group.parent, exclude=[child.pk, group.pk])
            child.move_to(group.parent, "last-child")
        # A child's parent_id changed: an update of the child (its version was bumped with the descendants').
        DeviceGroup.objects.filter(pk__in=[child.pk for child in children]).update(updated_at=timezone.now())
        group.refresh_from_db()
        moved = DeviceGroup.objects.filter(pk__in=[child.pk for child in children])  # as they are now, one query
        changes = [
            Change("group.updated", str(child.pk), actor, group=child,
                   changes={"parent_id": (str(group.pk), _id(group.parent_id))})
            for child in moved.order_by("tree_id", "lft")
        ]  # fmt: skip
    publish([*changes, deleted])  # before the rows go: the events show the groups as they were
    group.delete()
