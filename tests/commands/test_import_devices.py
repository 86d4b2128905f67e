import fcntl
import json
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from adapters.models import NetworkAdapter
from devices.models import Device, DeviceEvent
from tests.commands.conftest import database_state, jsonl
from tests.factories import DeviceFactory, NetworkAdapterFactory
from transfer.importing import BatchWriter
from transfer.importing.pipeline import PIPE_BYTES, widen_pipe

pytestmark = pytest.mark.django_db

IMEI = "490154203237518"
OTHER_IMEI = "356938035643809"
DEV_EUI = "0004a30b001c0530"
UUID = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
SLOT = {
    "status": "ACTIVE",
    "active_version": 2,
    "type": "X509",
    "versions": {"1": {"serial": "01"}, "2": {"serial": "02"}},
    "expiration_date": "2031-05-01T10:00:00.000000Z",
}


def test_import_jsonl_creates_devices_as_post_devices_does(run_import):
    content = jsonl(
        {"id": "d-1", "alias": "Warehouse sensor", "tags": ["sensor", "Temperature"], "metadata": {"location": "a"},
         "dms_id": "dms-production", "icon": "thermometer", "icon_color": "#FF5733"},
        {"id": "d-2"},
    )  # fmt: skip

    run = run_import(content)

    assert run.error is None and run.failures == []
    assert "read 2, created 2, updated 0, skipped 0, failed 0" in run.out
    device = Device.objects.get(pk="d-1")
    assert (device.alias, device.tags, device.metadata, device.dms_owner) == (
        "Warehouse sensor", ["sensor", "Temperature"], {"location": "a"}, "dms-production",
    )  # fmt: skip
    assert device.tag_terms == ["=sensor", "=Temperature", "~sensor", "~temperature"]
    assert (device.status, device.version, device.icon) == ("NO_IDENTITY", 1, "thermometer")
    assert list(device.events.values_list("type", "source")) == [("CREATED", "import_devices")]
    bare = Device.objects.get(pk="d-2")
    assert (bare.alias, bare.tags, bare.metadata, bare.slots) == ("", [], {}, {})


def test_imported_devices_are_found_by_the_filter_language(run_import, api_client):
    run_import(jsonl({"id": "d-1", "tags": ["Sensor"], "imei": IMEI}, {"id": "d-2", "tags": ["gateway"]}))

    assert list(Device.objects.matching(["tags[contains_ic]:sensor"]).values_list("pk", flat=True)) == ["d-1"]
    assert list(Device.objects.matching([f"imei[eq]:{IMEI}"]).values_list("pk", flat=True)) == ["d-1"]
    assert api_client.get(f"/api/devmanager/v1/devices/imei:{IMEI}").json()["id"] == "d-1"


def test_import_creates_adapters_from_shorthands_and_bodies(run_import):
    content = jsonl(
        {"id": "d-1", "imei": IMEI, "dev_eui": DEV_EUI.upper(), "dvn_uuid": UUID.upper()},
        {"id": "d-2", "network_adapters": [
            {"type": "cellular", "imei": OTHER_IMEI, "iccid": "8944500102198304826", "msisdn": "+4915112345678"},
            {"type": "lora", "devEui": "70b3d5e75e000001", "activation": "otaa"},
            {"type": "generic", "description": "bluetooth"},
        ]},
    )  # fmt: skip

    run = run_import(content)

    assert run.error is None, run.failures
    first = {adapter.type: adapter.identifier for adapter in NetworkAdapter.objects.filter(device_id="d-1")}
    assert first == {"cellular": IMEI, "lora": DEV_EUI, "generic": UUID}
    second = {adapter.type: adapter for adapter in NetworkAdapter.objects.filter(device_id="d-2")}
    assert (second["cellular"].iccid, second["cellular"].msisdn) == ("8944500102198304826", "+4915112345678")
    assert (second["lora"].dev_eui, second["lora"].activation) == ("70b3d5e75e000001", "OTAA")
    assert second["generic"].dvn_uuid is not None and second["generic"].description == "bluetooth"


