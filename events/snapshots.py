"""An event's `data` (contract, section 7): the device after the change (before it, for a deletion), or the adapter
and its device's id, or the group; and the changed fields' old and new values."""

from adapters.api.serializers import adapter_data
from devices.changes import Change, device_data
from groups.api.serializers import DeviceGroupSerializer
from groups.querysets import attach_inherited

UNCHANGED_TYPES = (".created", ".deleted", ".added", ".removed")  # whole objects: no `changes`


def event_data(change: Change) -> dict:
    data = {}
    if change.adapter is not None:
        data = adapter_data(change.adapter)
    elif change.device is not None:
        data = device_data(change.device)
    if change.group is not None:
        attach_inherited([change.group])
        data = {"group": DeviceGroupSerializer(change.group).data}
    if not change.type.endswith(UNCHANGED_TYPES):
        data["changes"] = {name: {"old": old, "new": new} for name, (old, new) in change.changes.items()}
    return data
