"""Adapters end to end: create one of each type, reach the device through every identifier form."""

import pytest

from tests.conftest import API, assert_error
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

IMEI = "490154203237518"
DEV_EUI = "0004A30B001C0530"
DVN = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"


@pytest.fixture
def device_with_adapters(api_client):
    DeviceFactory(id="dev-1")
    for body in (
        {"type": "cellular", "imei": IMEI, "iccid": "89310410106543789301", "msisdn": "+31612345678"},
        {"type": "lora", "devEui": DEV_EUI, "joinEui": "70B3D57ED0000000", "activation": "otaa"},
        {"type": "generic", "dvnUuid": DVN, "description": "gateway"},
    ):
        response = api_client.post(f"{API}/devices/dev-1/network-adapters", body, format="json")
        assert response.status_code == 201, response.content
    return "dev-1"


@pytest.mark.usefixtures("device_with_adapters")
@pytest.mark.parametrize(
    "identifier",
    [
        f"imei:{IMEI}",
        f"IMEI:{IMEI}",
        f"urn:dev:imei:{IMEI}",
        f"urn:dev:imei:{IMEI}:",
        f"deveui:{DEV_EUI}",
        f"deveui:{DEV_EUI.lower()}",
        f"URN:DEV:DEVEUI:{DEV_EUI}",
        f"dvnuuid:{DVN}",
        f"urn:dev:dvnuuid:{DVN.lower()}:",
    ],
)
@pytest.mark.parametrize("suffix", ["", "/events", "/network-adapters", "/device-groups"])
def test_identifier_forms_resolve_on_device_routes(api_client, identifier, suffix):
    response = api_client.get(f"{API}/devices/{identifier}{suffix}")

    assert response.status_code == 200, response.content
    if not suffix:
        assert response.json()["id"] == "dev-1"


@pytest.mark.usefixtures("device_with_adapters")
@pytest.mark.parametrize("identifier", ["imei:490154203237519", "imei:123", "deveui:xyz", "dvnuuid:nope", "imei:"])
def test_unknown_or_malformed_identifier_is_not_found(api_client, identifier):
    assert_error(api_client.get(f"{API}/devices/{identifier}"), 404, "not_found")


def test_device_own_id_wins(api_client, device_with_adapters):
    DeviceFactory(id=f"imei:{IMEI}")

    assert api_client.get(f"{API}/devices/imei:{IMEI}").json()["id"] == f"imei:{IMEI}"


def test_identifiers_normalised_and_listed(api_client, device_with_adapters):
    body = api_client.get(f"{API}/devices/dev-1/network-adapters").json()

    assert body["next"] == ""
    by_type = {adapter["type"]: adapter for adapter in body["list"]}
    assert by_type["lora"]["dev_eui"] == DEV_EUI.lower() and by_type["lora"]["activation"] == "OTAA"
    assert by_type["generic"]["dvn_uuid"] == DVN.lower()
    assert set(by_type["cellular"]) == {
        "id", "type", "device_id", "imei", "iccid", "imsi", "msisdn", "created_at", "updated_at"
    }  # fmt: skip
    lora = api_client.get(f"{API}/devices/dev-1/network-adapters", {"type": "lora"}).json()["list"]
    assert [adapter["type"] for adapter in lora] == ["lora"]


def test_duplicate_identifier_conflict(api_client, device_with_adapters):
    DeviceFactory(id="dev-2")
    response = api_client.post(
        f"{API}/devices/dev-2/network-adapters", {"type": "cellular", "imei": IMEI}, format="json"
    )

    assert_error(response, 409, "conflict")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "cellular", "imei": "490154203237519"}, "imei"),
        ({"type": "cellular", "imei": "12345"}, "imei"),
        ({"type": "cellular"}, "imei"),
        ({"type": "lora", "dev_eui": "0004A30B001C05"}, "dev_eui"),
        ({"type": "generic", "dvn_uuid": "not-a-uuid"}, "dvn_uuid"),
        ({"type": "cellular", "imei": "490154203237518", "dev_eui": "0004A30B001C0530"}, "dev_eui"),
        ({"type": "satellite"}, "type"),
        ({"type": "cellular", "imei": "490154203237518", "msisdn": "12"}, "msisdn"),
        ({"type": "lora", "dev_eui": "0004A30B001C0531", "activation": "maybe"}, "activation"),
    ],
)
def test_bad_adapter_rejected_naming_field(api_client, body, field):
    DeviceFactory(id="dev-3")

    assert_error(
        api_client.post(f"{API}/devices/dev-3/network-adapters", body, format="json"), 400, "validation_error", field
    )


def test_put_identifier_is_immutable(api_client, device_with_adapters):
    adapters = api_client.get(f"{API}/devices/dev-1/network-adapters", {"type": "cellular"}).json()["list"]
    url = f"{API}/devices/dev-1/network-adapters/{adapters[0]['id']}"

    same = api_client.put(url, {"imei": IMEI, "imsi": "204080123456789"}, format="json")
    assert same.status_code == 200 and same.json()["imsi"] == "204080123456789"
    assert_error(api_client.put(url, {"imei": "35693803564380" + "4"}, format="json"), 400, "validation_error", "imei")
    assert_error(api_client.put(url, {"type": "lora"}, format="json"), 400, "validation_error", "type")
    assert api_client.delete(url).status_code == 204
    assert api_client.get(f"{API}/devices/imei:{IMEI}").status_code == 404


@pytest.mark.usefixtures("device_with_adapters")
def test_filter_by_adapter_identifier(api_client):
    DeviceFactory(id="other")
    for text in (f"imei[eq]:{IMEI}", f"dev_eui[eq]:{DEV_EUI}", f"dvn_uuid[in]:{DVN},{DVN.lower()}"):
        body = api_client.get(f"{API}/devices", {"filter": text}).json()
        assert [device["id"] for device in body["list"]] == ["dev-1"], text
    assert_error(api_client.get(f"{API}/devices", {"filter": "imei[eq]:123"}), 400, "validation_error", "filter[0]")