def test_mixed_jsonl_file_lands_every_good_row_and_reports_every_bad_one_by_line(run_import):
    DeviceFactory(id="existing")
    oversized = {"blob": "x" * settings.DEVMANAGER_METADATA_MAX_BYTES}
    content = jsonl(
        {"id": "good-1", "tags": ["a"]},  # 1
        '{"id": "broken", ',  # 2: malformed JSON
        {"id": "bad-tags", "tags": ["a", "a"]},  # 3: repeated tag
        {"id": "existing"},  # 4: already in the database
        {"id": "good-2", "imei": IMEI},  # 5
        {"id": "good-1"},  # 6: repeats line 1
        {"id": "big", "metadata": oversized},  # 7: over 64 KiB
        {"id": "bad-imei", "imei": "490154203237517"},  # 8: Luhn
        {"id": "taken-imei", "imei": IMEI},  # 9: line 5's IMEI
        {"id": "bad/id"},  # 10
        '["not", "an", "object"]',  # 11
        {"id": "bad-eui", "dev_eui": "xyz"},  # 12
        {"id": "unknown-field", "colour": "red"},  # 13
        {"id": "good-3", "dms_owner": "dms-lab"},  # 14
    )

    run = run_import(content)

    assert isinstance(run.error, CommandError) and run.error.returncode == 1
    assert "11 row(s) failed" in str(run.error)
    assert "read 14, created 3, updated 0, skipped 0, failed 11" in run.out
    assert run.failed_lines == [2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13]
    assert set(Device.objects.values_list("pk", flat=True)) == {"existing", "good-1", "good-2", "good-3"}
    assert DeviceEvent.objects.filter(type="CREATED").count() == 4
    assert NetworkAdapter.objects.get().device_id == "good-2"
    assert "not valid JSON" in run.reason(2)
    assert "tags[1]" in run.reason(3)
    assert "already exists" in run.reason(4) and "already exists" in run.reason(6)
    assert "metadata: exceeds" in run.reason(7)
    assert "Luhn" in run.reason(8)
    assert "another device's adapter has imei" in run.reason(9)
    assert run.reason(10).startswith("id:")
    assert "JSON object" in run.reason(11)
    assert "dev_eui" in run.reason(12)
    assert "colour: unknown field" in run.reason(13)
    failure = run.failures[1]
    assert (failure["id"], failure["fields"][0]["name"]) == ("bad-tags", "tags[1]")
    assert json.loads(failure["row"]) == {"id": "bad-tags", "tags": ["a", "a"]}


def test_mixed_csv_file_lands_every_good_row_and_reports_every_bad_one_by_line(run_import):
    DeviceFactory(id="existing")
    oversized = json.dumps({"blob": "x" * settings.DEVMANAGER_METADATA_MAX_BYTES}).replace('"', '""')
    content = (
        "id,alias,tags,metadata,dms_owner,imei,dev_eui\n"  # 1
        'good-1,First,sensor;temperature|lab,"{""location"": ""a""}",dms-lab,,\n'  # 2
        'bad-json,,,"{""location"": ",,,\n'  # 3
        "existing,,,,,,\n"  # 4
        f'big,,,"{oversized}",,,\n'  # 5
        "bad-imei,,,,,12345,\n"  # 6
        '"multi\nline",,,,,,\n'  # 7-8: a control character in the id
        "good-2,,,,,490154203237518,0004A30B001C0530\n"  # 9
        "good-1,,,,,,\n"  # 10: repeats line 2
        "too,many,cells,,,,,,\n"  # 11
        '"good-3","Quoted, alias",[" spaced tag "],,,,\n'  # 12
    )

    run = run_import(content, suffix=".csv")

    assert run.error is not None
    assert run.failed_lines == [3, 4, 5, 6, 7, 10, 11]
    assert set(Device.objects.values_list("pk", flat=True)) == {"existing", "good-1", "good-2", "good-3"}
    first = Device.objects.get(pk="good-1")
    assert (first.alias, first.tags, first.metadata, first.dms_owner) == (
        "First", ["sensor", "temperature", "lab"], {"location": "a"}, "dms-lab",
    )  # fmt: skip
    assert Device.objects.get(pk="good-3").tags == [" spaced tag "]
    assert Device.objects.get(pk="good-3").alias == "Quoted, alias"
    assert set(NetworkAdapter.objects.values_list("device_id", "type")) == {("good-2", "cellular"), ("good-2", "lora")}
    assert "metadata: is not valid JSON" in run.reason(3)
    assert "exceeds" in run.reason(5)
    assert "imei" in run.reason(6)
    assert "control characters" in run.reason(7)
    assert "9 cells" in run.reason(11)


