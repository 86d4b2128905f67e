"""`/devices/{id}/network-adapters` (contract, section 5): create, validate, list, update, delete, with the
identifiers unique across all devices and the scopes of the device resource."""

import json
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adapters.models import MAX_ADAPTERS_PER_DEVICE, NetworkAdapter
from devices.models import Device
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory, NetworkAdapterFactory
from tests.openapi import assert_conforms

pytestmark = pytest.mark.django_db

IMEI = "490154203237518"
OTHER_IMEI = "356938035643809"
IMEISV = "3569380356438091"
DEV_EUI = "0004A30B001C0530"
JOIN_EUI = "70B3D57ED0000000"
DVN = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
COMMON_KEYS = {"id", "type", "device_id", "created_at", "updated_at"}
TYPE_KEYS = {
    "cellular": {"imei", "iccid", "imsi", "msisdn"},
    "lora": {"dev_eui", "join_eui", "activation"},
    "generic": {"dvn_uuid", "description"},
}


def adapters_url(device_id: str = "dev-1", adapter_id=None) -> str:
    url = f"{API}/devices/{device_id}/network-adapters"
    return url if adapter_id is None else f"{url}/{adapter_id}"


def post_adapter(client, body, device_id: str = "dev-1"):
    return client.post(adapters_url(device_id), body, format="json")


def stored(adapter_id) -> dict:
    """The adapter's row as the database holds it."""
    return NetworkAdapter.objects.filter(pk=adapter_id).values().get()


@pytest.fixture
def device():
    return DeviceFactory(id="dev-1")


@pytest.fixture
def other_device():
    return DeviceFactory(id="dev-2")


# --- Create ---------------------------------------------------------------------------------------------------


def test_create_cellular_returns_adapter(api_client, device):
    body = {"type": "cellular", "imei": IMEI, "iccid": "89310410106543789301", "imsi": "204080123456789"}
    response = post_adapter(api_client, {**body, "msisdn": "+31612345678"})

    assert response.status_code == 201, response.content
    adapter = response.json()
    assert set(adapter) == COMMON_KEYS | TYPE_KEYS["cellular"]
    assert adapter["type"] == "cellular" and adapter["device_id"] == "dev-1"
    assert (adapter["imei"], adapter["iccid"], adapter["imsi"], adapter["msisdn"]) == (
        IMEI,
        "89310410106543789301",
        "204080123456789",
        "+31612345678",
    )
    assert TIMESTAMP.fullmatch(adapter["created_at"]) and adapter["created_at"] == adapter["updated_at"]
    row = stored(uuid.UUID(adapter["id"]))
    assert (row["device_id"], row["type"], row["imei"], row["msisdn"]) == ("dev-1", "cellular", IMEI, "+31612345678")


def test_create_cellular_optional_fields_null(api_client, device):
    response = post_adapter(api_client, {"type": "cellular", "imei": IMEISV})

    assert response.status_code == 201, response.content
    adapter = response.json()
    assert (adapter["imei"], adapter["iccid"], adapter["imsi"], adapter["msisdn"]) == (IMEISV, None, None, None)


def test_create_lora_normalises_euis_and_activation(api_client, device):
    response = post_adapter(api_client, {"type": "lora", "dev_eui": DEV_EUI, "join_eui": JOIN_EUI, "activation": "abp"})

    assert response.status_code == 201, response.content
    adapter = response.json()
    assert set(adapter) == COMMON_KEYS | TYPE_KEYS["lora"]
    assert (adapter["dev_eui"], adapter["join_eui"], adapter["activation"]) == (
        DEV_EUI.lower(),
        JOIN_EUI.lower(),
        "ABP",
    )
    row = stored(adapter["id"])
    assert (row["dev_eui"], row["join_eui"], row["activation"]) == (DEV_EUI.lower(), JOIN_EUI.lower(), "ABP")


def test_create_generic_normalises_uuid(api_client, device):
    response = post_adapter(api_client, {"type": "generic", "dvn_uuid": DVN, "description": "gateway"})

    assert response.status_code == 201, response.content
    adapter = response.json()
    assert set(adapter) == COMMON_KEYS | TYPE_KEYS["generic"]
    assert (adapter["dvn_uuid"], adapter["description"]) == (DVN.lower(), "gateway")
    assert stored(adapter["id"])["dvn_uuid"] == uuid.UUID(DVN)


def test_create_generic_without_uuid_generates_one(api_client, device):
    response = post_adapter(api_client, {"type": "generic"})

    assert response.status_code == 201, response.content
    adapter = response.json()
    generated = adapter["dvn_uuid"]
    assert str(uuid.UUID(generated)) == generated
    assert adapter["description"] == ""
    assert stored(adapter["id"])["dvn_uuid"] == uuid.UUID(generated)


def test_create_generic_twice_without_uuid_generates_distinct_ones(api_client, device):
    first = post_adapter(api_client, {"type": "generic"}).json()["dvn_uuid"]
    second = post_adapter(api_client, {"type": "generic"}).json()["dvn_uuid"]

    assert first != second


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"type": "lora", "devEui": DEV_EUI, "joinEui": JOIN_EUI}, {"dev_eui": DEV_EUI.lower()}),
        ({"type": "lora", "devEui": DEV_EUI, "join_eui": JOIN_EUI}, {"join_eui": JOIN_EUI.lower()}),
        ({"type": "generic", "dvnUuid": DVN}, {"dvn_uuid": DVN.lower()}),
    ],
)
def test_create_accepts_camel_case_spellings(api_client, device, body, expected):
    response = post_adapter(api_client, body)

    assert response.status_code == 201, response.content
    adapter = response.json()
    assert {name: adapter[name] for name in expected} == expected
    assert "devEui" not in adapter and "dvnUuid" not in adapter


