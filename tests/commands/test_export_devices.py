import csv
import io
import json
import os
import stat
import subprocess
import sys
import threading
import tracemalloc
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from devices import services
from devices.models import Device
from groups.models import DeviceGroup
from tests.factories import DeviceFactory, DeviceGroupFactory, NetworkAdapterFactory
from transfer import exporting

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


def test_export_of_a_group_whose_stored_criteria_no_longer_compile_is_refused():
    group = DeviceGroupFactory(criteria=[{"field": "tags", "operand": "contains", "value": "sensor"}])
    DeviceGroup.objects.filter(pk=group.pk).update(criteria=[{"field": "colour", "operand": "eq", "value": "red"}])

    with pytest.raises(CommandError, match="has criteria that no longer compile"):
        export(group=str(group.pk))


def test_export_to_a_file_leaves_no_partial_file(tmp_path):
    DeviceFactory(id="d-1")
    path = tmp_path / "devices.jsonl"

    export(output=str(path))

    assert exported_ids(path.read_text()) == ["d-1"]
    assert [file.name for file in tmp_path.iterdir()] == ["devices.jsonl"]


@pytest.mark.parametrize("format", ["jsonl", "csv"])
def test_export_reads_in_chunks_with_a_fixed_number_of_queries_each(format, monkeypatch, django_assert_max_num_queries):
    """45 devices, in threes of one creation time (so that chunks end inside a tie, broken by id), with ids that
    need escaping in JSON and in COPY's text format."""
    for name, size in (("CHUNK_SIZE", 10), ("COPY_BATCH", 4)):
        monkeypatch.setattr(exporting, name, size)
    ids = [f'd-{n:02d} \\ "{n % 3}"' for n in range(45)]
    for device_id in ids:
        DeviceFactory(id=device_id)
    for n in range(0, 45, 3):
        Device.objects.filter(pk__in=ids[n : n + 3]).update(creation_timestamp=datetime(2026, 1, 1, 0, n, tzinfo=UTC))
    NetworkAdapterFactory(device=Device.objects.get(pk=ids[7]), type="cellular", imei=IMEI)
    # PostgreSQL's JSON Lines: one COPY (not counted here), else the devices and each chunk's adapters; savepoints.
    copied = format == "jsonl" and connection.vendor == "postgresql"

    with django_assert_max_num_queries(2 if copied else 1 + 5 + 2):
        text = export(format=format)

    if format == "jsonl":
        records = [json.loads(line) for line in text.splitlines()]
    else:
        records = list(csv.DictReader(io.StringIO(text)))
    assert [record["id"] for record in records] == ids  # chunks and ties keep their order
    assert [record["id"] for record in records if record["network_adapters"]] == [ids[7]]


def test_an_export_of_no_devices_writes_nothing():
    DeviceFactory(id="d-1")

    for format in ("jsonl", "csv"):
        written = []
        count = exporting.devices_export(queryset=Device.objects.none(), format=format, write=written.append)
        assert count == 0 and "".join(written) in ("", exporting.csv_header())


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's transactions are serializable")
@pytest.mark.parametrize("format", ["jsonl", "csv"])
def test_an_export_reads_one_snapshot_throughout(format, monkeypatch):
    """An adapter another client adds while the export writes its first chunk is not in a later one."""
    monkeypatch.setattr(exporting, "CHUNK_SIZE", 2)
    monkeypatch.setattr(exporting, "COPY_BATCH", 1)
    for n in range(4):
        DeviceFactory(id=f"d-{n}")
    other = connections.create_connection("default")
    written = []

    def write(text: str) -> None:
        if "d-0" in text:  # the first device (a CSV export writes its header before it reads any)
            with other.cursor() as cursor:  # autocommit: committed at once
                cursor.execute(
                    "INSERT INTO adapters_networkadapter (id, device_id, type, imei, description, created_at, "
                    f"updated_at) VALUES (gen_random_uuid(), 'd-3', 'cellular', '{IMEI}', '', now(), now())"
                )
        written.append(text)

    try:
        count = exporting.devices_export(queryset=Device.objects.all(), format=format, write=write)
    finally:
        other.close()

    assert count == 4 and IMEI not in "".join(written)
    assert Device.objects.get(pk="d-3").adapters.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's settings")
