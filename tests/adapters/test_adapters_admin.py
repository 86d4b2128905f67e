"""Adapters in the operators' console: the inline on the device page validates and normalises as the API does,
keeps an adapter's type and identifier, and the device list finds a device by any of its adapters' identifiers."""

import pytest
from django.urls import reverse

from adapters.admin import NetworkAdapterFormSet
from adapters.models import MAX_ADAPTERS_PER_DEVICE, NetworkAdapter
from tests.admin_pages import change_form_data, device_change_url
from tests.conftest import API
from tests.factories import DeviceFactory, NetworkAdapterFactory

pytestmark = pytest.mark.django_db

DEVICE_CHANGELIST = reverse("admin:devices_device_changelist")
IMEI = "490154203237518"
OTHER_IMEI = "356938035643809"
IMEISV = "3569380356438091"
DEV_EUI = "0004A30B001C0530"
DVN = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"


def with_new_adapter(data: dict, device_id: str = "dev-1", **fields) -> dict:
    """The posted data with one more adapter form filled in, as the inline's "Add another" row would be."""
    index = int(data["adapters-TOTAL_FORMS"])
    new = {f"adapters-{index}-{name}": value for name, value in fields.items()}
    return {**data, **new, f"adapters-{index}-device": device_id, "adapters-TOTAL_FORMS": str(index + 1)}


def adapter_errors(response) -> list[dict]:
    """The errors of each form of the adapters inline; the page was shown again, not saved."""
    assert response.status_code == 200, "the form was accepted"
    formset = next(
        inline.formset for inline in response.context["inline_admin_formsets"] if inline.formset.prefix == "adapters"
    )
    return [dict(errors) for errors in formset.errors] + (
        [{"__all__": formset.non_form_errors()}] if formset.non_form_errors() else []
    )


def errored_fields(response) -> set[str]:
    return {name for errors in adapter_errors(response) for name in errors}


def listed_ids(response) -> list[str]:
    assert response.status_code == 200
    return sorted(device.id for device in response.context["cl"].result_list)


def rows(device_id: str = "dev-1") -> list[dict]:
    return list(NetworkAdapter.objects.filter(device_id=device_id).order_by("created_at").values())


@pytest.fixture
def device():
    return DeviceFactory(id="dev-1")


@pytest.fixture
def adapters(device):
    """dev-1 with one adapter of each type."""
    return {
        "cellular": NetworkAdapterFactory(device=device, imei=IMEI, iccid="89310410106543789301"),
        "lora": NetworkAdapterFactory(device=device, type="lora", dev_eui=DEV_EUI.lower(), activation="OTAA"),
        "generic": NetworkAdapterFactory(device=device, type="generic", dvn_uuid=DVN.lower(), description="gw"),
    }


# --- The inline -----------------------------------------------------------------------------------------------


def test_change_page_shows_adapters_inline(admin_client, adapters):
    response = admin_client.get(device_change_url("dev-1"))

    assert response.status_code == 200
    formset = next(
        inline.formset for inline in response.context["inline_admin_formsets"] if inline.formset.prefix == "adapters"
    )
    assert [form.instance.pk for form in formset.forms] == [adapter.pk for adapter in adapters.values()]
    content = response.content.decode()
    for value in (IMEI, "89310410106543789301", DEV_EUI.lower(), DVN.lower()):
        assert f'value="{value}"' in content
    assert "gw</textarea>" in content
    assert 'name="adapters-0-imei"' in content


def test_change_page_of_device_without_adapters_offers_adding(admin_client, device):
    response = admin_client.get(device_change_url("dev-1"))

    formset = next(
        inline.formset for inline in response.context["inline_admin_formsets"] if inline.formset.prefix == "adapters"
    )
    assert formset.forms == []
    assert 'name="adapters-TOTAL_FORMS"' in response.content.decode()


def test_unchanged_post_keeps_adapters(admin_client, adapters):
    before = rows()

    response = admin_client.post(device_change_url("dev-1"), change_form_data(admin_client, "dev-1"))

    assert response.status_code == 302, adapter_errors(response)
    assert rows() == before