@pytest.mark.parametrize(
    "body",
    [
        {"type": "lora", "devEui": DEV_EUI, "dev_eui": DEV_EUI},
        {"type": "lora", "dev_eui": DEV_EUI, "joinEui": JOIN_EUI, "join_eui": JOIN_EUI},
        {"type": "generic", "dvnUuid": DVN, "dvn_uuid": DVN},
    ],
)
def test_create_both_spellings_rejected(api_client, device, body):
    body_json = assert_error(post_adapter(api_client, body), 400, "validation_error")

    named = {field["name"] for field in body_json["fields"]}
    assert named & {"devEui", "dev_eui", "joinEui", "join_eui", "dvnUuid", "dvn_uuid"}
    assert not NetworkAdapter.objects.exists()


# --- Validation -----------------------------------------------------------------------------------------------

CELLULAR = {"type": "cellular", "imei": IMEI}
LORA = {"type": "lora", "dev_eui": DEV_EUI}
GENERIC = {"type": "generic", "dvn_uuid": DVN}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # IMEI: length, non-digits, Luhn, null
        ({"type": "cellular", "imei": "49015420323751"}, "imei"),
        ({"type": "cellular", "imei": "49015420323751800"}, "imei"),
        ({"type": "cellular", "imei": "49015420323751a"}, "imei"),
        ({"type": "cellular", "imei": "+490154203237518"}, "imei"),
        ({"type": "cellular", "imei": "490154203237519"}, "imei"),
        ({"type": "cellular", "imei": ""}, "imei"),
        ({"type": "cellular", "imei": None}, "imei"),
        ({"type": "cellular"}, "imei"),
        # ICCID 18 to 22 digits
        ({**CELLULAR, "iccid": "8931041010654378"}, "iccid"),
        ({**CELLULAR, "iccid": "89310410106543789"}, "iccid"),
        ({**CELLULAR, "iccid": "89310410106543789301234"}, "iccid"),
        ({**CELLULAR, "iccid": "8931041010654378930F"}, "iccid"),
        # IMSI exactly 15 digits
        ({**CELLULAR, "imsi": "20408012345678"}, "imsi"),
        ({**CELLULAR, "imsi": "2040801234567890"}, "imsi"),
        ({**CELLULAR, "imsi": "20408012345678x"}, "imsi"),
        # MSISDN 8 to 15 digits after an optional +
        ({**CELLULAR, "msisdn": "3161234"}, "msisdn"),
        ({**CELLULAR, "msisdn": "+3161234"}, "msisdn"),
        ({**CELLULAR, "msisdn": "3161234567890123"}, "msisdn"),
        ({**CELLULAR, "msisdn": "+3161234567890123"}, "msisdn"),
        ({**CELLULAR, "msisdn": "+31612345678a"}, "msisdn"),
        ({**CELLULAR, "msisdn": "phone-number"}, "msisdn"),
        ({**CELLULAR, "msisdn": "++31612345678"}, "msisdn"),
        ({**CELLULAR, "msisdn": "31612345678+"}, "msisdn"),
        ({**CELLULAR, "msisdn": "+"}, "msisdn"),
        # DevEUI and JoinEUI: 16 hex digits
        ({"type": "lora", "dev_eui": DEV_EUI[:-1]}, "dev_eui"),
        ({"type": "lora", "dev_eui": DEV_EUI + "0"}, "dev_eui"),
        ({"type": "lora", "dev_eui": "0004A30B001C053G"}, "dev_eui"),
        ({"type": "lora", "devEui": "zz04A30B001C0530"}, "dev_eui"),
        ({"type": "lora"}, "dev_eui"),
        ({**LORA, "join_eui": JOIN_EUI[:-1]}, "join_eui"),
        ({**LORA, "join_eui": JOIN_EUI + "0"}, "join_eui"),
        ({**LORA, "joinEui": "70B3D57ED000000X"}, "join_eui"),
        # activation
        ({**LORA, "activation": "maybe"}, "activation"),
        ({**LORA, "activation": ""}, "activation"),
        # UUID
        ({"type": "generic", "dvn_uuid": "not-a-uuid"}, "dvn_uuid"),
        ({"type": "generic", "dvn_uuid": DVN[:-1]}, "dvn_uuid"),
        ({"type": "generic", "dvn_uuid": ""}, "dvn_uuid"),
        ({"type": "generic", "dvn_uuid": None}, "dvn_uuid"),
        # fields of another type
        ({**CELLULAR, "dev_eui": DEV_EUI}, "dev_eui"),
        ({**CELLULAR, "description": "modem"}, "description"),
        ({**CELLULAR, "activation": "OTAA"}, "activation"),
        ({**LORA, "imei": IMEI}, "imei"),
        ({**LORA, "iccid": "89310410106543789301"}, "iccid"),
        ({**LORA, "dvnUuid": DVN}, "dvn_uuid"),
        ({**GENERIC, "msisdn": "+31612345678"}, "msisdn"),
        ({**GENERIC, "join_eui": JOIN_EUI}, "join_eui"),
        # unknown fields, including the read-only ones of the adapter object
        ({**CELLULAR, "colour": "red"}, "colour"),
        ({**CELLULAR, "DevEUI": DEV_EUI}, "DevEUI"),
        ({**GENERIC, "uuid": DVN}, "uuid"),
        # wrong JSON types
        ({"type": "cellular", "imei": 490154203237518}, "imei"),
        ({**CELLULAR, "iccid": 89310410106543789301}, "iccid"),
        ({**CELLULAR, "imsi": 204080123456789}, "imsi"),
        ({**CELLULAR, "msisdn": 31612345678}, "msisdn"),
        ({"type": "lora", "dev_eui": 1234567890123456}, "dev_eui"),
        ({**LORA, "activation": True}, "activation"),
        ({"type": "generic", "dvn_uuid": 1234}, "dvn_uuid"),
        ({**GENERIC, "description": 42}, "description"),
        ({**GENERIC, "description": None}, "description"),
        ({"type": "cellular", "imei": [IMEI]}, "imei"),
        ({"type": "cellular", "imei": {"value": IMEI}}, "imei"),
        # type
        ({"imei": IMEI}, "type"),
        ({}, "type"),
        ({"type": "satellite"}, "type"),
        ({"type": "CELLULAR", "imei": IMEI}, "type"),
        ({"type": 1, "imei": IMEI}, "type"),
        ({"type": None}, "type"),
        ({"type": ["cellular"], "imei": IMEI}, "type"),
    ],
)
def test_create_invalid_rejected_naming_field(api_client, device, body, field):
    assert_error(post_adapter(api_client, body), 400, "validation_error", field)
    assert not NetworkAdapter.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"iccid": "893104101065437893"},
        {"iccid": "8931041010654378930123"},
        {"imsi": "204080123456789"},
        {"msisdn": "31612345"},
        {"msisdn": "+31612345"},
        {"msisdn": "316123456789012"},
        {"msisdn": "+316123456789012"},
        {"iccid": None, "imsi": None, "msisdn": None},
    ],
)
def test_create_cellular_boundaries_accepted(api_client, device, fields):
    response = post_adapter(api_client, {**CELLULAR, **fields})

    assert response.status_code == 201, response.content
    assert {name: response.json()[name] for name in fields} == fields


