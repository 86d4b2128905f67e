"""What a list takes: a misspelled parameter is a 400 (a typo must never widen a list), and a bookmark accepts its
filters beside it in any order or spelling, on any spelling of its path."""

import pytest

from devices import services
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory, DeviceGroupFactory, NetworkAdapterFactory

pytestmark = pytest.mark.django_db

IMEI = "490154203237518"
OTHER_IMEI = "356938035643809"


@pytest.fixture
def fleet():
    for index in range(3):
        DeviceFactory(id=f"sensor-{index}", tags=["sensor"], dms_owner="dms-a")
    DeviceFactory(id="gateway", tags=["gateway"], dms_owner="dms-a")
    device = DeviceFactory(id="tracked", tags=["sensor"])
    NetworkAdapterFactory(device=device, imei=IMEI)
    for version in range(1, 4):
        services.device_replace_metadata(device_id="tracked", metadata={"v": version}, source="t")
    NetworkAdapterFactory(device=DeviceFactory(id="tracked-too", tags=["sensor"]), imei=OTHER_IMEI)
    for device_id in ("sensor-0", "sensor-1"):
        services.device_set_identity_slot(device_id=device_id, source="t", status="ACTIVE", active_version=1,
                                          type="X509")  # fmt: skip
    return DeviceGroupFactory(criteria=[{"field": "tags", "operand": "contains", "value": "sensor"}])


def lists(group) -> list[str]:
    return [
        f"{API}/devices",
        f"{API}/devices/dms/dms-a",
        f"{API}/devices/tracked/events",
        f"{API}/devices/tracked/device-groups",
        f"{API}/device-groups",
        f"{API}/device-groups/{group.pk}/devices",
        f"{API}/stats",
        f"{API}/device-groups/{group.pk}/stats",
    ]


@pytest.mark.parametrize("name", ["Filter", "filter[]", "filters", "sortby", "pagesize", "q2", "format"])
@pytest.mark.parametrize("index", range(8))
def test_unknown_query_parameter_is_400_naming_it(api_client, fleet, name, index):
    url = lists(fleet)[index]

    response = api_client.get(url, {name: "tags[contains]:gateway"})

    body = assert_error(response, 400, "validation_error", field=name)
    assert "unknown query parameter" in body["fields"][0]["message"]


def test_misspelled_filter_never_widens_the_list(api_client, fleet):
    assert_error(api_client.get(f"{API}/devices", {"Filter": "id[eq]:gateway"}), 400, "validation_error", "Filter")
    assert_error(api_client.get(f"{API}/devices?filter[]=id[eq]:gateway"), 400, "validation_error", "filter[]")


def test_known_parameters_all_accepted_together(api_client, fleet):
    params = {"filter": "tags[contains]:sensor", "sort_by": "id", "sort_mode": "desc", "page_size": 2,
              "include": "total_count"}  # fmt: skip

    response = api_client.get(f"{API}/devices", params)

    assert response.status_code == 200, response.content
    assert response.json()["total"] == 5


def test_second_operator_is_400(api_client, fleet):
    body = assert_error(api_client.get(f"{API}/devices", {"filter": "id[eq][ne]:x"}), 400, "validation_error")

    assert body["fields"][0]["name"] == "filter[0]"
    assert "second [operator]" in body["fields"][0]["message"]


def test_value_starting_with_a_bracket_after_the_separator(api_client):
    DeviceFactory(id="[ne]:x")

    response = api_client.get(f"{API}/devices", {"filter": "id[eq]:[ne]:x"})

    assert [device["id"] for device in response.json()["list"]] == ["[ne]:x"]