def test_an_export_runs_without_a_statement_timeout():
    """The JSON Lines export is one statement as long as the export: a role's timeout would cut it short."""
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '10s'")
    try:
        with exporting._one_snapshot(), connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            inside = cursor.fetchone()[0]
            cursor.execute("SHOW transaction_isolation")
            isolation = cursor.fetchone()[0]
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            after = cursor.fetchone()[0]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")

    assert (inside, isolation, after) == ("0", "repeatable read", "10s")


def test_export_streams_in_constant_memory(monkeypatch):
    """Peak memory while exporting 2,000 devices is that of 200: a chunk or two are held at a time."""
    monkeypatch.setattr(exporting, "CHUNK_SIZE", 100)
    monkeypatch.setattr(exporting, "COPY_BATCH", 100)
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


AWKWARD = 'quote " backslash \\ \\\\ \\n tab\t newline\n cr\r nul-ish \x01 \x1f del \x7f é ß 漢字 😀 \u2028 end'


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY export is PostgreSQL's")
def test_the_copy_export_writes_the_same_text_as_the_chunked_one():
    """PostgreSQL makes the JSON Lines itself (copy_json_lines); they must be those the Python writer makes, byte for
    byte, whatever the text: escapes, backslashes (which COPY doubles), control characters, non-ASCII."""
    DeviceFactory(id="plain")
    device = DeviceFactory(
        id=f"awkward {AWKWARD}", alias=AWKWARD, tags=[AWKWARD, "b"], icon=AWKWARD, icon_color="#FFF", dms_owner=AWKWARD,
        metadata={AWKWARD: [AWKWARD, 1, 2.5, None, True, {"n": 12345678901234567890}]},
    )  # fmt: skip
    services.device_set_identity_slot(device_id=device.id, source="t", status="ACTIVE", active_version=1, type="X509",
                                      versions={"1": {"serial": AWKWARD}})  # fmt: skip
    NetworkAdapterFactory(device=device, type="cellular", imei=IMEI, iccid="8931440400012345678", imsi="", msisdn=None)
    NetworkAdapterFactory(device=device, type="generic", description=AWKWARD)
    NetworkAdapterFactory(device=device, type="lora")
    NetworkAdapterFactory(device=Device.objects.get(pk="plain"), type="generic", description="")
    queryset = Device.objects.all()

    copied = []
    count = exporting.copy_json_lines(queryset, copied.append, progress=lambda rows: None)
    with transaction.atomic():
        chunked = [exporting.jsonl_lines(chunk) for chunk in exporting.device_chunks(queryset)]

    assert count == 2
    assert "".join(copied) == "".join(chunked)
    [_, line] = "".join(copied).rstrip("\n").split("\n")  # U+2028 is no line break in JSON Lines
    row = json.loads(line)
    assert (row["id"], row["alias"], row["tags"]) == (device.id, AWKWARD, [AWKWARD, "b"])
    assert row["metadata"] == {AWKWARD: [AWKWARD, 1, 2.5, None, True, {"n": 12345678901234567890}]}
    cellular, generic, lora = row["network_adapters"]
    assert cellular == {"type": "cellular", "iccid": "8931440400012345678", "imei": IMEI}  # empty fields left out
    assert (generic["type"], generic["description"], lora["type"]) == ("generic", AWKWARD, "lora")


def test_export_into_a_reader_that_stops_early_ends_quietly(tmp_path):
    # `export_devices | head`: the reader closes the pipe; no traceback, and the rows it read are whole.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/export.sqlite3", "DJANGO_SECRET_KEY": "test"}
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    subprocess.run([*manage, "seed_devices", "--count", "3000"], env=env, check=True, capture_output=True)

    export = subprocess.Popen([*manage, "export_devices"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = export.stdout.readline()
    export.stdout.close()
    stderr = export.stderr.read().decode()
    export.wait(timeout=60)

    assert json.loads(first)["id"]
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr and "Exception ignored" not in stderr, stderr
    assert export.returncode == 1


def test_export_to_a_named_pipe_writes_into_it_and_leaves_it_a_pipe(tmp_path):
    DeviceFactory(id="piped")
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()

    export("--output", str(fifo))
    reader.join(timeout=30)

    assert exported_ids(received[0]) == ["piped"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