def test_empty_csv_cells_are_absent_fields(run_import):
    run = run_import("id,alias,tags,metadata,icon_color\nd-1,,,,\n", suffix=".csv")

    assert run.error is None
    device = Device.objects.get()
    assert (device.alias, device.tags, device.metadata, device.icon_color) == ("", [], {}, "")


def test_csv_header_with_an_unknown_column_stops_before_any_row(run_import):
    run = run_import("id,colour\nd-1,red\n", suffix=".csv")

    assert "unknown CSV column(s) 'colour'" in str(run.error)
    assert not Device.objects.exists()


def test_create_mode_reports_duplicates(run_import):
    DeviceFactory(id="d-1", alias="before")

    run = run_import(jsonl({"id": "d-1", "alias": "after"}, {"id": "d-2"}), mode="create")

    assert run.failed_lines == [1]
    assert Device.objects.get(pk="d-1").alias == "before"
    assert Device.objects.filter(pk="d-2").exists()


def test_skip_mode_leaves_existing_devices_alone(run_import):
    DeviceFactory(id="d-1", alias="before", tags=["x"])

    run = run_import(jsonl({"id": "d-1", "alias": "after", "imei": IMEI}, {"id": "d-2"}), mode="skip")

    assert run.error is None
    assert "created 1, updated 0, skipped 1, failed 0" in run.out
    device = Device.objects.get(pk="d-1")
    assert (device.alias, device.version, device.events.count()) == ("before", 1, 1)
    assert not NetworkAdapter.objects.exists()


def test_upsert_mode_gives_existing_devices_the_rows_fields(run_import):
    device = DeviceFactory(id="d-1", alias="before", tags=["x"], metadata={"a": 1}, icon="bolt")
    NetworkAdapterFactory(device=device, type="cellular", imei=IMEI)
    version = Device.objects.get(pk="d-1").version
    content = jsonl({"id": "d-1", "alias": "after", "tags": ["y", "Z"], "metadata": {"a": 2},
                     "imei": IMEI, "dev_eui": DEV_EUI, "status": "ACTIVE", "slots": {"default": SLOT}},
                    {"id": "d-2"})  # fmt: skip

    run = run_import(content, mode="upsert")

    assert run.error is None, run.failures
    assert "created 1, updated 1, skipped 0, failed 0" in run.out
    device.refresh_from_db()
    assert (device.alias, device.tags, device.metadata, device.icon) == ("after", ["y", "Z"], {"a": 2}, "bolt")
    assert device.tag_terms == ["=y", "=Z", "~y", "~z"]
    assert (device.version, device.status) == (version + 1, "NO_IDENTITY")  # the lifecycle is not imported onto it
    assert device.updated_timestamp > device.creation_timestamp
    # The events PATCH /devices/{id} and a metadata replacement record, one after the other.
    newest = [(event.type, event.description) for event in device.events.order_by("-timestamp")[:2]]
    assert newest == [("METADATA-UPDATED", "Metadata replaced"), ("UPDATED", "Updated: alias, tags")]
    assert sorted(device.adapters.values_list("type", flat=True)) == ["cellular", "lora"]


def test_upsert_adding_only_an_adapter_gives_the_device_a_new_etag(run_import):
    device = DeviceFactory(id="d-1", alias="same")
    before = Device.objects.get(pk="d-1")

    run = run_import(jsonl({"id": "d-1", "alias": "same", "imei": IMEI}), mode="upsert")

    assert "updated 1" in run.out
    after = Device.objects.get(pk="d-1")
    assert (after.version, after.etag != before.etag) == (before.version + 1, True)
    assert after.updated_timestamp > before.updated_timestamp
    assert list(device.adapters.values_list("imei", flat=True)) == [IMEI]


