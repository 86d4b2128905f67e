"""The fleet actions (contract, section 9): each one's parameters, and what it does to a batch of devices. A batch
goes through the devices' services, the door every write of a device takes: a job is a loop of batches over that
door, with the single-device operations' rules and events, not a second implementation of them."""

from collections.abc import Callable
from dataclasses import dataclass

from rest_framework import serializers

from devices import services
from devices.api.serializers import PatchOperationField, dms_id_field, tags_field
from devices.validators import MAX_TAGS
from devmanager.access import check_dms_allowed
from devmanager.api.serializers import ListField, StrictBooleanField, StrictSerializer
from devmanager.errors import Invalid

from .models import Action

Apply = Callable[[list[str], dict, str], list[services.Outcome]]  # (device ids, params, actor) -> each outcome


class TagsParams(StrictSerializer):
    tags = tags_field(min_length=1)


class DmsParams(StrictSerializer):
    dms_id = dms_id_field(allow_blank=True)


class PatchParams(StrictSerializer):
    patches = ListField(child=PatchOperationField(), min_length=1, help_text="RFC 6902 operations.")


class NoParams(StrictSerializer):
    pass


class DeleteParams(StrictSerializer):
    force = StrictBooleanField(
        required=False, default=False, help_text="Delete devices that are not decommissioned too."
    )


def _add_tags(device_ids: list[str], params: dict, actor: str) -> list[services.Outcome]:
    def fields_of(device) -> dict:
        tags = device.tags + [tag for tag in params["tags"] if tag not in device.tags]
        if len(tags) > MAX_TAGS:
            raise Invalid({"tags": [f"the device would have more than {MAX_TAGS} tags"]})
        return {"tags": tags}

    return services.devices_set_fields(device_ids=device_ids, fields=("tags",), fields_of=fields_of, source=actor)


def _remove_tags(device_ids: list[str], params: dict, actor: str) -> list[services.Outcome]:
    removed = set(params["tags"])

    def fields_of(device) -> dict:
        return {"tags": [tag for tag in device.tags if tag not in removed]}

    return services.devices_set_fields(device_ids=device_ids, fields=("tags",), fields_of=fields_of, source=actor)


def _set_dms(device_ids: list[str], params: dict, actor: str) -> list[services.Outcome]:
    return services.devices_set_fields(
        device_ids=device_ids,
        fields=("dms_owner",),
        fields_of=lambda device: {"dms_owner": params["dms_id"]},
        source=actor,
    )


def _patch_metadata(device_ids: list[str], params: dict, actor: str) -> list[services.Outcome]:
    return services.devices_patch_metadata(device_ids=device_ids, operations=params["patches"], source=actor)


def _decommission(device_ids: list[str], params: dict, actor: str) -> list[services.Outcome]:
    return services.devices_decommission(device_ids=device_ids, source=actor)


def _delete(device_ids: list[str], params: dict, actor: str) -> list[services.Outcome]:
    return services.devices_delete(device_ids=device_ids, force=params["force"], source=actor)


def _may_set_dms(params: dict) -> None:
    check_dms_allowed(params["dms_id"], field="params.dms_id")


@dataclass(frozen=True)
class ActionSpec:
    params: type[StrictSerializer]
    apply: Apply
    authorise: Callable[[dict], None] = lambda params: None  # raises AccessDenied for params the caller may not use


ACTIONS: dict[str, ActionSpec] = {
    Action.ADD_TAGS: ActionSpec(TagsParams, _add_tags),
    Action.REMOVE_TAGS: ActionSpec(TagsParams, _remove_tags),
    Action.SET_DMS: ActionSpec(DmsParams, _set_dms, _may_set_dms),
    Action.PATCH_METADATA: ActionSpec(PatchParams, _patch_metadata),
    Action.DECOMMISSION: ActionSpec(NoParams, _decommission),
    Action.DELETE: ActionSpec(DeleteParams, _delete),
}


def validated_params(action: str, params) -> dict:
    """The action's params, checked and with their defaults: a ValidationError naming `params.<field>` otherwise."""
    serializer = ACTIONS[action].params(data={} if params is None else params)
    if not serializer.is_valid():
        raise serializers.ValidationError({"params": serializer.errors})
    return dict(serializer.validated_data)