def test_add_cellular_through_inline(admin_client, device, api_client):
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), type="cellular", imei=IMEI, msisdn="+31612345678")

    response = admin_client.post(device_change_url("dev-1"), data)

    assert response.status_code == 302, adapter_errors(response)
    [row] = rows()
    assert (row["type"], row["imei"], row["msisdn"], row["iccid"]) == ("cellular", IMEI, "+31612345678", None)
    listed = api_client.get(f"{API}/devices/imei:{IMEI}/network-adapters").json()["list"]
    assert [adapter["imei"] for adapter in listed] == [IMEI]


def test_add_lora_through_inline_stores_euis_lower_case(admin_client, device):
    data = with_new_adapter(
        change_form_data(admin_client, "dev-1"),
        type="lora",
        dev_eui=DEV_EUI,
        join_eui="70B3D57ED0000000",
        activation="ABP",
    )

    response = admin_client.post(device_change_url("dev-1"), data)

    assert response.status_code == 302, adapter_errors(response)
    [row] = rows()
    assert (row["dev_eui"], row["join_eui"], row["activation"]) == (DEV_EUI.lower(), "70b3d57ed0000000", "ABP")


def test_add_generic_through_inline_without_uuid_generates_one(admin_client, device):
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), type="generic", description="gateway")

    response = admin_client.post(device_change_url("dev-1"), data)

    assert response.status_code == 302, adapter_errors(response)
    [row] = rows()
    assert row["dvn_uuid"] is not None and row["description"] == "gateway"


def test_add_generic_through_inline_stores_uuid_canonical(admin_client, device):
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), type="generic", dvn_uuid=DVN)

    assert admin_client.post(device_change_url("dev-1"), data).status_code == 302
    assert str(rows()[0]["dvn_uuid"]) == DVN.lower()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "cellular", "imei": "490154203237519"}, "imei"),  # bad Luhn digit
        ({"type": "cellular", "imei": "49015420323751"}, "imei"),
        ({"type": "cellular", "imei": "49015420323751a"}, "imei"),
        ({"type": "cellular"}, "imei"),
        ({"type": "cellular", "imei": IMEI, "msisdn": "12"}, "msisdn"),
        ({"type": "cellular", "imei": IMEI, "iccid": "123"}, "iccid"),
        ({"type": "cellular", "imei": IMEI, "dev_eui": DEV_EUI}, "dev_eui"),
        ({"type": "lora", "dev_eui": "0004A30B001C053G"}, "dev_eui"),
        ({"type": "lora"}, "dev_eui"),
        ({"type": "lora", "dev_eui": DEV_EUI, "join_eui": "123"}, "join_eui"),
        ({"type": "generic", "dvn_uuid": "not-a-uuid"}, "dvn_uuid"),
        ({"type": "generic", "description": "x", "imsi": "204080123456789"}, "imsi"),
    ],
)
def test_add_invalid_through_inline_shows_error(admin_client, device, fields, field):
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), **fields)

    response = admin_client.post(device_change_url("dev-1"), data)

    assert field in errored_fields(response)
    assert not NetworkAdapter.objects.exists()


def test_add_duplicate_imei_through_inline_shows_error(admin_client, device):
    NetworkAdapterFactory(device=DeviceFactory(id="dev-2"), imei=IMEI)
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), type="cellular", imei=IMEI)

    response = admin_client.post(device_change_url("dev-1"), data)

    assert "imei" in errored_fields(response)
    assert rows() == []
    assert NetworkAdapter.objects.get(imei=IMEI).device_id == "dev-2"


def test_add_duplicate_dev_eui_other_case_through_inline_shows_error(admin_client, device):
    NetworkAdapterFactory(device=DeviceFactory(id="dev-2"), type="lora", dev_eui=DEV_EUI.lower())
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), type="lora", dev_eui=DEV_EUI)

    response = admin_client.post(device_change_url("dev-1"), data)

    assert "dev_eui" in errored_fields(response)
    assert rows() == []


