from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from devices.choices import DeviceStatus
from devices.models import Device, DeviceEvent
from tests.conftest import API

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_devices_creates_realistic_devices():
    out = StringIO()
    call_command("seed_devices", count=300, batch_size=70, seed=3, prefix="s-", stdout=out)

    assert Device.objects.count() == 300
    assert "Created 300 devices" in out.getvalue()
    statuses = set(Device.objects.values_list("status", flat=True))
    assert {DeviceStatus.ACTIVE, DeviceStatus.NO_IDENTITY} <= statuses and len(statuses) >= 5
    assert Device.objects.values("dms_owner").distinct().count() >= 3
    assert DeviceEvent.objects.filter(type="CREATED").count() == 300
    device = Device.objects.exclude(status=DeviceStatus.NO_IDENTITY).exclude(tags=[]).first()
    assert device.identity["type"] and "versions" in device.identity
    assert set(device.tag_terms) == {f"={tag}" for tag in device.tags} | {f"~{tag.lower()}" for tag in device.tags}
    assert isinstance(device.metadata["hw"], dict) and "sensors" in device.metadata
    spread = Device.objects.order_by("creation_timestamp").values_list("creation_timestamp", flat=True)
    assert (spread.last() - spread.first()).days > 100


def test_seeded_devices_are_served_and_filterable(api_client):
    call_command("seed_devices", count=50, seed=4, prefix="f-", stdout=StringIO())

    params = {"filter": 'metadata[jsonpath]:$.hw.vendor == "acme"', "page_size": 100}
    response = api_client.get(f"{API}/devices", params)

    assert response.status_code == 200
    expected = {d.pk for d in Device.objects.all() if d.metadata["hw"]["vendor"] == "acme"}
    assert {device["id"] for device in response.json()["list"]} == expected


def test_seed_devices_rejects_non_positive_count():
    with pytest.raises(CommandError):
        call_command("seed_devices", count=0)