def test_create_several_errors_all_named(api_client, device):
    body = assert_error(
        post_adapter(api_client, {**CELLULAR, "imei": "123", "msisdn": "12", "extra": 1}), 400, "validation_error"
    )

    assert {"imei", "msisdn", "extra"} <= {field["name"] for field in body["fields"]}


@pytest.mark.parametrize("body", [[CELLULAR], "cellular", 42, None, True])
def test_create_non_object_body_rejected(api_client, device, body):
    response = api_client.post(adapters_url(), json.dumps(body), content_type="application/json")

    assert_error(response, 400, "validation_error")
    assert not NetworkAdapter.objects.exists()


def test_create_malformed_json_rejected(api_client, device):
    response = api_client.post(adapters_url(), '{"type": "cellular",', content_type="application/json")

    assert_error(response, 400, "bad_request")
    assert not NetworkAdapter.objects.exists()


def test_create_validation_reported_before_conflict(api_client, device, other_device):
    NetworkAdapterFactory(device=other_device, imei=IMEI)

    assert_error(post_adapter(api_client, {**CELLULAR, "msisdn": "12"}), 400, "validation_error", "msisdn")


# --- Uniqueness and the limit ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "body"),
    [
        ({"type": "cellular", "imei": IMEI}, {"type": "cellular", "imei": IMEI}),
        ({"type": "cellular", "imei": IMEISV}, {"type": "cellular", "imei": IMEISV}),
        ({"type": "lora", "dev_eui": DEV_EUI.lower()}, {"type": "lora", "dev_eui": DEV_EUI}),
        ({"type": "lora", "dev_eui": DEV_EUI.lower()}, {"type": "lora", "devEui": DEV_EUI.lower()}),
        ({"type": "generic", "dvn_uuid": DVN.lower()}, {"type": "generic", "dvn_uuid": DVN}),
        ({"type": "generic", "dvn_uuid": DVN.lower()}, {"type": "generic", "dvnUuid": DVN.lower()}),
    ],
)
@pytest.mark.parametrize("same_device", [False, True], ids=["other-device", "same-device"])
def test_create_duplicate_identifier_conflict(api_client, device, other_device, existing, body, same_device):
    owner = device if same_device else other_device
    NetworkAdapterFactory(device=owner, **existing)

    assert_error(post_adapter(api_client, body), 409, "conflict")
    assert NetworkAdapter.objects.count() == 1
    assert NetworkAdapter.objects.get().device_id == owner.pk


def test_create_same_join_eui_on_two_devices_allowed(api_client, device, other_device):
    NetworkAdapterFactory(device=other_device, type="lora", join_eui=JOIN_EUI.lower())

    response = post_adapter(api_client, {**LORA, "join_eui": JOIN_EUI})

    assert response.status_code == 201, response.content


def test_create_same_identifier_value_in_another_column_allowed(api_client, device, other_device):
    """An IMEISV is 16 digits, also a valid DevEUI: uniqueness is per kind of identifier."""
    NetworkAdapterFactory(device=other_device, type="cellular", imei=IMEISV)

    response = post_adapter(api_client, {"type": "lora", "dev_eui": IMEISV})

    assert response.status_code == 201, response.content