def test_add_same_identifier_twice_in_one_post_shows_error(admin_client, device):
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), type="lora", dev_eui=DEV_EUI)
    data = with_new_adapter(data, type="lora", dev_eui=DEV_EUI.lower())

    response = admin_client.post(device_change_url("dev-1"), data)

    assert adapter_errors(response)
    assert rows() == []


def test_add_seventeenth_through_inline_refused(admin_client, device):
    for _ in range(MAX_ADAPTERS_PER_DEVICE):
        NetworkAdapterFactory(device=device, type="generic")
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), type="cellular", imei=IMEI)

    response = admin_client.post(device_change_url("dev-1"), data)

    assert adapter_errors(response)
    assert NetworkAdapter.objects.filter(device=device).count() == MAX_ADAPTERS_PER_DEVICE


@pytest.mark.parametrize(
    ("adapter_name", "changes", "field"),
    [
        ("cellular", {"imei": OTHER_IMEI}, "imei"),
        ("cellular", {"imei": IMEISV}, "imei"),
        ("cellular", {"imei": ""}, "imei"),
        ("cellular", {"type": "lora", "imei": "", "iccid": "", "dev_eui": "70B3D57ED0000001"}, "type"),
        ("lora", {"dev_eui": "70B3D57ED0000001"}, "dev_eui"),
        ("lora", {"type": "cellular", "dev_eui": "", "activation": "", "imei": OTHER_IMEI}, "type"),
        ("generic", {"dvn_uuid": "11111111-2222-4333-8444-555555555555"}, "dvn_uuid"),
        ("generic", {"type": "cellular", "dvn_uuid": "", "description": "", "imei": OTHER_IMEI}, "type"),
    ],
)
def test_existing_adapter_identifier_and_type_cannot_change(admin_client, adapters, adapter_name, changes, field):
    index = list(adapters).index(adapter_name)
    data = change_form_data(admin_client, "dev-1")
    data.update({f"adapters-{index}-{name}": value for name, value in changes.items()})
    before = rows()

    response = admin_client.post(device_change_url("dev-1"), data)

    assert field in adapter_errors(response)[index]
    assert rows() == before


def test_existing_adapter_identifier_in_other_case_is_no_change(admin_client, adapters):
    data = {**change_form_data(admin_client, "dev-1"), "adapters-1-dev_eui": DEV_EUI}

    response = admin_client.post(device_change_url("dev-1"), data)

    assert response.status_code == 302, adapter_errors(response)
    assert NetworkAdapter.objects.get(pk=adapters["lora"].pk).dev_eui == DEV_EUI.lower()


def test_existing_adapter_other_fields_change_through_inline(admin_client, adapters):
    data = {**change_form_data(admin_client, "dev-1"), "adapters-0-msisdn": "+31612345678"}

    response = admin_client.post(device_change_url("dev-1"), data)

    assert response.status_code == 302, adapter_errors(response)
    row = NetworkAdapter.objects.get(pk=adapters["cellular"].pk)
    assert (row.imei, row.msisdn, row.iccid) == (IMEI, "+31612345678", "89310410106543789301")
    assert row.updated_at > adapters["cellular"].updated_at


def test_existing_adapter_deleted_through_inline(admin_client, adapters):
    data = {**change_form_data(admin_client, "dev-1"), "adapters-0-DELETE": "on"}

    response = admin_client.post(device_change_url("dev-1"), data)

    assert response.status_code == 302, adapter_errors(response)
    assert not NetworkAdapter.objects.filter(pk=adapters["cellular"].pk).exists()
    assert NetworkAdapter.objects.filter(device_id="dev-1").count() == 2


# --- Search ---------------------------------------------------------------------------------------------------


@pytest.fixture
def fleet(adapters):
    NetworkAdapterFactory(device=DeviceFactory(id="dev-2", alias="Cold store"), imei=OTHER_IMEI)
    NetworkAdapterFactory(device=DeviceFactory(id="dev-3"), imei=IMEISV)


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    "term",
    [
        IMEI,
        f"imei:{IMEI}",
        f"IMEI:{IMEI}",
        f"urn:dev:imei:{IMEI}:",
        f"  {IMEI}  ",
        DEV_EUI,
        DEV_EUI.lower(),
        f"deveui:{DEV_EUI}",
        f"urn:dev:deveui:{DEV_EUI}",
        DVN,
        f"dvnuuid:{DVN.lower()}",
        f"urn:dev:dvnuuid:{DVN}",
        f"urn:dev:dvnuuid:{DVN.lower()}:",
    ],
)
def test_changelist_search_by_identifier(admin_client, term):
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": term})) == ["dev-1"]