# --- Bookmarks ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issued", "sent"),
    [
        (["status[eq]:NO_IDENTITY", "tags[ct]:sensor"], ["tags[contains]=sensor", "status[EQ]no_identity"]),
        (["status[in]:ACTIVE,NO_IDENTITY"], ["status[in]:no_identity,active"]),
        (["identity_slot[jsonpath]:$.type"], ["identity[jsonpath]:$.type"]),
        (["creation_timestamp[af]:2024-01-01T00:00:00Z"], ["creation_timestamp[after]:20240101T000000Z"]),
        ([f"imei[in]:{IMEI},{OTHER_IMEI}"], [f"imei[IN]:{OTHER_IMEI}, {IMEI} "]),
        (["tags[ct]:sensor", "tags[ct]:sensor"], ["tags[ct]:sensor"]),
    ],
)
def test_bookmark_accepts_its_filters_in_any_order_or_spelling(api_client, fleet, issued, sent):
    first = api_client.get(f"{API}/devices", {"filter": issued, "page_size": 1}).json()
    assert first["next"]
    alone = api_client.get(f"{API}/devices", {"bookmark": first["next"]})

    beside = api_client.get(f"{API}/devices", {"bookmark": first["next"], "filter": sent})

    assert beside.status_code == 200, beside.content
    assert beside.json()["list"] == alone.json()["list"]  # (each `next` is signed with the time of its answer)


@pytest.mark.parametrize(
    "sent",
    [["status[eq]:ACTIVE"], ["status[eq]:NO_IDENTITY"], ["status[eq]:NO_IDENTITY", "tags[ct]:Sensor"]],
)
def test_bookmark_refuses_other_filters(api_client, fleet, sent):
    first = api_client.get(f"{API}/devices", {"filter": ["status[eq]:NO_IDENTITY", "tags[ct]:sensor"], "page_size": 1})

    response = api_client.get(f"{API}/devices", {"bookmark": first.json()["next"], "filter": sent})

    assert_error(response, 400, "validation_error", "filter")


def test_bookmark_with_a_malformed_filter_beside_it_names_that_filter(api_client, fleet):
    first = api_client.get(f"{API}/devices", {"filter": "tags[ct]:sensor", "page_size": 1}).json()

    response = api_client.get(f"{API}/devices", {"bookmark": first["next"], "filter": ["tags[ct]:sensor", "x[eq]:1"]})

    assert_error(response, 400, "validation_error", "filter[1]")


@pytest.mark.parametrize(
    ("issued_on", "used_on"),
    [("tracked", f"imei:{IMEI}"), (f"imei:{IMEI}", "tracked"), (f"urn:dev:imei:{IMEI}", f"imei:{IMEI}")],
)
@pytest.mark.parametrize("suffix", ["events", "device-groups"])
def test_bookmark_of_a_device_list_serves_any_spelling_of_its_device(api_client, fleet, issued_on, used_on, suffix):
    DeviceGroupFactory()  # a second group the device is in (no criteria)
    first = api_client.get(f"{API}/devices/{issued_on}/{suffix}", {"page_size": 1}).json()
    assert first["next"]

    response = api_client.get(f"{API}/devices/{used_on}/{suffix}", {"bookmark": first["next"]})

    assert response.status_code == 200, response.content
    assert response.json()["list"] != first["list"]


def test_bookmark_of_a_device_list_refused_on_another_device(api_client, fleet):
    first = api_client.get(f"{API}/devices/tracked/events", {"page_size": 1}).json()

    response = api_client.get(f"{API}/devices/gateway/events", {"bookmark": first["next"]})

    assert_error(response, 400, "validation_error", "bookmark")


def test_bookmark_of_group_members_serves_the_group_id_in_any_case(api_client, fleet):
    first = api_client.get(f"{API}/device-groups/{fleet.pk}/devices", {"page_size": 1}).json()

    response = api_client.get(f"{API}/device-groups/{str(fleet.pk).upper()}/devices", {"bookmark": first["next"]})

    assert response.status_code == 200, response.content


def test_delete_with_a_misspelled_parameter_is_400_and_deletes_nothing(api_client, fleet):
    assert_error(api_client.delete(f"{API}/devices/gateway?Force=true"), 400, "validation_error", "Force")
    assert_error(
        api_client.delete(f"{API}/device-groups/{fleet.pk}?cascades=true"), 400, "validation_error", "cascades"
    )

    assert api_client.get(f"{API}/devices/gateway").status_code == 200
    assert api_client.get(f"{API}/device-groups/{fleet.pk}").status_code == 200