def test_create_seventeenth_adapter_conflict(api_client, device):
    for _ in range(MAX_ADAPTERS_PER_DEVICE):
        NetworkAdapterFactory(device=device, type="generic")

    assert_error(post_adapter(api_client, CELLULAR), 409, "conflict")
    assert NetworkAdapter.objects.filter(device=device).count() == MAX_ADAPTERS_PER_DEVICE
    assert not NetworkAdapter.objects.filter(imei=IMEI).exists()


def test_create_invalid_on_full_device_is_validation_error(api_client, device):
    for _ in range(MAX_ADAPTERS_PER_DEVICE):
        NetworkAdapterFactory(device=device, type="generic")

    assert_error(post_adapter(api_client, {"type": "cellular", "imei": "123"}), 400, "validation_error", "imei")


def test_create_sixteenth_adapter_allowed(api_client, device):
    for _ in range(MAX_ADAPTERS_PER_DEVICE - 1):
        NetworkAdapterFactory(device=device, type="generic")

    assert post_adapter(api_client, CELLULAR).status_code == 201
    assert NetworkAdapter.objects.filter(device=device).count() == MAX_ADAPTERS_PER_DEVICE


def test_create_after_delete_under_limit_again(api_client, device):
    adapters = [NetworkAdapterFactory(device=device, type="generic") for _ in range(MAX_ADAPTERS_PER_DEVICE)]

    assert api_client.delete(adapters_url("dev-1", adapters[0].pk)).status_code == 204
    assert post_adapter(api_client, CELLULAR).status_code == 201


def test_create_limit_is_per_device(api_client, device, other_device):
    for _ in range(MAX_ADAPTERS_PER_DEVICE):
        NetworkAdapterFactory(device=other_device, type="generic")

    assert post_adapter(api_client, CELLULAR).status_code == 201


# --- List -----------------------------------------------------------------------------------------------------


def test_list_empty_device(api_client, device):
    response = api_client.get(adapters_url())

    assert response.status_code == 200
    assert response.json() == {"next": "", "list": []}


def test_list_all_adapters_of_device_in_creation_order(api_client, device, other_device):
    made = [
        NetworkAdapterFactory(device=device, type="cellular"),
        NetworkAdapterFactory(device=device, type="lora"),
        NetworkAdapterFactory(device=device, type="generic"),
    ]
    NetworkAdapterFactory(device=other_device, type="cellular")

    body = api_client.get(adapters_url()).json()

    assert body["next"] == ""
    assert [adapter["id"] for adapter in body["list"]] == [str(adapter.pk) for adapter in made]
    assert {adapter["device_id"] for adapter in body["list"]} == {"dev-1"}
    for adapter in body["list"]:
        assert set(adapter) == COMMON_KEYS | TYPE_KEYS[adapter["type"]]


def test_list_all_sixteen_in_one_page(api_client, device):
    for _ in range(MAX_ADAPTERS_PER_DEVICE):
        NetworkAdapterFactory(device=device, type="lora")

    body = api_client.get(adapters_url(), {"page_size": 1}).json()

    assert body["next"] == ""
    assert len(body["list"]) == MAX_ADAPTERS_PER_DEVICE


@pytest.mark.parametrize("adapter_type", ["cellular", "lora", "generic"])
def test_list_type_filter(api_client, device, adapter_type):
    for made_type in ("cellular", "lora", "generic", "cellular", "lora", "generic"):
        NetworkAdapterFactory(device=device, type=made_type)

    body = api_client.get(adapters_url(), {"type": adapter_type}).json()

    assert body["next"] == ""
    assert [adapter["type"] for adapter in body["list"]] == [adapter_type, adapter_type]


def test_list_type_filter_without_match_empty(api_client, device):
    NetworkAdapterFactory(device=device, type="cellular")

    assert api_client.get(adapters_url(), {"type": "lora"}).json() == {"next": "", "list": []}


@pytest.mark.parametrize("adapter_type", ["bogus", "", "CELLULAR", "cellular,lora"])
def test_list_bad_type_rejected(api_client, device, adapter_type):
    assert_error(api_client.get(adapters_url(), {"type": adapter_type}), 400, "validation_error", "type")


def test_list_query_count_independent_of_size(api_client, device, other_device):
    NetworkAdapterFactory(device=device)
    for _ in range(MAX_ADAPTERS_PER_DEVICE):
        NetworkAdapterFactory(device=other_device, type="lora")
    api_client.get(adapters_url())  # the key is cached from here on

    with CaptureQueriesContext(connection) as one:
        assert len(api_client.get(adapters_url("dev-1")).json()["list"]) == 1
    with CaptureQueriesContext(connection) as sixteen:
        assert len(api_client.get(adapters_url("dev-2")).json()["list"]) == MAX_ADAPTERS_PER_DEVICE

    assert len(one) == len(sixteen) <= 3


# --- Update ---------------------------------------------------------------------------------------------------


@pytest.fixture
def cellular(device):
    return NetworkAdapterFactory(device=device, imei=IMEI, iccid="89310410106543789301", msisdn="+31612345678")


@pytest.fixture
def lora(device):
    return NetworkAdapterFactory(device=device, type="lora", dev_eui=DEV_EUI.lower(), activation="OTAA")