@pytest.mark.usefixtures("fleet")
def test_changelist_search_by_16_digit_imei(admin_client):
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": IMEISV})) == ["dev-3"]
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": f"urn:dev:imei:{IMEISV}"})) == ["dev-3"]


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    "term",
    [
        "000000000000000",
        "490154203237519",
        f"imei:{IMEI}0",
        "deveui:ffffffffffffffff",
        "dvnuuid:nope",
        f"\u0130mei:{IMEI}",
    ],
)
def test_changelist_search_unknown_identifier_finds_nothing(admin_client, term):
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": term})) == []


@pytest.mark.usefixtures("fleet")
def test_changelist_search_by_id_and_alias_still_works(admin_client):
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": "dev-2"})) == ["dev-2"]
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": "cold"})) == ["dev-2"]


@pytest.mark.usefixtures("fleet")
def test_changelist_search_lists_device_with_several_matching_adapters_once(admin_client):
    NetworkAdapterFactory(device=DeviceFactory(id=IMEI))

    response = admin_client.get(DEVICE_CHANGELIST, {"q": IMEI})

    assert listed_ids(response) == [IMEI, "dev-1"]


# --- The device's ETag and row lock ---------------------------------------------------------------------------


def test_inline_changes_give_the_device_a_new_etag(admin_client, adapters, api_client):
    before = api_client.get(f"{API}/devices/dev-1")["ETag"]
    data = {**change_form_data(admin_client, "dev-1"), "adapters-0-msisdn": "+31612345678"}

    assert admin_client.post(device_change_url("dev-1"), data).status_code == 302

    after = api_client.get(f"{API}/devices/dev-1")["ETag"]
    assert after != before
    unchanged = admin_client.post(device_change_url("dev-1"), change_form_data(admin_client, "dev-1"))
    assert unchanged.status_code == 302
    assert api_client.get(f"{API}/devices/dev-1")["ETag"] == after


def test_add_counts_the_adapters_stored_when_saving_not_when_the_page_loaded(admin_client, device, api_client):
    for _ in range(MAX_ADAPTERS_PER_DEVICE - 1):
        NetworkAdapterFactory(device=device, type="generic")
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), type="cellular", imei=IMEI)
    # Meanwhile an API client takes the last place.
    assert api_client.post(f"{API}/devices/dev-1/network-adapters", {"type": "lora"} | {"dev_eui": DEV_EUI},
                           format="json").status_code == 201  # fmt: skip

    response = admin_client.post(device_change_url("dev-1"), data)

    assert "at most 16" in str(adapter_errors(response)[-1]["__all__"])
    assert NetworkAdapter.objects.filter(device=device).count() == MAX_ADAPTERS_PER_DEVICE


def test_identifier_taken_by_another_device_after_validation_is_reported_not_a_500(admin_client, device, monkeypatch):
    # The form was valid; between validation and saving, another device took the IMEI (the unique index decides).
    other = DeviceFactory(id="dev-2")
    data = with_new_adapter(change_form_data(admin_client, "dev-1"), type="cellular", imei=IMEI)
    original_clean = NetworkAdapterFormSet.clean

    def clean_then_lose_the_race(formset):
        original_clean(formset)
        NetworkAdapterFactory(device=other, imei=IMEI)

    monkeypatch.setattr(NetworkAdapterFormSet, "clean", clean_then_lose_the_race)

    response = admin_client.post(device_change_url("dev-1"), data, follow=True)

    assert response.status_code == 200
    assert any("Nothing was saved" in str(message) for message in response.context["messages"])
    assert list(NetworkAdapter.objects.values_list("device_id", flat=True)) == []  # rolled back, the other's too
