import csv
import io
import json
import tracemalloc

import pytest
from django.core.management import CommandError, call_command

from devices import exporting, services
from devices.models import Device
from tests.factories import DeviceFactory, DeviceGroupFactory, NetworkAdapterFactory

pytestmark = pytest.mark.django_db

IMEI = "490154203237518"


def export(*args, **options) -> str:
    out = io.StringIO()
    call_command("export_devices", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def exported_ids(text: str) -> list[str]:
    return [json.loads(line)["id"] for line in text.splitlines()]


@pytest.fixture
def provisioned():
    """A device with every field set: identity slot, adapters of each type, non-ASCII text."""
    device = DeviceFactory(id="full", alias='Kühlraum, "A"', tags=["sensor", "a;b"], metadata={"n": [1, 2.5]})
    services.device_set_identity_slot(device_id="full", source="t", status="ACTIVE", active_version=1, type="X509",
                                      versions={"1": {"serial": "01"}})  # fmt: skip
    NetworkAdapterFactory(device=device, type="cellular", imei=IMEI)
    NetworkAdapterFactory(device=device, type="lora")
    return Device.objects.get(pk="full")


def test_export_writes_json_lines_of_every_field(provisioned):
    [line] = export().splitlines()

    row = json.loads(line)
    assert list(row) == [
        "id", "alias", "tags", "status", "icon", "icon_color", "creation_timestamp", "updated_timestamp", "metadata",
        "dms_owner", "slots", "network_adapters",
    ]  # fmt: skip
    assert (row["alias"], row["tags"], row["metadata"], row["status"]) == (
        provisioned.alias, ["sensor", "a;b"], {"n": [1, 2.5]}, "ACTIVE",
    )  # fmt: skip
    assert row["slots"] == provisioned.slots
    assert row["creation_timestamp"].endswith("Z") and row["updated_timestamp"] > row["creation_timestamp"]
    assert row["network_adapters"][0] == {"type": "cellular", "imei": IMEI}
    assert row["network_adapters"][1]["type"] == "lora"


def test_export_writes_csv_with_a_header(provisioned):
    DeviceFactory(id="plain", tags=["x", "y"], alias="")

    records = list(csv.DictReader(io.StringIO(export(format="csv"))))

    assert [record["id"] for record in records] == ["full", "plain"]
    full, plain = records
    assert json.loads(full["tags"]) == ["sensor", "a;b"]  # a separator inside a tag: a JSON array
    assert plain["tags"] == "x;y" and plain["alias"] == "" and plain["network_adapters"] == ""
    assert json.loads(full["network_adapters"])[0] == {"type": "cellular", "imei": IMEI}


def test_export_applies_every_filter():
    DeviceFactory(id="a-1", tags=["sensor"])
    DeviceFactory(id="a-2", tags=["gateway"])
    DeviceFactory(id="b-1", tags=["sensor"])

    text = export(filter=["tags[contains]:sensor", "id[ct]:a-"])

    assert exported_ids(text) == ["a-1"]


def test_export_of_a_group_writes_its_members():
    DeviceFactory(id="in", tags=["sensor"], dms_owner="dms-lab")
    DeviceFactory(id="out-tag", tags=["gateway"], dms_owner="dms-lab")
    DeviceFactory(id="out-dms", tags=["sensor"], dms_owner="dms-production")
    parent = DeviceGroupFactory(criteria=[{"field": "dms_owner", "operand": "eq", "value": "dms-lab"}])
    group = DeviceGroupFactory(parent=parent, criteria=[{"field": "tags", "operand": "contains", "value": "sensor"}])

    assert exported_ids(export(group=str(group.pk))) == ["in"]
    assert exported_ids(export(group=str(parent.pk), filter=["id[ne]:in"])) == ["out-tag"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"filter": ["status[eq]:SLEEPING"]}, "bad --filter"),
        ({"filter": ["nonsense"]}, "bad --filter"),
        ({"group": "not-a-uuid"}, "no device group"),
        ({"group": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}, "no device group"),
    ],
)
def test_export_refuses_bad_filters_and_unknown_groups(options, message):
    with pytest.raises(CommandError, match=message):
        export(**options)


def test_export_to_a_file_leaves_no_partial_file(tmp_path):
    DeviceFactory(id="d-1")
    path = tmp_path / "devices.jsonl"

    export(output=str(path))

    assert exported_ids(path.read_text()) == ["d-1"]
    assert [file.name for file in tmp_path.iterdir()] == ["devices.jsonl"]


def test_export_reads_in_chunks_with_a_fixed_number_of_queries_per_chunk(monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(exporting, "CHUNK_SIZE", 10)
    for n in range(45):
        DeviceFactory(id=f"d-{n:02d}")

    with django_assert_max_num_queries(1 + 5 + 4):  # the devices; each chunk's adapters; savepoints, cursor
        text = export()

    assert exported_ids(text) == [f"d-{n:02d}" for n in range(45)]  # read ahead, chunks keep their order


def test_export_streams_in_constant_memory(monkeypatch):
    """Peak memory while exporting 2,000 devices is that of 200: a chunk or two are held at a time."""
    monkeypatch.setattr(exporting, "CHUNK_SIZE", 100)
    rows = "".join(json.dumps({"id": f"d-{n:04d}", "metadata": {"blob": "x" * 5000}}) + "\n" for n in range(2000))
    call_command("import_devices", "-", stdin=io.BytesIO(rows.encode()), stdout=io.StringIO())

    def peak(filters) -> int:
        tracemalloc.start()
        exporting.devices_export(queryset=Device.objects.matching(filters), format="jsonl", write=lambda text: None)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    small, large = peak(["id[ct]:d-00"]), peak([])
    assert large < 2 * small + 200_000, (small, large)


def test_export_writes_timestamps_as_the_api_does_whole_seconds_included():
    row = b'{"id": "d-1", "creation_timestamp": "2024-01-01T00:00:00Z"}'
    call_command("import_devices", "-", stdin=io.BytesIO(row), stdout=io.StringIO())

    row = json.loads(export())

    assert row["creation_timestamp"] == row["updated_timestamp"] == "2024-01-01T00:00:00.000000Z"