@pytest.fixture
def generic(device):
    return NetworkAdapterFactory(device=device, type="generic", dvn_uuid=DVN.lower(), description="gateway")


@pytest.mark.parametrize(
    ("adapter_name", "body"),
    [
        ("cellular", {"imei": IMEI}),
        ("cellular", {"type": "cellular", "imei": IMEI}),
        ("cellular", {"imei": IMEI, "iccid": "89310410106543789301"}),
        ("cellular", {}),
        ("lora", {"dev_eui": DEV_EUI}),
        ("lora", {"devEui": DEV_EUI.lower(), "activation": "otaa"}),
        ("generic", {"dvn_uuid": DVN}),
        ("generic", {"type": "generic", "dvnUuid": DVN.lower(), "description": "gateway"}),
    ],
)
def test_update_identical_is_noop(api_client, request, adapter_name, body):
    adapter = request.getfixturevalue(adapter_name)
    url = adapters_url("dev-1", adapter.pk)
    before_body = api_client.get(adapters_url()).json()["list"][0]
    before_row = stored(adapter.pk)

    response = api_client.put(url, body, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == before_body
    assert stored(adapter.pk) == before_row


def test_update_cellular_fields(api_client, cellular):
    response = api_client.put(
        adapters_url("dev-1", cellular.pk),
        {"imei": IMEI, "iccid": "8931041010654378930123", "imsi": "204080123456789", "msisdn": "31698765432"},
        format="json",
    )

    assert response.status_code == 200, response.content
    adapter = response.json()
    assert (adapter["imei"], adapter["iccid"], adapter["imsi"], adapter["msisdn"]) == (
        IMEI,
        "8931041010654378930123",
        "204080123456789",
        "31698765432",
    )
    row = stored(cellular.pk)
    assert (row["iccid"], row["imsi"], row["msisdn"]) == ("8931041010654378930123", "204080123456789", "31698765432")
    assert row["updated_at"] > cellular.updated_at
    assert row["created_at"] == cellular.created_at
    assert adapter["updated_at"] > adapter["created_at"]


def test_update_absent_fields_kept(api_client, cellular):
    response = api_client.put(adapters_url("dev-1", cellular.pk), {"imsi": "204080123456789"}, format="json")

    assert response.status_code == 200, response.content
    row = stored(cellular.pk)
    assert (row["iccid"], row["imsi"], row["msisdn"]) == ("89310410106543789301", "204080123456789", "+31612345678")


def test_update_null_clears_optional_field(api_client, cellular):
    response = api_client.put(adapters_url("dev-1", cellular.pk), {"msisdn": None}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["msisdn"] is None
    assert stored(cellular.pk)["msisdn"] is None


def test_update_lora_fields_normalised(api_client, lora):
    response = api_client.put(adapters_url("dev-1", lora.pk), {"joinEui": JOIN_EUI, "activation": "abp"}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["join_eui"], response.json()["activation"]) == (JOIN_EUI.lower(), "ABP")
    row = stored(lora.pk)
    assert (row["join_eui"], row["activation"], row["dev_eui"]) == (JOIN_EUI.lower(), "ABP", DEV_EUI.lower())
    assert row["updated_at"] > lora.updated_at


def test_update_generic_description(api_client, generic):
    response = api_client.put(adapters_url("dev-1", generic.pk), {"description": ""}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["description"] == ""
    assert stored(generic.pk)["description"] == ""
    assert stored(generic.pk)["dvn_uuid"] == uuid.UUID(DVN)


@pytest.mark.parametrize(
    ("adapter_name", "body", "field"),
    [
        ("cellular", {"imei": OTHER_IMEI}, "imei"),
        ("cellular", {"imei": OTHER_IMEI, "msisdn": "31698765432"}, "imei"),
        ("cellular", {"imei": IMEISV}, "imei"),
        ("cellular", {"type": "lora"}, "type"),
        ("cellular", {"type": "generic", "description": "now generic"}, "description"),
        ("cellular", {"type": "lora", "dev_eui": DEV_EUI}, "type"),
        ("lora", {"dev_eui": "0004a30b001c0531"}, "dev_eui"),
        ("lora", {"devEui": "0004A30B001C0531", "activation": "ABP"}, "dev_eui"),
        ("lora", {"type": "cellular"}, "type"),
        ("generic", {"dvn_uuid": str(uuid.uuid4())}, "dvn_uuid"),
        ("generic", {"type": "cellular", "imei": OTHER_IMEI}, "type"),
    ],
)
def test_update_identifier_or_type_change_rejected(api_client, request, adapter_name, body, field):
    adapter = request.getfixturevalue(adapter_name)
    before = stored(adapter.pk)

    assert_error(api_client.put(adapters_url("dev-1", adapter.pk), body, format="json"), 400, "validation_error")
    assert stored(adapter.pk) == before


@pytest.mark.parametrize(
    ("adapter_name", "body", "field"),
    [
        ("cellular", {"dev_eui": DEV_EUI}, "dev_eui"),
        ("cellular", {"description": "modem"}, "description"),
        ("cellular", {"activation": "OTAA"}, "activation"),
        ("lora", {"imei": OTHER_IMEI}, "imei"),
        ("lora", {"msisdn": "+31612345678"}, "msisdn"),
        ("lora", {"dvnUuid": DVN}, "dvn_uuid"),
        ("generic", {"iccid": "89310410106543789301"}, "iccid"),
        ("generic", {"join_eui": JOIN_EUI}, "join_eui"),
    ],
)
def test_update_field_of_another_type_rejected(api_client, request, adapter_name, body, field):
    adapter = request.getfixturevalue(adapter_name)
    before = stored(adapter.pk)

    response = api_client.put(adapters_url("dev-1", adapter.pk), body, format="json")

    assert_error(response, 400, "validation_error", field)
    assert stored(adapter.pk) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"msisdn": "12"}, "msisdn"),
        ({"iccid": "123"}, "iccid"),
        ({"imsi": 204080123456789}, "imsi"),
        ({"imei": "123"}, "imei"),
        ({"imei": None}, "imei"),
        ({"type": "satellite"}, "type"),
        ({"id": "0c6c4b8e-6a4f-4a0e-8d1a-6f5f9c1d2e3f"}, "id"),
        ({"device_id": "dev-2"}, "device_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_update_invalid_rejected_naming_field(api_client, cellular, body, field):
    before = stored(cellular.pk)

    response = api_client.put(adapters_url("dev-1", cellular.pk), body, format="json")

    assert_error(response, 400, "validation_error", field)
    assert stored(cellular.pk) == before


@pytest.mark.parametrize("body", [[], "x", None, 1])
def test_update_non_object_body_rejected(api_client, cellular, body):
    response = api_client.put(adapters_url("dev-1", cellular.pk), json.dumps(body), content_type="application/json")

    assert_error(response, 400, "validation_error")


def test_update_adapter_of_another_device_not_found(api_client, cellular, other_device):
    before = stored(cellular.pk)

    response = api_client.put(adapters_url("dev-2", cellular.pk), {"msisdn": "31698765432"}, format="json")

    assert_error(response, 404, "not_found")
    assert stored(cellular.pk) == before


@pytest.mark.parametrize("adapter_id", ["not-a-uuid", "1", "0c6c4b8e-6a4f-4a0e-8d1a", "%00", str(uuid.uuid4())])
def test_update_unknown_or_malformed_adapter_id_not_found(api_client, cellular, adapter_id):
    response = api_client.put(adapters_url("dev-1", adapter_id), {"msisdn": "31698765432"}, format="json")

    assert_error(response, 404, "not_found")
    assert stored(cellular.pk)["msisdn"] == "+31612345678"


# --- Delete ---------------------------------------------------------------------------------------------------


def test_delete_adapter_then_not_found(api_client, cellular, lora):
    url = adapters_url("dev-1", cellular.pk)

    response = api_client.delete(url)

    assert response.status_code == 204
    assert response.content == b""
    assert not NetworkAdapter.objects.filter(pk=cellular.pk).exists()
    assert NetworkAdapter.objects.filter(pk=lora.pk).exists()
    assert [adapter["id"] for adapter in api_client.get(adapters_url()).json()["list"]] == [str(lora.pk)]
    assert_error(api_client.delete(url), 404, "not_found")
    assert_error(api_client.put(url, {}, format="json"), 404, "not_found")


def test_delete_frees_identifier_for_another_device(api_client, cellular, other_device):
    assert api_client.delete(adapters_url("dev-1", cellular.pk)).status_code == 204

    response = post_adapter(api_client, CELLULAR, device_id="dev-2")

    assert response.status_code == 201, response.content
    assert NetworkAdapter.objects.get(imei=IMEI).device_id == "dev-2"


def test_delete_adapter_of_another_device_not_found(api_client, cellular, other_device):
    assert_error(api_client.delete(adapters_url("dev-2", cellular.pk)), 404, "not_found")
    assert NetworkAdapter.objects.filter(pk=cellular.pk).exists()


@pytest.mark.parametrize("adapter_id", ["not-a-uuid", str(uuid.uuid4())])
def test_delete_unknown_or_malformed_adapter_id_not_found(api_client, cellular, adapter_id):
    assert_error(api_client.delete(adapters_url("dev-1", adapter_id)), 404, "not_found")
    assert NetworkAdapter.objects.count() == 1


def test_delete_gives_the_device_a_new_etag_and_updated_timestamp(api_client, cellular):
    before = api_client.get(f"{API}/devices/dev-1")

    assert api_client.delete(adapters_url("dev-1", cellular.pk)).status_code == 204

    after = api_client.get(f"{API}/devices/dev-1")
    assert after["ETag"] != before["ETag"]
    assert after.json()["updated_timestamp"] > before.json()["updated_timestamp"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**CELLULAR, "imsi": "2040801234"}, "must be 15 digits"),
        ({**CELLULAR, "iccid": "1"}, "must be 18 to 22 digits"),
    ],
)
def test_digit_count_messages_read_well(api_client, device, body, message):
    response = post_adapter(api_client, body)

    assert [field["message"] for field in assert_error(response, 400, "validation_error")["fields"]] == [message]