def test_upsert_refuses_an_identifier_of_another_device(run_import):
    NetworkAdapterFactory(device=DeviceFactory(id="owner"), type="cellular", imei=IMEI)
    DeviceFactory(id="d-1", alias="before")

    run = run_import(jsonl({"id": "d-1", "alias": "after", "imei": IMEI}), mode="upsert")

    assert run.failed_lines == [1] and "another device's adapter" in run.reason(1)
    assert Device.objects.get(pk="d-1").alias == "before"


@pytest.mark.parametrize("mode", ["skip", "upsert"])
def test_running_the_same_file_twice_changes_nothing_the_second_time(run_import, mode):
    content = jsonl(
        {"id": "d-1", "alias": "A", "tags": ["t"], "metadata": {"k": [1, 2.5, None]}, "imei": IMEI},
        {"id": "d-2", "dev_eui": DEV_EUI, "network_adapters": [{"type": "generic"}]},
        {"id": "d-3", "status": "ACTIVE", "slots": {"default": SLOT}, "creation_timestamp": "2024-01-01T00:00:00Z"},
        {"id": "bad", "tags": "x"},
    )
    first = run_import(content, mode=mode)
    state = database_state()

    second = run_import(content, mode=mode)

    assert first.failed_lines == second.failed_lines == [4]
    assert "created 0, updated 0, skipped 3, failed 1" in second.out
    assert database_state() == state


def test_dry_run_validates_everything_and_writes_nothing(run_import):
    DeviceFactory(id="existing")
    content = jsonl({"id": "d-1", "imei": IMEI}, {"id": "existing"}, {"id": "d-1"}, {"id": "d-2", "tags": [1]})
    state = database_state()

    run = run_import(content, dry_run=True)

    assert run.failed_lines == [2, 3, 4]  # the database's verdicts too: the existing id, the repeat of line 1
    assert "Dry run (nothing written): read 4, created 1" in run.out
    assert database_state() == state


def test_standard_input_is_read_as_json_lines(run_import):
    run = run_import(jsonl({"id": "d-1"}, {"id": "d-2"}), path="-")

    assert run.error is None
    assert Device.objects.count() == 2


def test_standard_input_in_csv(run_import):
    run = run_import("id,tags\nd-1,a|b\n", path="-", format="csv")

    assert run.error is None
    assert Device.objects.get().tags == ["a", "b"]


def test_metadata_exactly_at_the_limit_is_accepted_and_one_byte_more_refused(run_import):
    limit = settings.DEVMANAGER_METADATA_MAX_BYTES
    fits = {"k": "x" * (limit - len('{"k":""}'))}
    content = jsonl({"id": "fits", "metadata": fits}, {"id": "over", "metadata": {"k": fits["k"] + "x"}})

    run = run_import(content)

    assert run.failed_lines == [2]
    assert Device.objects.get().metadata == fits


def test_numbers_and_strings_no_database_stores_are_failed_rows(run_import):
    run = run_import('{"id": "inf", "metadata": {"x": 1e400}}\n{"id": "nan", "metadata": {"x": NaN}}\n'
                     '{"id": "surrogate", "metadata": {"x": "\\ud800"}}\n{"id": "ok"}\n')  # fmt: skip

    assert run.failed_lines == [1, 2, 3]
    assert list(Device.objects.values_list("pk", flat=True)) == ["ok"]


def test_not_utf8_is_a_failed_row(run_import):
    run = run_import(b'{"id": "a"}\n{"id": "\xff"}\n')

    assert run.failed_lines == [2] and "UTF-8" in run.reason(2)


