"""Devices named by their adapters (contract, section 3 "Device identifiers"): every `/devices/{id}...` route takes
`imei:`, `deveui:`, `dvnuuid:` and the `urn:dev:` forms, in any case, and acts on the adapter's owner; a device whose
own id is the string wins; resolution is one query; the `imei`, `dev_eui` and `dvn_uuid` filters."""

import uuid

import pytest

from adapters.models import NetworkAdapter
from devices.choices import DeviceStatus
from devices.models import Device, DeviceEvent
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory, DeviceGroupFactory, NetworkAdapterFactory
from tests.helpers import device_snapshot, device_url

pytestmark = pytest.mark.django_db

IMEI = "490154203237518"
IMEISV = "3569380356438091"
DEV_EUI = "0004A30B001C0530"
DVN = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"
OTHER_IMEI = "356938035643809"
OTHER_DEV_EUI = "70B3D57ED0000001"
UNUSED_IMEI = "000000000000000"

# Every form and several cases; each names dev-1.
FORMS = [
    f"imei:{IMEI}",
    f"IMEI:{IMEI}",
    f"urn:dev:imei:{IMEI}",
    f"URN:DEV:IMEI:{IMEI}:",
    f"imei:{IMEISV}",
    f"urn:dev:imei:{IMEISV}:",
    f"deveui:{DEV_EUI}",
    f"DEVEUI:{DEV_EUI.lower()}",
    f"urn:dev:deveui:{DEV_EUI.lower()}",
    f"Urn:Dev:DevEui:{DEV_EUI}:",
    f"dvnuuid:{DVN}",
    f"DvnUuid:{DVN.lower()}",
    f"urn:dev:dvnuuid:{DVN.lower()}",
    f"URN:DEV:DVNUUID:{DVN}:",
]

# Identifiers that name no device: unknown, malformed, or in no accepted form.
UNKNOWN = [
    f"imei:{UNUSED_IMEI}",
    "imei:490154203237519",  # bad Luhn digit
    "imei:49015420323751",
    f"imei:{IMEI}:",  # a trailing ':' only on the URN forms
    f"urn:dev:imei:{IMEI}::",
    f"imei: {IMEI}",
    f"\u0130MEI:{IMEI}",  # a non-ASCII letter that folds to `i`
    f"urn:dev:\u0131mei:{IMEI}",
    "urn:dev:imei:",
    "deveui:ffffffffffffffff",
    "deveui:xyz",
    f"deveui:{DEV_EUI}0",
    f"dvnuuid:{uuid.UUID(int=1)}",
    "dvnuuid:nope",
    f"urn:dev:mac:{DEV_EUI}",
    f"urn:imei:{IMEI}",
    "nobody",
]

SLOT = {"status": "ACTIVE", "active_version": 1, "type": "X509"}


@pytest.fixture
def fleet():
    """dev-1 with four adapters (15- and 16-digit IMEIs, a DevEUI, a DVN UUID), dev-2 with two of its own, and a
    group whose criterion is dev-1's IMEI."""
    first, second = DeviceFactory(id="dev-1"), DeviceFactory(id="dev-2")
    NetworkAdapterFactory(device=first, type="cellular", imei=IMEI)
    NetworkAdapterFactory(device=first, type="cellular", imei=IMEISV)
    NetworkAdapterFactory(device=first, type="lora", dev_eui=DEV_EUI.lower())
    NetworkAdapterFactory(device=first, type="generic", dvn_uuid=DVN.lower())
    NetworkAdapterFactory(device=second, type="cellular", imei=OTHER_IMEI)
    NetworkAdapterFactory(device=second, type="lora", dev_eui=OTHER_DEV_EUI.lower())
    return {
        "member": DeviceGroupFactory(name="by-imei", criteria=[{"field": "imei", "operand": "eq", "value": IMEI}]),
        "other": DeviceGroupFactory(name="dev-2-only", criteria=[{"field": "id", "operand": "eq", "value": "dev-2"}]),
    }