# --- If-Match: adapters are sub-resources of the device (contract, section 1) ---------------------------------


def test_update_with_stale_if_match_precondition_failed(api_client, cellular):
    stale = api_client.get(f"{API}/devices/dev-1")["ETag"]
    api_client.put(f"{API}/devices/dev-1/metadata", {"metadata": {"moved": True}}, format="json")
    before = stored(cellular.pk)

    response = api_client.put(
        adapters_url("dev-1", cellular.pk), {"msisdn": "31698765432"}, format="json", HTTP_IF_MATCH=stale
    )

    assert_error(response, 412, "precondition_failed")
    assert stored(cellular.pk) == before


def test_update_with_current_if_match_applies(api_client, cellular):
    etag = api_client.get(f"{API}/devices/dev-1")["ETag"]

    response = api_client.put(
        adapters_url("dev-1", cellular.pk), {"msisdn": "31698765432"}, format="json", HTTP_IF_MATCH=etag
    )

    assert response.status_code == 200, response.content
    assert stored(cellular.pk)["msisdn"] == "31698765432"


def test_delete_with_stale_if_match_precondition_failed(api_client, cellular):
    stale = api_client.get(f"{API}/devices/dev-1")["ETag"]
    api_client.put(f"{API}/devices/dev-1/metadata", {"metadata": {"moved": True}}, format="json")

    assert_error(api_client.delete(adapters_url("dev-1", cellular.pk), HTTP_IF_MATCH=stale), 412, "precondition_failed")
    assert NetworkAdapter.objects.filter(pk=cellular.pk).exists()