def test_imported_state_keeps_status_identity_slot_and_timestamps(run_import):
    row = {"id": "d-1", "status": "DECOMMISSIONED", "slots": {"default": {**SLOT, "status": "REVOKED"}},
           "creation_timestamp": "2024-01-01T00:00:00+02:00", "updated_timestamp": "2024-02-01T00:00:00Z"}  # fmt: skip

    run = run_import(jsonl(row))

    assert run.error is None, run.failures
    device = Device.objects.get()
    assert device.status == "DECOMMISSIONED" and device.identity["status"] == "REVOKED"
    assert device.identity_expires_at == datetime(2031, 5, 1, 10, tzinfo=UTC)
    assert device.creation_timestamp == datetime(2023, 12, 31, 22, tzinfo=UTC)
    assert device.events.get().timestamp == device.creation_timestamp


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"status": "ACTIVE"}, "status"),  # no identity slot
        ({"status": "SLEEPING"}, "status"),
        ({"slots": {"default": {**SLOT, "status": "NEW"}}}, "slots.default"),
        ({"slots": {"default": {**SLOT, "active_version": "2"}}}, "slots.default"),
        ({"slots": {"default": {**SLOT, "versions": {"01": {}}}}}, "slots.default"),
        ({"slots": {"default": {**SLOT, "expiration_date": "tomorrow"}}}, "slots.default"),
        ({"slots": [SLOT]}, "slots"),
        ({"creation_timestamp": "2024-01-01T00:00:00"}, "creation_timestamp"),  # no zone
        ({"creation_timestamp": "2024-01-01"}, "creation_timestamp"),  # a day, not an instant
        ({"updated_timestamp": "2024-01-01T00:00Z"}, "updated_timestamp"),  # no seconds: not RFC 3339
        ({"slots": {"default": {**SLOT, "expiration_date": "2031-05-01"}}}, "slots.default"),
        ({"creation_timestamp": "2024-02-01T00:00:00Z", "updated_timestamp": "2024-01-01T00:00:00Z"},
         "updated_timestamp"),
    ],
)  # fmt: skip
def test_inconsistent_imported_state_is_a_failed_row(run_import, row, field):
    run = run_import(jsonl({"id": "d-1", **row}))

    assert run.failures[0]["fields"][0]["name"] == field
    assert not Device.objects.exists()


class BlindToExistingIds(BatchWriter):
    """Sees no existing device when it checks: as if another client created one between the check and the write."""

    def existing_ids(self, ids):
        return set()


def test_a_row_the_database_refuses_fails_alone(run_import):
    """A device created by someone else between the batch's check and its write: the batch is retried row by row."""
    DeviceFactory(id="d-2")

    run = run_import(jsonl({"id": "d-1"}, {"id": "d-2"}, {"id": "d-3"}), batch_writer_class=BlindToExistingIds)

    assert run.failed_lines == [2]
    assert sorted(Device.objects.values_list("pk", flat=True)) == ["d-1", "d-2", "d-3"]
    assert DeviceEvent.objects.filter(device_id="d-2").count() == 1


def test_format_comes_from_the_extension_or_the_option(run_import):
    assert "cannot tell the format" in str(run_import(jsonl({"id": "d-1"}), suffix=".txt").error)
    assert run_import(jsonl({"id": "d-1"}), suffix=".txt", format="jsonl").error is None
    assert run_import(jsonl({"id": "d-2"}), suffix=".ndjson").error is None


def test_a_missing_file_is_a_command_error():
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_devices", "/nonexistent/devices.jsonl")


def test_rows_are_written_in_batches_with_a_fixed_number_of_queries(run_import, django_assert_max_num_queries):
    rows = [{"id": f"d-{n:03d}", "tags": ["t"], "imei": None} for n in range(300)]

    with django_assert_max_num_queries(12 * 3 + 10):  # per batch: the checks, three writes, the savepoints
        run = run_import(jsonl(*rows), batch_size=100)

    assert run.error is None and Device.objects.count() == 300


