"""An event's `data` (contract, section 7): the device after the change (before it, for a deletion), or the adapter
and its device's id, or the group; and the changed fields' old and new values."""

from adapters.api.serializers import adapter_data
from devices.changes import Change, device_data
from groups.api.serializers import DeviceGroupSerializer
from groups.querysets import attach_inherited

UNCHANGED_TYPES = (".created", ".deleted", ".added", ".removed")  # whole objects: no `changes`


def events_data(changes: list[Change]) -> list[dict]:
    """The data of each change of one write: the groups' ancestors read in one query for all of them, and one
    snapshot of a device however many of its changes the write records (a decommission records three)."""
    attach_inherited([change.group for change in changes if change.group is not None])
    devices: dict[int, dict] = {}
    return [_event_data(change, devices) for change in changes]


def _event_data(change: Change, devices: dict[int, dict]) -> dict:
    if change.adapter is not None:
        data = adapter_data(change.adapter)
    elif change.device is not None:
        if id(change.device) not in devices:
            devices[id(change.device)] = device_data(change.device)
        data = dict(devices[id(change.device)])
    else:
        data = {"group": DeviceGroupSerializer(change.group).data}
    if not change.type.endswith(UNCHANGED_TYPES):
        data["changes"] = {name: {"old": old, "new": new} for name, (old, new) in change.changes.items()}
    return data