@pytest.mark.parametrize(
    ("method", "body"),
    [("post", CELLULAR), ("put", {"msisdn": "31698765432"}), ("delete", None)],
)
def test_adapter_write_changes_the_device_etag_and_updated_timestamp(api_client, lora, method, body):
    # An adapter is part of the device's representation: a write to it is a write to the device.
    before = api_client.get(f"{API}/devices/dev-1")
    target = lora if method != "post" else None
    body = {"activation": "ABP"} if method == "put" else body

    response = getattr(api_client, method)(adapters_url("dev-1", target and target.pk), body, format="json")

    assert response.status_code in (200, 201, 204), response.content
    after = api_client.get(f"{API}/devices/dev-1")
    assert after["ETag"] != before["ETag"]
    assert after.json()["updated_timestamp"] > before.json()["updated_timestamp"]


def test_adapter_put_that_changes_nothing_keeps_the_device_etag(api_client, lora):
    before = api_client.get(f"{API}/devices/dev-1")["ETag"]

    response = api_client.put(adapters_url("dev-1", lora.pk), {"activation": "otaa"}, format="json")

    assert response.status_code == 200
    assert api_client.get(f"{API}/devices/dev-1")["ETag"] == before


@pytest.mark.parametrize("second", ["put", "delete"])
def test_second_writer_holding_the_same_etag_gets_412(api_client, cellular, second):
    # Two clients read the device; the first's adapter write makes the second's ETag stale.
    etag = api_client.get(f"{API}/devices/dev-1")["ETag"]
    first = api_client.put(
        adapters_url("dev-1", cellular.pk), {"msisdn": "31698765432"}, format="json", HTTP_IF_MATCH=etag
    )
    assert first.status_code == 200
    before = stored(cellular.pk)

    response = getattr(api_client, second)(
        adapters_url("dev-1", cellular.pk), {"msisdn": "31600000000"}, format="json", HTTP_IF_MATCH=etag
    )

    assert_error(response, 412, "precondition_failed")
    assert stored(cellular.pk) == before


def test_delete_with_current_if_match_deletes(api_client, cellular):
    etag = api_client.get(f"{API}/devices/dev-1")["ETag"]

    assert api_client.delete(adapters_url("dev-1", cellular.pk), HTTP_IF_MATCH=etag).status_code == 204
    assert not NetworkAdapter.objects.filter(pk=cellular.pk).exists()


# --- Deleting the device --------------------------------------------------------------------------------------


def test_force_delete_device_deletes_adapters_and_frees_identifiers(api_client, cellular, lora, generic, other_device):
    assert api_client.delete(f"{API}/devices/dev-1?force=true").status_code == 204

    assert not Device.objects.filter(pk="dev-1").exists()
    assert not NetworkAdapter.objects.exists()
    for body in (CELLULAR, LORA, GENERIC):
        response = post_adapter(api_client, body, device_id="dev-2")
        assert response.status_code == 201, response.content
    assert NetworkAdapter.objects.filter(device=other_device).count() == 3


def test_delete_decommissioned_device_deletes_adapters(api_client, cellular):
    assert api_client.delete(f"{API}/devices/dev-1/decommission").status_code == 204
    assert api_client.delete(f"{API}/devices/dev-1").status_code == 204

    assert not NetworkAdapter.objects.exists()
    assert_error(api_client.get(f"{API}/devices/imei:{IMEI}"), 404, "not_found")


def test_delete_device_refused_keeps_adapters(api_client, cellular):
    assert_error(api_client.delete(f"{API}/devices/dev-1"), 409, "conflict")

    assert NetworkAdapter.objects.filter(pk=cellular.pk).exists()


def test_adapter_routes_of_deleted_device_not_found(api_client, cellular):
    assert api_client.delete(f"{API}/devices/dev-1?force=true").status_code == 204

    assert_error(api_client.get(adapters_url()), 404, "not_found")
    assert_error(post_adapter(api_client, LORA), 404, "not_found")
    assert_error(api_client.delete(adapters_url("dev-1", cellular.pk)), 404, "not_found")


# --- Scopes and unknown devices -------------------------------------------------------------------------------


