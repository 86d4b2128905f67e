"""A Python client generated from the served OpenAPI document works (issue 23): openapi-python-client builds it
without a warning, and a short script drives a live server with it, every answer parsed into the generated models.

A change to the document that breaks generated clients (a renamed operation or path parameter, a body or answer
that the document describes wrongly) fails here. The client is generated once per session (about a second).
"""

import functools
import importlib
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from devices.models import Device

PACKAGE = "devmanager_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
# No post hooks: the default runs ruff over the generated code, which only changes how it looks.
CONFIG = "post_hooks: []\n"
IMEI = "490154203237518"
DMS = "dms-generated"


@functools.cache
def generate(document: str, directory: Path) -> str:
    """Generate the client package of `document` into `directory` and return the generator's output."""
    (directory / "openapi.json").write_text(document)
    (directory / "config.yml").write_text(CONFIG)
    outcome = subprocess.run(
        [
            str(GENERATOR), "generate", "--path", str(directory / "openapi.json"), "--meta", "none",
            "--output-path", str(directory / PACKAGE), "--config", str(directory / "config.yml"),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    return outcome.stdout + outcome.stderr


@pytest.fixture
def generated(live_server, tmp_path_factory):
    """The package generated from the live server's /api/schema/, imported; the generator's output beside it."""
    document = httpx.get(f"{live_server.url}/api/schema/?format=json", timeout=30).raise_for_status().text
    directory = tmp_path_factory.getbasetemp() / "generated-client"
    directory.mkdir(exist_ok=True)
    output = generate(document, directory)
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module(PACKAGE), output
    finally:
        sys.path.remove(str(directory))


@pytest.fixture
def client(generated, live_server, api_key):
    package, _ = generated
    # Unexpected statuses raise: an answer the document does not declare fails the test.
    with package.AuthenticatedClient(base_url=live_server.url, token=api_key(), raise_on_unexpected_status=True) as api:
        yield api


def module(name: str):
    return importlib.import_module(f"{PACKAGE}.{name}")


def operations() -> SimpleNamespace:
    """Each generated operation's module (`sync`, `sync_detailed`, ...) by its name, e.g. `ops.create_device`, whatever
    tag's package it is in."""
    files = Path(module("api").__file__).parent.glob("*/*.py")
    return SimpleNamespace(
        **{path.stem: module(f"api.{path.parent.name}.{path.stem}") for path in files if path.stem != "__init__"}
    )


def test_generator_raises_no_warning(generated):
    _, output = generated

    assert "Warning" not in output, output


def test_every_operation_imports_and_is_named_by_what_it_does(generated):
    names = set(vars(operations()))  # imports each: generated code that does not even load fails here

    assert {"list_devices", "get_device", "create_device", "update_device", "delete_device"} <= names
    assert {"update_device_metadata", "list_device_events", "create_network_adapter"} <= names
    assert not [name for name in names if name.startswith("devmanager_")]


def test_generated_client_drives_the_device_lifecycle(client):
    models, ops = module("models"), operations()

    # Create two devices, the first with a typed error for its duplicate.
    for number in (1, 2):
        body = models.DeviceCreateRequest(id=f"gen-{number}", tags=["generated"], dms_id=DMS)
        body.metadata = {"location": "warehouse-a"}
        created = ops.create_device.sync(client=client, body=body)
        assert isinstance(created, models.Device), created
        assert created.status == models.DeviceStatusEnum.NO_IDENTITY
        assert created.dms_owner == DMS and created.tags == ["generated"]
    duplicate = ops.create_device.sync(client=client, body=models.DeviceCreateRequest(id="gen-1"))
    assert isinstance(duplicate, models.Error) and duplicate.type_ == "conflict"

    # List with a filter, one per page, following the bookmark.
    first = ops.list_devices.sync(
        client=client, filter_=["tags[ct]:generated"], page_size=1, sort_by=models.ListDevicesSortBy.ID
    )
    assert isinstance(first, models.PaginatedDeviceList) and [d.id for d in first.list_] == ["gen-1"]
    second = ops.list_devices.sync(client=client, bookmark=first.next_)
    assert [device.id for device in second.list_] == ["gen-2"]
    assert second.next_ == ""  # the last page

    # Identity slot, metadata patch, the device's events.
    slot = models.IdentitySlotUpdateRequest(status="ACTIVE", active_version=1, type_="X509")
    provisioned = ops.update_device_identity_slot.sync("gen-1", client=client, body=slot)
    assert provisioned.status == models.DeviceStatusEnum.ACTIVE
    assert isinstance(provisioned.identity, models.IdentitySlot) and provisioned.identity.active_version == 1
    operation = models.PatchedMetadataPatchRequestPatchesItem(
        op=models.PatchedMetadataPatchRequestPatchesItemOp.ADD, path="/floor", value=2
    )
    patch = models.PatchedMetadataPatchRequest(patches=[operation])
    patched = ops.update_device_metadata.sync("gen-1", client=client, body=patch)
    assert patched.metadata.to_dict() == {"location": "warehouse-a", "floor": 2}
    history = ops.list_device_events.sync("gen-1", client=client)
    assert isinstance(history, models.PaginatedDeviceEventList)
    assert [event.type_ for event in history.list_] == [
        models.EventTypeEnum.METADATA_UPDATED,
        models.EventTypeEnum.STATUS_UPDATED,
        models.EventTypeEnum.PROVISIONED,
        models.EventTypeEnum.CREATED,
    ]

    # A network adapter, and the device found by its IMEI.
    cellular = models.NetworkAdapterWriteRequest(type_=models.AdapterTypeEnum.CELLULAR, imei=IMEI)
    adapter = ops.create_network_adapter.sync("gen-1", client=client, body=cellular)
    assert isinstance(adapter, models.CellularNetworkAdapter) and adapter.imei == IMEI
    assert adapter.device_id == "gen-1"
    found = ops.get_device.sync(f"imei:{IMEI}", client=client)
    assert isinstance(found, models.Device) and found.id == "gen-1"

    # A group and its members.
    criterion = models.DeviceGroupWriteRequestCriteriaItem(field="status", operand="eq", value="ACTIVE")
    group = ops.create_device_group.sync(
        client=client, body=models.DeviceGroupWriteRequest(name="active", criteria=[criterion])
    )
    assert isinstance(group, models.DeviceGroup) and isinstance(group.id, uuid.UUID)
    members = ops.list_device_group_members.sync(group.id, client=client)
    assert isinstance(members, models.PaginatedDeviceList) and [d.id for d in members.list_] == ["gen-1"]

    # Decommission, then delete.
    assert ops.decommission_device.sync_detailed("gen-1", client=client).status_code == 204
    decommissioned = ops.get_device.sync("gen-1", client=client)
    assert decommissioned.status == models.DeviceStatusEnum.DECOMMISSIONED
    assert decommissioned.identity.status == models.DeviceStatusEnum.REVOKED
    assert ops.delete_device.sync_detailed("gen-1", client=client).status_code == 204
    gone = ops.get_device.sync("gen-1", client=client)
    assert isinstance(gone, models.Error) and gone.type_ == "not_found"
    assert list(Device.objects.values_list("pk", flat=True)) == ["gen-2"]