# --- Every route through every form ---------------------------------------------------------------------------


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_get_device_through_identifier(api_client, identifier):
    response = api_client.get(device_url(identifier))

    assert response.status_code == 200, response.content
    assert response.json()["id"] == "dev-1"
    assert response["ETag"] == Device.objects.get(pk="dev-1").etag


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_decommission_through_identifier(api_client, identifier):
    before = device_snapshot("dev-2")

    response = api_client.delete(device_url(identifier, "/decommission"))

    assert response.status_code == 204, response.content
    assert Device.objects.get(pk="dev-1").status == DeviceStatus.DECOMMISSIONED
    assert device_snapshot("dev-2") == before


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_idslot_through_identifier(api_client, identifier):
    before = device_snapshot("dev-2")

    response = api_client.put(device_url(identifier, "/idslot"), SLOT, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == "dev-1"
    device = Device.objects.get(pk="dev-1")
    assert device.status == DeviceStatus.ACTIVE
    assert device.identity["active_version"] == 1
    assert device_snapshot("dev-2") == before


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_metadata_put_through_identifier(api_client, identifier):
    before = device_snapshot("dev-2")

    response = api_client.put(device_url(identifier, "/metadata"), {"metadata": {"via": identifier}}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == "dev-1"
    assert Device.objects.get(pk="dev-1").metadata == {"via": identifier}
    assert device_snapshot("dev-2") == before


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_metadata_patch_through_identifier(api_client, identifier):
    before = device_snapshot("dev-2")
    patches = [{"op": "add", "path": "/via", "value": identifier}]

    response = api_client.patch(device_url(identifier, "/metadata"), {"patches": patches}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == "dev-1"
    assert Device.objects.get(pk="dev-1").metadata == {"location": "warehouse-a", "via": identifier}
    assert device_snapshot("dev-2") == before


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", [FORMS[0], FORMS[-1]])
def test_metadata_patch_bare_array_through_identifier(api_client, identifier):
    response = api_client.patch(
        device_url(identifier, "/metadata"),
        '[{"op": "remove", "path": "/location"}]',
        content_type="application/json-patch+json",
    )

    assert response.status_code == 200, response.content
    assert Device.objects.get(pk="dev-1").metadata == {}


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_events_through_identifier(api_client, identifier):
    api_client.put(device_url("dev-1", "/metadata"), {"metadata": {"step": 1}}, format="json")

    response = api_client.get(device_url(identifier, "/events"))

    assert response.status_code == 200, response.content
    listed = [event["type"] for event in response.json()["list"]]
    stored = DeviceEvent.objects.filter(device_id="dev-1").order_by("-timestamp").values_list("type", flat=True)
    assert listed == list(stored) == ["METADATA-UPDATED", "CREATED"]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_list_adapters_through_identifier(api_client, identifier):
    response = api_client.get(device_url(identifier, "/network-adapters"))

    assert response.status_code == 200, response.content
    adapters = response.json()["list"]
    assert [adapter["device_id"] for adapter in adapters] == ["dev-1"] * 4
    assert {adapter["id"] for adapter in adapters} == {
        str(pk) for pk in NetworkAdapter.objects.filter(device_id="dev-1").values_list("pk", flat=True)
    }


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_create_adapter_through_identifier(api_client, identifier):
    body = {"type": "lora", "dev_eui": "70B3D57ED00000FF"}

    response = api_client.post(device_url(identifier, "/network-adapters"), body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["device_id"] == "dev-1"
    assert NetworkAdapter.objects.get(dev_eui="70b3d57ed00000ff").device_id == "dev-1"
    assert NetworkAdapter.objects.filter(device_id="dev-2").count() == 2


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_update_adapter_through_identifier(api_client, identifier):
    adapter = NetworkAdapter.objects.get(imei=IMEI)

    response = api_client.put(
        device_url(identifier, f"/network-adapters/{adapter.pk}"), {"msisdn": "+31612345678"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["device_id"] == "dev-1"
    assert NetworkAdapter.objects.get(pk=adapter.pk).msisdn == "+31612345678"


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_delete_adapter_through_identifier(api_client, identifier):
    adapter = NetworkAdapterFactory(device=Device.objects.get(pk="dev-1"), type="generic")

    response = api_client.delete(device_url(identifier, f"/network-adapters/{adapter.pk}"))

    assert response.status_code == 204, response.content
    assert not NetworkAdapter.objects.filter(pk=adapter.pk).exists()
    assert NetworkAdapter.objects.filter(device_id="dev-1").count() == 4


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", [FORMS[0], FORMS[6], FORMS[-1]])
def test_adapter_of_another_device_through_identifier_not_found(api_client, identifier):
    adapter = NetworkAdapter.objects.get(imei=OTHER_IMEI)
    url = device_url(identifier, f"/network-adapters/{adapter.pk}")

    assert_error(api_client.put(url, {"msisdn": "+31612345678"}, format="json"), 404, "not_found")
    assert_error(api_client.delete(url), 404, "not_found")
    assert NetworkAdapter.objects.get(pk=adapter.pk).msisdn is None


@pytest.mark.parametrize("identifier", FORMS)
def test_device_groups_through_identifier(api_client, fleet, identifier):
    response = api_client.get(device_url(identifier, "/device-groups"))

    assert response.status_code == 200, response.content
    links = response.json()["list"]
    assert [(link["device_id"], link["group_id"]) for link in links] == [("dev-1", str(fleet["member"].pk))]


@pytest.mark.parametrize("identifier", FORMS)
def test_device_group_link_through_identifier(api_client, fleet, identifier):
    response = api_client.get(device_url(identifier, f"/device-groups/{fleet['member'].pk}"))

    assert response.status_code == 200, response.content
    assert (response.json()["device_id"], response.json()["group_id"]) == ("dev-1", str(fleet["member"].pk))
    assert_error(api_client.get(device_url(identifier, f"/device-groups/{fleet['other'].pk}")), 404, "not_found")


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", FORMS)
def test_force_delete_through_identifier(api_client, identifier):
    before = device_snapshot("dev-2")

    response = api_client.delete(device_url(identifier) + "?force=true")

    assert response.status_code == 204, response.content
    assert not Device.objects.filter(pk="dev-1").exists()
    assert not NetworkAdapter.objects.filter(device_id="dev-1").exists()
    assert device_snapshot("dev-2") == before
    assert_error(api_client.get(device_url(identifier)), 404, "not_found")


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", [FORMS[0], FORMS[6], FORMS[-1]])
def test_delete_without_force_through_identifier_conflict(api_client, identifier):
    assert_error(api_client.delete(device_url(identifier)), 409, "conflict")
    assert Device.objects.filter(pk="dev-1").exists()


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", [FORMS[0], FORMS[6], FORMS[-1]])
def test_stale_if_match_through_identifier_precondition_failed(api_client, identifier):
    stale = api_client.get(device_url(identifier))["ETag"]
    api_client.put(device_url("dev-1", "/metadata"), {"metadata": {"step": 1}}, format="json")

    response = api_client.put(
        device_url(identifier, "/metadata"), {"metadata": {"step": 2}}, format="json", HTTP_IF_MATCH=stale
    )

    assert_error(response, 412, "precondition_failed")
    assert Device.objects.get(pk="dev-1").metadata == {"step": 1}


# --- A device's own id wins -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("own_id", [f"imei:{IMEI}", f"urn:dev:imei:{IMEI}:", f"deveui:{DEV_EUI}", f"dvnuuid:{DVN}"])
def test_own_id_wins_on_every_route(api_client, own_id):
    DeviceFactory(id=own_id)
    dev_1 = device_snapshot("dev-1")

    assert api_client.get(device_url(own_id)).json()["id"] == own_id
    assert api_client.get(device_url(own_id, "/network-adapters")).json()["list"] == []
    created = api_client.post(device_url(own_id, "/network-adapters"), {"type": "generic"}, format="json")
    assert created.json()["device_id"] == own_id
    assert api_client.put(device_url(own_id, "/metadata"), {"metadata": {"own": 1}}, format="json").status_code == 200
    assert api_client.delete(device_url(own_id, "/decommission")).status_code == 204
    assert (Device.objects.get(pk=own_id).status, Device.objects.get(pk=own_id).metadata) == (
        DeviceStatus.DECOMMISSIONED,
        {"own": 1},
    )
    assert api_client.delete(device_url(own_id) + "?force=true").status_code == 204
    assert not Device.objects.filter(pk=own_id).exists()
    assert device_snapshot("dev-1") == dev_1
    assert api_client.get(device_url(own_id)).json()["id"] == "dev-1"  # the identifier again, once the id is gone


@pytest.mark.usefixtures("fleet")
def test_own_id_must_equal_exactly(api_client):
    DeviceFactory(id=f"IMEI:{IMEI}")

    assert api_client.get(device_url(f"imei:{IMEI}")).json()["id"] == "dev-1"
    assert api_client.get(device_url(f"IMEI:{IMEI}")).json()["id"] == f"IMEI:{IMEI}"


@pytest.mark.usefixtures("fleet")
def test_plain_id_still_resolves(api_client):
    assert api_client.get(device_url("dev-2")).json()["id"] == "dev-2"


# --- Unknown and malformed identifiers ------------------------------------------------------------------------

ROUTES = [
    ("get", ""),
    ("get", "/events"),
    ("get", "/network-adapters"),
    ("post", "/network-adapters"),
    ("get", "/device-groups"),
    ("get", "/device-groups/{group}"),
    ("delete", "/decommission"),
    ("put", "/idslot"),
    ("put", "/metadata"),
    ("patch", "/metadata"),
    ("delete", "?force=true"),
]
BODIES = {
    "/network-adapters": {"type": "generic"},
    "/idslot": SLOT,
    "/metadata": {"metadata": {"x": 1}},
}


@pytest.mark.parametrize("identifier", UNKNOWN)
@pytest.mark.parametrize(("method", "suffix"), ROUTES)
def test_unknown_or_malformed_identifier_not_found(api_client, fleet, identifier, method, suffix):
    before = device_snapshot("dev-1"), device_snapshot("dev-2")
    body = BODIES.get(suffix)
    if method == "patch":
        body = {"patches": [{"op": "add", "path": "/x", "value": 1}]}

    call = getattr(api_client, method)
    url = device_url(identifier, suffix.format(group=fleet["member"].pk))
    response = call(url, body, format="json") if body else call(url)

    assert_error(response, 404, "not_found")
    assert (device_snapshot("dev-1"), device_snapshot("dev-2")) == before
    assert NetworkAdapter.objects.count() == 6


# --- One query ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", [*FORMS, "dev-1"])
def test_resolve_is_one_query(django_assert_num_queries, identifier):
    with django_assert_num_queries(1):
        assert [device.pk for device in Device.objects.resolve(identifier)] == ["dev-1"]


@pytest.mark.usefixtures("fleet")
def test_resolve_own_id_wins_in_one_query(django_assert_num_queries):
    DeviceFactory(id=f"urn:dev:deveui:{DEV_EUI}:")

    with django_assert_num_queries(1):
        assert [device.pk for device in Device.objects.resolve(f"urn:dev:deveui:{DEV_EUI}:")] == [
            f"urn:dev:deveui:{DEV_EUI}:"
        ]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("identifier", UNKNOWN)
def test_resolve_unknown_at_most_one_query(django_assert_max_num_queries, identifier):
    with django_assert_max_num_queries(1):
        assert list(Device.objects.resolve(identifier)) == []


@pytest.mark.usefixtures("fleet")
def test_resolve_text_with_nul_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert list(Device.objects.resolve(f"imei:{IMEI}\x00")) == []


# --- Filters --------------------------------------------------------------------------------------------------


def listed(client, *filters, path="/devices") -> list[str]:
    response = client.get(f"{API}{path}", {"filter": list(filters), "sort_by": "id"})
    assert response.status_code == 200, response.content
    return [device["id"] for device in response.json()["list"]]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (f"imei[eq]:{IMEI}", ["dev-1"]),
        (f"imei[eq]={IMEI}", ["dev-1"]),
        (f"imei[EQ]{IMEI}", ["dev-1"]),
        (f"imei[eq]:{IMEISV}", ["dev-1"]),
        (f"imei[eq]:{OTHER_IMEI}", ["dev-2"]),
        (f"imei[eq]:{UNUSED_IMEI}", []),
        (f"imei[in]:{IMEI},{OTHER_IMEI}", ["dev-1", "dev-2"]),
        (f"imei[in]:{IMEI},{IMEISV}", ["dev-1"]),
        (f"imei[in]:{UNUSED_IMEI}", []),
        (f"dev_eui[eq]:{DEV_EUI}", ["dev-1"]),
        (f"dev_eui[eq]:{DEV_EUI.lower()}", ["dev-1"]),
        (f"dev_eui[eq]:{OTHER_DEV_EUI}", ["dev-2"]),
        (f"dev_eui[in]:{DEV_EUI.lower()},{OTHER_DEV_EUI}", ["dev-1", "dev-2"]),
        (f"dvn_uuid[eq]:{DVN}", ["dev-1"]),
        (f"dvn_uuid[eq]:{DVN.lower()}", ["dev-1"]),
        (f"dvn_uuid[in]:{uuid.UUID(int=1)},{DVN}", ["dev-1"]),
        (f"dvn_uuid[eq]:{uuid.UUID(int=1)}", []),
    ],
)
def test_identifier_filter_finds_owner(api_client, expression, expected):
    assert listed(api_client, expression) == expected


@pytest.mark.usefixtures("fleet")
def test_identifier_filter_combined_with_others(api_client):
    assert listed(api_client, f"imei[in]:{IMEI},{OTHER_IMEI}", "id[eq]:dev-2") == ["dev-2"]
    assert listed(api_client, f"imei[eq]:{IMEI}", f"dev_eui[eq]:{OTHER_DEV_EUI}") == []
    assert listed(api_client, f"imei[eq]:{IMEI}", f"dvn_uuid[eq]:{DVN}") == ["dev-1"]


@pytest.mark.usefixtures("fleet")
def test_identifier_filter_on_stats(api_client):
    body = api_client.get(f"{API}/stats", {"filter": f"dev_eui[eq]:{DEV_EUI}"}).json()

    assert body["total"] == 1


def test_identifier_filter_in_group_criteria(api_client, fleet):
    response = api_client.get(f"{API}/device-groups/{fleet['member'].pk}/devices")

    assert [device["id"] for device in response.json()["list"]] == ["dev-1"]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    "expression",
    [
        "imei[eq]:123",
        "imei[eq]:490154203237519",
        f"imei[eq]:{IMEI}00",
        "imei[eq]:",
        f"imei[in]:{IMEI},123",
        f"imei[in]:{IMEI},",
        "imei[in]:",
        "dev_eui[eq]:xyz",
        f"dev_eui[eq]:{DEV_EUI[:-1]}",
        f"dev_eui[in]:{DEV_EUI},{DEV_EUI}0",
        "dvn_uuid[eq]:nope",
        f"dvn_uuid[in]:{DVN},nope",
    ],
)
def test_identifier_filter_bad_value_rejected(api_client, expression):
    response = api_client.get(f"{API}/devices", {"filter": expression})

    assert_error(response, 400, "validation_error", "filter[0]")


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    "expression",
    [
        "imei[ct]:1",
        f"imei[ne]:{IMEI}",
        f"imei[nin]:{IMEI}",
        f"imei[eq_ic]:{IMEI}",
        f"dev_eui[contains]:{DEV_EUI}",
        f"dvn_uuid[bf]:{DVN}",
        "imei[jsonpath]:$.x",
        "imei[bogus]:1",
    ],
)
def test_identifier_filter_unsupported_operator_rejected(api_client, expression):
    assert_error(api_client.get(f"{API}/devices", {"filter": expression}), 400, "validation_error", "filter[0]")


@pytest.mark.usefixtures("fleet")
def test_identifier_filter_error_names_its_position(api_client):
    response = api_client.get(f"{API}/devices", {"filter": ["id[eq]:dev-1", "imei[eq]:123"]})

    assert_error(response, 400, "validation_error", "filter[1]")