def test_read_scope_lists(client_with_scopes, cellular):
    response = client_with_scopes("devices:read").get(adapters_url())

    assert response.status_code == 200
    assert [adapter["id"] for adapter in response.json()["list"]] == [str(cellular.pk)]


def test_read_scope_cannot_write(client_with_scopes, cellular):
    client = client_with_scopes("devices:read")
    before = stored(cellular.pk)

    assert_error(post_adapter(client, LORA), 403, "access_denied")
    assert_error(
        client.put(adapters_url("dev-1", cellular.pk), {"msisdn": "31698765432"}, format="json"), 403, "access_denied"
    )
    assert_error(client.delete(adapters_url("dev-1", cellular.pk)), 403, "access_denied")
    assert NetworkAdapter.objects.count() == 1
    assert stored(cellular.pk) == before


def test_write_scope_reads_and_writes(client_with_scopes, device):
    client = client_with_scopes("devices:write")

    assert post_adapter(client, CELLULAR).status_code == 201
    assert len(client.get(adapters_url()).json()["list"]) == 1


def test_groups_scopes_refused(client_with_scopes, cellular):
    client = client_with_scopes("groups:read", "groups:write")

    assert_error(client.get(adapters_url()), 403, "access_denied")
    assert_error(post_adapter(client, LORA), 403, "access_denied")
    assert_error(client.put(adapters_url("dev-1", cellular.pk), {}, format="json"), 403, "access_denied")
    assert_error(client.delete(adapters_url("dev-1", cellular.pk)), 403, "access_denied")
    assert NetworkAdapter.objects.count() == 1


def test_no_key_refused(anon_client, cellular):
    assert_error(anon_client.get(adapters_url()), 401, "invalid_auth")
    assert_error(post_adapter(anon_client, LORA), 401, "invalid_auth")


def test_unknown_device_not_found(api_client, cellular):
    assert_error(api_client.get(adapters_url("nobody")), 404, "not_found")
    assert_error(post_adapter(api_client, LORA, device_id="nobody"), 404, "not_found")
    assert_error(api_client.put(adapters_url("nobody", cellular.pk), {}, format="json"), 404, "not_found")
    assert_error(api_client.delete(adapters_url("nobody", cellular.pk)), 404, "not_found")
    assert NetworkAdapter.objects.count() == 1


def test_unknown_device_with_invalid_body_not_found(api_client):
    assert_error(post_adapter(api_client, {"type": "satellite"}, device_id="nobody"), 404, "not_found")


@pytest.mark.parametrize("method", ["patch", "head_or_options"])
def test_unsupported_method_not_allowed(api_client, cellular, method):
    if method == "patch":
        response = api_client.patch(adapters_url("dev-1", cellular.pk), {}, format="json")
    else:
        response = api_client.put(adapters_url(), {}, format="json")

    assert_error(response, 405, "method_not_supported")


# --- Answers as the OpenAPI document describes them (found by tests/fuzz) -------------------------------------

ADAPTERS_OPERATION = f"{API}/devices/{{device_id}}/network-adapters"
ADAPTER_OPERATION = f"{ADAPTERS_OPERATION}/{{adapter_id}}"


def test_list_conforms_to_schema_with_every_type(api_client, cellular, lora, generic):
    response = api_client.get(adapters_url())

    assert response.status_code == 200
    assert_conforms(response, ADAPTERS_OPERATION)


@pytest.mark.parametrize("body", [CELLULAR, LORA, GENERIC])
def test_create_conforms_to_schema_for_each_type(api_client, device, body):
    response = post_adapter(api_client, body)

    assert response.status_code == 201, response.content
    assert_conforms(response, ADAPTERS_OPERATION)


@pytest.mark.parametrize("adapter_name", ["cellular", "lora", "generic"])
def test_update_conforms_to_schema_for_each_type(api_client, request, adapter_name):
    adapter = request.getfixturevalue(adapter_name)

    response = api_client.put(adapters_url("dev-1", adapter.pk), {}, format="json")

    assert response.status_code == 200, response.content
    assert_conforms(response, ADAPTER_OPERATION)


@pytest.mark.parametrize("method", ["put", "delete"])
def test_stale_if_match_conforms_to_schema_on_update_and_delete(api_client, cellular, method):
    response = getattr(api_client, method)(
        adapters_url("dev-1", cellular.pk), {}, format="json", HTTP_IF_MATCH='"stale"'
    )

    assert_error(response, 412, "precondition_failed")
    assert_conforms(response, ADAPTER_OPERATION)


@pytest.mark.parametrize("params", [{"Type": "lora"}, {"type[]": "lora"}, {"types": "lora"}])
def test_list_unknown_query_parameter_is_400(api_client, lora, generic, params):
    # A typo must never widen the list: `?Type=lora` answered every adapter.
    assert_error(api_client.get(adapters_url(), params), 400, "validation_error", next(iter(params)))


def test_list_type_given_twice_is_400(api_client, lora, generic):
    assert_error(api_client.get(f"{adapters_url()}?type=lora&type=generic"), 400, "validation_error", "type")


@pytest.mark.parametrize("body", [{"type": ["x"]}, {"type": "bogus"}, {"type": {"a": 1}}])
def test_bad_type_message_names_the_types(api_client, device, body):
    error = assert_error(post_adapter(api_client, body), 400, "validation_error", "type")

    assert "must be one of cellular, lora, generic" in error["message"]
    assert "[" not in error["message"] and "{" not in error["message"]
