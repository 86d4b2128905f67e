"""What many tests share: URLs, ETags, and snapshots of everything a refused write must leave untouched."""

from urllib.parse import quote

from adapters.models import NetworkAdapter
from devices.models import Device, DeviceEvent
from groups.models import DeviceGroup
from tests.conftest import API

DEVICE_COLUMNS = [field.attname for field in Device._meta.concrete_fields]
GROUP_COLUMNS = ["id", "name", "description", "parent_id", "criteria", "version", "tree_id", "lft", "rght", "level"]


def device_url(device_id: str, suffix: str = "", safe: str = "") -> str:
    """`/devices/{id}{suffix}`, the id percent-encoded (`safe` keeps characters, e.g. the `:` of `imei:…`)."""
    return f"{API}/devices/{quote(device_id, safe=safe)}{suffix}"


def get_etag(client, device_id: str) -> str:
    response = client.get(device_url(device_id))
    assert response.status_code == 200
    return response["ETag"]


def device_snapshot(device_id: str) -> tuple:
    """Everything stored about a device: its row, its events and its adapters."""
    row = Device.objects.filter(pk=device_id).values(*DEVICE_COLUMNS).get()
    events = list(DeviceEvent.objects.filter(device_id=device_id).order_by("timestamp").values_list("pk", "type"))
    adapters = sorted(NetworkAdapter.objects.filter(device_id=device_id).values_list("pk", "updated_at"))
    return row, events, adapters


def groups_snapshot() -> list:
    """Everything stored about every group."""
    return sorted(DeviceGroup.objects.values_list(*GROUP_COLUMNS))