@pytest.mark.skipif(
    not hasattr(fcntl, "F_GETPIPE_SZ") or int(Path("/proc/sys/fs/pipe-max-size").read_text()) < PIPE_BYTES,
    reason="Linux's pipe sizes, up to its pipe-max-size",
)
def test_a_validating_process_hands_its_batches_over_a_pipe_of_a_megabyte():
    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
    with receiver, sender:
        assert fcntl.fcntl(sender.fileno(), fcntl.F_GETPIPE_SZ) < PIPE_BYTES

        widen_pipe(sender)

        assert fcntl.fcntl(sender.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_BYTES


def test_a_batch_larger_than_the_pipe_arrives_whole(run_import):
    rows = [{"id": f"d-{n:04d}", "metadata": {"note": "x" * 1000}} for n in range(1500)]  # about 2 MB a batch

    run = run_import(jsonl(*rows), batch_size=1500)

    assert run.error is None and Device.objects.count() == 1500
    assert Device.objects.get(pk="d-1499").metadata == {"note": "x" * 1000}


def test_numbers_beyond_64_bits_are_kept_exact(run_import):
    # orjson, which reads most rows, would turn these into floats: they go through the json module instead.
    numbers = [2**64, -(2**63) - 1, 10**30, 12345678901234567890]
    versions = {"1": {"serial": 2**70}}
    slots = {"default": {**SLOT, "versions": versions}}
    run = run_import(jsonl({"id": "big", "metadata": {"n": numbers}, "slots": slots}))

    assert run.error is None
    device = Device.objects.get()
    assert device.metadata == {"n": numbers} and device.slots["default"]["versions"] == versions


def test_a_number_out_of_range_in_slots_fails_the_row_and_is_not_stored_as_null(run_import):
    slot = json.dumps({**SLOT, "versions": {"1": {"x": 1}}}).replace('{"x": 1}', '{"x": 1e400}')
    run = run_import(f'{{"id": "inf", "slots": {{"default": {slot}}}}}\n{{"id": "ok"}}\n')

    assert run.failed_lines == [1]
    assert list(Device.objects.values_list("pk", flat=True)) == ["ok"]


@pytest.mark.parametrize("number", [1e-07, 3e-05])
def test_the_metadata_limit_measures_floats_as_the_api_does(run_import, number):
    # orjson writes some floats a character shorter (1e-7 for 1e-07) or longer (0.00003 for 3e-05) than the json
    # module, by which POST /devices measures the limit: the import must draw the line at the same byte.
    from devices.validators import json_size

    limit = settings.DEVMANAGER_METADATA_MAX_BYTES
    floats = [number] * 200
    padding = limit - json_size({"f": floats, "k": ""})
    fits, over = ({"f": floats, "k": "x" * size} for size in (padding, padding + 1))
    assert json_size(fits) == limit and json_size(over) == limit + 1

    run = run_import(jsonl({"id": "fits", "metadata": fits}, {"id": "over", "metadata": over}))

    assert run.failed_lines == [2] and "metadata" in run.reason(2)
    assert Device.objects.get().metadata == fits


def test_import_refuses_rows_with_nul_and_keeps_the_others(run_import):
    slot = {"status": "ACTIVE", "active_version": 1, "type": "X509", "versions": {"1": "pem\u0000"}}
    rows = [
        {"id": "ok-1", "metadata": {"k": "v"}},
        {"id": "bad-1", "metadata": {"k": "a\u0000"}},
        {"id": "bad-2", "status": "ACTIVE", "slots": {"default": slot}},
        {"id": "bad-3", "slots": {"de\u0000fault": {**slot, "versions": {}}}},
    ]

    run = run_import("".join(json.dumps(row) + "\n" for row in rows))

    assert run.failed_lines == [2, 3, 4]
    assert all("U+0000" in run.reason(line) for line in (2, 3, 4))
    assert list(Device.objects.values_list("pk", flat=True)) == ["ok-1"]


def test_import_csv_refuses_nul_in_metadata_cell(run_import):
    run = run_import('id,metadata\nok-1,"{""k"": 1}"\nbad-1,"{""k"": ""\\u0000""}"\n', suffix=".csv")

    assert run.failed_lines == [3]
    assert list(Device.objects.values_list("pk", flat=True)) == ["ok-1"]


def test_import_refuses_slot_versions_nested_too_deep(run_import):
    deep = "leaf"
    for _ in range(150):
        deep = [deep]
    slot = {"status": "ACTIVE", "active_version": 1, "type": "X509", "versions": {"1": deep}}

    run = run_import(jsonl({"id": "deep", "status": "ACTIVE", "slots": {"default": slot}}, {"id": "ok"}))

    assert run.failed_lines == [1]
    assert "100 levels" in run.reason(1)
    assert list(Device.objects.values_list("pk", flat=True)) == ["ok"]


def test_import_refuses_a_dms_id_no_path_can_name(run_import):
    run = run_import(jsonl({"id": "d-1", "dms_id": "a/b"}, {"id": "d-2", "dms_owner": ".."}, {"id": "d-3"}))

    assert run.failed_lines == [1, 2]
    assert [failure["fields"][0]["name"] for failure in run.failures] == ["dms_id", "dms_owner"]
    assert list(Device.objects.values_list("pk", flat=True)) == ["d-3"]
