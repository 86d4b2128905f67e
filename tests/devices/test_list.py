"""The plain device list (`GET /devices`), the DMS list (`GET /devices/dms/{dms_id}`) and `GET /stats`.

The `filter` parameter is tested with the filter language, not here.
"""

from datetime import timedelta

import pytest
from django.core import signing
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device
from devmanager.api.pagination import BOOKMARK_SALT
from tests.conftest import API, assert_error, mark_key_used
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

DEVICES = f"{API}/devices"
SORT_FIELDS = ["id", "alias", "status", "dms_owner", "creation_timestamp", "updated_timestamp"]


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [device["id"] for device in response.json()["list"]]


def walk(client, url: str, params: dict | None = None) -> list[list[str]]:
    """Follow `next` from the first page to the last, sending the bookmark alone; the ids of each page."""
    response = client.get(url, params or {})
    pages = [ids(response)]
    while response.json()["next"]:
        response = client.get(url, {"bookmark": response.json()["next"]})
        pages.append(ids(response))
    return pages


def joined(pages: list[list[str]]) -> list[str]:
    return [device_id for page in pages for device_id in page]


def make_devices(count: int, **kwargs) -> list[Device]:
    return [DeviceFactory(**kwargs) for _ in range(count)]


def ordered_ids(field: str, descending: bool = False) -> list[str]:
    """The order the contract asks for, computed in Python: by the field, ties broken by id."""
    devices = Device.objects.all()
    key = (lambda device: device.id) if field == "id" else (lambda device: (getattr(device, field), device.id))
    return [device.id for device in sorted(devices, key=key, reverse=descending)]


def first_bookmark(client, url: str = DEVICES, **params) -> str:
    bookmark = client.get(url, params).json()["next"]
    assert bookmark
    return bookmark


@pytest.fixture
def varied_devices():
    """Eight devices whose sort fields tie in places, so every sort also exercises the id tie-break."""
    base = timezone.now().replace(microsecond=0) - timedelta(days=1)
    rows = [
        ("dev-h", "bravo", DeviceStatus.ACTIVE, "dms-b", 0, 5),
        ("dev-a", "alpha", DeviceStatus.NO_IDENTITY, "dms-a", 1, 5),
        ("dev-g", "", DeviceStatus.EXPIRED, "dms-c", 1, 3),
        ("dev-b", "bravo", DeviceStatus.REVOKED, "", 2, 7),
        ("dev-f", "charlie", DeviceStatus.ACTIVE, "dms-a", 3, 1),
        ("dev-c", "alpha", DeviceStatus.DECOMMISSIONED, "dms-b", 3, 1),
        ("dev-e", "delta", DeviceStatus.RENEWAL_WINDOW, "dms-a", 4, 0),
        ("dev-d", "bravo", DeviceStatus.NO_IDENTITY, "dms-c", 5, 9),
    ]
    for device_id, alias, status, dms_owner, created, updated in rows:
        DeviceFactory(id=device_id, alias=alias, dms_owner=dms_owner)
        Device.objects.filter(pk=device_id).update(
            status=status,
            creation_timestamp=base + timedelta(seconds=created),
            updated_timestamp=base + timedelta(seconds=updated),
        )
    return [row[0] for row in rows]


# --- Shape and default order ----------------------------------------------------------------------------------


def test_list_devices_shape(api_client):
    device = DeviceFactory()

    response = api_client.get(DEVICES)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "list"}
    assert body["next"] == ""
    assert body["list"] == [api_client.get(f"{DEVICES}/{device.id}").json()]


def test_list_devices_empty(api_client):
    response = api_client.get(DEVICES)

    assert response.status_code == 200
    assert response.json() == {"next": "", "list": []}


def test_list_devices_default_order_creation_timestamp(api_client):
    base = timezone.now()
    for offset, device_id in enumerate(["zulu", "alpha", "mike"]):
        DeviceFactory(id=device_id)
        Device.objects.filter(pk=device_id).update(creation_timestamp=base + timedelta(seconds=offset))

    assert ids(api_client.get(DEVICES)) == ["zulu", "alpha", "mike"]


def test_list_devices_default_order_ties_broken_by_id(api_client):
    for device_id in ["charlie", "alpha", "bravo", "early"]:
        DeviceFactory(id=device_id)
    same = timezone.now().replace(microsecond=123456)
    Device.objects.filter(pk__in=["charlie", "alpha", "bravo"]).update(creation_timestamp=same)
    Device.objects.filter(pk="early").update(creation_timestamp=same - timedelta(microseconds=1))

    assert ids(api_client.get(DEVICES)) == ["early", "alpha", "bravo", "charlie"]


def test_list_devices_ties_broken_by_id_across_pages(api_client):
    make_devices(7)
    Device.objects.update(creation_timestamp=timezone.now())

    pages = walk(api_client, DEVICES, {"page_size": 2})

    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert joined(pages) == sorted(Device.objects.values_list("id", flat=True))


# --- page_size ------------------------------------------------------------------------------------------------


def test_list_devices_default_page_size_25(api_client):
    make_devices(26)

    response = api_client.get(DEVICES)

    assert len(ids(response)) == 25
    assert response.json()["next"]


def test_list_devices_page_size_25_exact_fit_no_next(api_client):
    make_devices(25)

    response = api_client.get(DEVICES)

    assert len(ids(response)) == 25
    assert response.json()["next"] == ""


def test_list_devices_page_size_1_accepted(api_client):
    make_devices(2)

    response = api_client.get(DEVICES, {"page_size": "1"})

    assert ids(response) == ordered_ids("creation_timestamp")[:1]
    assert response.json()["next"]


def test_list_devices_page_size_1000_accepted(api_client):
    make_devices(3)

    response = api_client.get(DEVICES, {"page_size": "1000"})

    assert ids(response) == ordered_ids("creation_timestamp")
    assert response.json()["next"] == ""


# The last three are digits to str.isdigit() but not to the contract: superscript two, full-width and Arabic-Indic ten.
INVALID_PAGE_SIZES = [
    *["0", "1001", "-1", "abc", "", "2.5", "1e2", " 5", "0x10"],
    *["\u00b2", "\uff11\uff10", "\u0661\u0660"],
]


@pytest.mark.parametrize("page_size", INVALID_PAGE_SIZES)
def test_list_devices_page_size_invalid_validation_error(api_client, page_size):
    response = api_client.get(DEVICES, {"page_size": page_size})

    assert_error(response, 400, "validation_error", field="page_size")


def test_list_devices_page_size_twice_validation_error(api_client):
    response = api_client.get(DEVICES, {"page_size": ["5", "5"]})

    assert_error(response, 400, "validation_error", field="page_size")


# --- Walking the pages ----------------------------------------------------------------------------------------


def test_list_devices_walk_returns_every_device_once(api_client):
    make_devices(11)

    pages = walk(api_client, DEVICES, {"page_size": 3})

    assert [len(page) for page in pages] == [3, 3, 3, 2]
    assert joined(pages) == ordered_ids("creation_timestamp")


def test_list_devices_walk_exact_multiple_ends_without_empty_page(api_client):
    make_devices(6)

    pages = walk(api_client, DEVICES, {"page_size": 3})

    assert [len(page) for page in pages] == [3, 3]


def test_list_devices_last_page_next_empty(api_client):
    make_devices(4)
    bookmark = first_bookmark(api_client, page_size=3)

    response = api_client.get(DEVICES, {"bookmark": bookmark})

    assert len(ids(response)) == 1
    assert response.json()["next"] == ""


def test_list_devices_walk_survives_inserts_and_deletes(api_client):
    devices = make_devices(9)
    first = api_client.get(DEVICES, {"page_size": 3})
    seen = ids(first)
    # Delete one already served and one not yet served, insert one: neither shifts nor repeats a row.
    services.device_delete(device_id=seen[0], force=True)
    services.device_delete(device_id=devices[-1].id, force=True)
    DeviceFactory(id="inserted-late")

    response = first
    while response.json()["next"]:
        response = api_client.get(DEVICES, {"bookmark": response.json()["next"]})
        seen += ids(response)

    survivors = [device.id for device in devices[:-1]]
    assert len(seen) == len(set(seen))
    assert [device_id for device_id in seen if device_id in survivors] == survivors
    assert devices[-1].id not in seen


# --- sort_by and sort_mode ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", SORT_FIELDS)
@pytest.mark.parametrize("mode", ["asc", "desc"])
def test_list_devices_sorted_by_field(api_client, varied_devices, field, mode):
    response = api_client.get(DEVICES, {"sort_by": field, "sort_mode": mode})

    assert ids(response) == ordered_ids(field, descending=mode == "desc")


@pytest.mark.parametrize("field", SORT_FIELDS)
@pytest.mark.parametrize("mode", ["asc", "desc"])
def test_list_devices_sorted_walk_keeps_order(api_client, varied_devices, field, mode):
    pages = walk(api_client, DEVICES, {"sort_by": field, "sort_mode": mode, "page_size": 3})

    assert [len(page) for page in pages] == [3, 3, 2]
    assert joined(pages) == ordered_ids(field, descending=mode == "desc")


def test_list_devices_sort_mode_defaults_to_asc(api_client, varied_devices):
    assert ids(api_client.get(DEVICES, {"sort_by": "alias"})) == ordered_ids("alias")


def test_list_devices_sort_by_defaults_to_creation_timestamp(api_client, varied_devices):
    response = api_client.get(DEVICES, {"sort_mode": "desc"})

    assert ids(response) == ordered_ids("creation_timestamp", descending=True)


@pytest.mark.parametrize("sort_by", ["bogus", "", "tags", "metadata", "ID", "pk", "-id", "creation_timestamp,id"])
def test_list_devices_sort_by_unknown_validation_error(api_client, sort_by):
    response = api_client.get(DEVICES, {"sort_by": sort_by})

    assert_error(response, 400, "validation_error", field="sort_by")


@pytest.mark.parametrize("sort_mode", ["up", "", "ASC", "descending", "1"])
def test_list_devices_sort_mode_invalid_validation_error(api_client, sort_mode):
    response = api_client.get(DEVICES, {"sort_mode": sort_mode})

    assert_error(response, 400, "validation_error", field="sort_mode")


@pytest.mark.parametrize("name", ["sort_by", "sort_mode"])
def test_list_devices_sort_parameter_twice_validation_error(api_client, name):
    value = "id" if name == "sort_by" else "asc"

    response = api_client.get(DEVICES, {name: [value, value]})

    assert_error(response, 400, "validation_error", field=name)


# --- Bookmarks ------------------------------------------------------------------------------------------------


def test_list_devices_bookmark_alone_keeps_sort_and_page_size(api_client, varied_devices):
    expected = ordered_ids("alias", descending=True)
    bookmark = first_bookmark(api_client, sort_by="alias", sort_mode="desc", page_size=3)

    response = api_client.get(DEVICES, {"bookmark": bookmark})

    assert ids(response) == expected[3:6]


def test_list_devices_bookmark_with_same_sort_accepted(api_client, varied_devices):
    expected = ordered_ids("status", descending=True)
    bookmark = first_bookmark(api_client, sort_by="status", sort_mode="desc", page_size=3)

    response = api_client.get(DEVICES, {"bookmark": bookmark, "sort_by": "status", "sort_mode": "desc"})

    assert ids(response) == expected[3:6]


def test_list_devices_bookmark_with_other_sort_by_validation_error(api_client, varied_devices):
    bookmark = first_bookmark(api_client, sort_by="alias", page_size=3)

    response = api_client.get(DEVICES, {"bookmark": bookmark, "sort_by": "id"})

    assert_error(response, 400, "validation_error", field="sort_by")


def test_list_devices_bookmark_with_default_sort_by_spelled_out_validation_error(api_client, varied_devices):
    bookmark = first_bookmark(api_client, sort_by="alias", page_size=3)

    response = api_client.get(DEVICES, {"bookmark": bookmark, "sort_by": "creation_timestamp"})

    assert_error(response, 400, "validation_error", field="sort_by")


def test_list_devices_bookmark_with_other_sort_mode_validation_error(api_client, varied_devices):
    bookmark = first_bookmark(api_client, sort_by="alias", sort_mode="desc", page_size=3)

    response = api_client.get(DEVICES, {"bookmark": bookmark, "sort_mode": "asc"})

    assert_error(response, 400, "validation_error", field="sort_mode")


def test_list_devices_bookmark_with_page_size_applies(api_client, varied_devices):
    expected = ordered_ids("id")
    bookmark = first_bookmark(api_client, sort_by="id", page_size=2)

    response = api_client.get(DEVICES, {"bookmark": bookmark, "page_size": "5"})

    assert ids(response) == expected[2:7]
    # The next bookmark carries the page size of the page that made it.
    following = api_client.get(DEVICES, {"bookmark": response.json()["next"]})
    assert ids(following) == expected[7:8]


def test_list_devices_bookmark_with_invalid_page_size_validation_error(api_client, varied_devices):
    bookmark = first_bookmark(api_client, page_size=2)

    response = api_client.get(DEVICES, {"bookmark": bookmark, "page_size": "0"})

    assert_error(response, 400, "validation_error", field="page_size")


def test_list_devices_bookmark_twice_validation_error(api_client, varied_devices):
    bookmark = first_bookmark(api_client, page_size=2)

    response = api_client.get(DEVICES, {"bookmark": [bookmark, bookmark]})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_list_devices_bookmark_tampered_validation_error(api_client, varied_devices):
    bookmark = first_bookmark(api_client, page_size=2)
    middle = len(bookmark) // 3
    tampered = bookmark[:middle] + ("A" if bookmark[middle] != "A" else "B") + bookmark[middle + 1 :]

    response = api_client.get(DEVICES, {"bookmark": tampered})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_list_devices_bookmark_signature_tampered_validation_error(api_client, varied_devices):
    bookmark = first_bookmark(api_client, page_size=2)
    tampered = bookmark[:-1] + ("A" if bookmark[-1] != "A" else "B")

    response = api_client.get(DEVICES, {"bookmark": tampered})

    assert_error(response, 400, "validation_error", field="bookmark")


@pytest.mark.parametrize("cut", [1, 10, -10])
def test_list_devices_bookmark_truncated_validation_error(api_client, varied_devices, cut):
    bookmark = first_bookmark(api_client, page_size=2)
    response = api_client.get(DEVICES, {"bookmark": bookmark[:cut]})

    assert_error(response, 400, "validation_error", field="bookmark")


@pytest.mark.parametrize(
    "bookmark", ["random", "a:b:c", "::::", ".eJyrVkpUslJKSsxRqgUAHBgEBA", "ünïcødé", "%00", "x" * 5000]
)
def test_list_devices_bookmark_garbage_validation_error(api_client, bookmark):
    response = api_client.get(DEVICES, {"bookmark": bookmark})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_list_devices_bookmark_signed_with_other_salt_validation_error(api_client, varied_devices):
    payload = {"f": [], "s": "id", "m": "asc", "p": 2, "k": ["dev-a", "dev-a"]}

    response = api_client.get(DEVICES, {"bookmark": signing.dumps(payload, salt="another.purpose")})

    assert_error(response, 400, "validation_error", field="bookmark")


@pytest.mark.parametrize(
    "payload",
    [
        {"f": [], "s": "name", "m": "asc", "p": 2, "k": ["x", "dev-a"], "l": DEVICES},
        {"f": [], "s": "id", "m": "up", "p": 2, "k": ["dev-a", "dev-a"], "l": DEVICES},
        {"f": [], "s": "id", "m": "asc", "p": 2, "k": ["dev-a"], "l": DEVICES},
        {"f": "status", "s": "id", "m": "asc", "p": 2, "k": ["dev-a", "dev-a"], "l": DEVICES},
        {"f": [], "s": "id", "m": "asc", "p": 2, "k": ["dev-a", "dev-a"]},
        ["not", "an", "object"],
    ],
)
def test_list_devices_bookmark_of_another_shape_validation_error(api_client, varied_devices, payload):
    """Properly signed but not a device-list bookmark (e.g. a future version's or another list's)."""
    response = api_client.get(DEVICES, {"bookmark": signing.dumps(payload, salt=BOOKMARK_SALT)})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_list_devices_bookmark_of_another_dms_list_validation_error(api_client):
    make_devices(3, dms_owner="dms-a")
    make_devices(3, dms_owner="dms-b")
    bookmark = first_bookmark(api_client, f"{DEVICES}/dms/dms-a", page_size=2)

    response = api_client.get(f"{DEVICES}/dms/dms-b", {"bookmark": bookmark})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_list_devices_bookmark_of_dms_list_on_plain_list_validation_error(api_client):
    make_devices(3, dms_owner="dms-a")
    bookmark = first_bookmark(api_client, f"{DEVICES}/dms/dms-a", page_size=2)

    response = api_client.get(DEVICES, {"bookmark": bookmark})

    assert_error(response, 400, "validation_error", field="bookmark")


def test_list_devices_bookmark_forged_with_service_salt_accepted(api_client, varied_devices):
    """The counterpart of the shape tests above: the same payload, well formed, is a working bookmark."""
    payload = {"f": [], "s": "id", "m": "asc", "p": 2, "k": ["dev-b", "dev-b"], "l": DEVICES}

    response = api_client.get(DEVICES, {"bookmark": signing.dumps(payload, salt=BOOKMARK_SALT, compress=True)})

    assert ids(response) == ["dev-c", "dev-d"]


def test_list_devices_bookmark_after_last_device_deleted_continues(api_client):
    make_devices(5)
    first = api_client.get(DEVICES, {"page_size": 2})
    services.device_delete(device_id=ids(first)[-1], force=True)

    response = api_client.get(DEVICES, {"bookmark": first.json()["next"]})

    assert ids(response) == ordered_ids("creation_timestamp")[1:3]


# --- include --------------------------------------------------------------------------------------------------


def test_list_devices_include_total_count_adds_total(api_client):
    make_devices(5)

    response = api_client.get(DEVICES, {"include": "total_count", "page_size": 2})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "list", "total"}
    assert body["total"] == 5
    assert len(body["list"]) == 2


def test_list_devices_include_total_count_on_empty_list(api_client):
    response = api_client.get(DEVICES, {"include": "total_count"})

    assert response.json() == {"next": "", "list": [], "total": 0}


def test_list_devices_include_total_count_beside_bookmark(api_client):
    make_devices(5)
    bookmark = first_bookmark(api_client, page_size=2)

    response = api_client.get(DEVICES, {"bookmark": bookmark, "include": "total_count"})

    assert response.json()["total"] == 5
    assert len(response.json()["list"]) == 2


def test_list_devices_include_absent_no_total(api_client):
    make_devices(2)

    assert "total" not in api_client.get(DEVICES).json()


@pytest.mark.parametrize("include", ["bogus", "total_count,bogus", "TOTAL_COUNT", "total"])
def test_list_devices_include_unknown_validation_error(api_client, include):
    response = api_client.get(DEVICES, {"include": include})

    assert_error(response, 400, "validation_error", field="include")


# --- Access ---------------------------------------------------------------------------------------------------


def test_list_devices_read_scope_enough(client_with_scopes):
    DeviceFactory()

    assert len(ids(client_with_scopes("devices:read").get(DEVICES))) == 1


def test_list_devices_groups_scope_access_denied(client_with_scopes):
    assert_error(client_with_scopes("groups:read").get(DEVICES), 403, "access_denied")


def test_list_devices_without_key_invalid_auth(anon_client):
    assert_error(anon_client.get(DEVICES), 401, "invalid_auth")


# --- GET /devices/dms/{dms_id} --------------------------------------------------------------------------------


def test_list_dms_devices_only_that_dms(api_client):
    mine = make_devices(3, dms_owner="dms-a")
    make_devices(2, dms_owner="dms-b")
    make_devices(1, dms_owner="")

    response = api_client.get(f"{DEVICES}/dms/dms-a")

    assert response.status_code == 200
    assert set(response.json()) == {"next", "list"}
    assert ids(response) == [device.id for device in mine]
    assert {device["dms_owner"] for device in response.json()["list"]} == {"dms-a"}


def test_list_dms_devices_exact_match_only(api_client):
    make_devices(1, dms_owner="dms-a")
    make_devices(1, dms_owner="DMS-A")
    make_devices(1, dms_owner="dms-a2")

    response = api_client.get(f"{DEVICES}/dms/dms-a")

    assert len(ids(response)) == 1


def test_list_dms_devices_unknown_dms_empty(api_client):
    make_devices(2, dms_owner="dms-a")

    assert api_client.get(f"{DEVICES}/dms/nobody").json() == {"next": "", "list": []}


def test_list_dms_devices_unusual_dms_id(api_client):
    mine = make_devices(2, dms_owner="DMS Zürich 100%")
    make_devices(1, dms_owner="dms-a")

    response = api_client.get(f"{DEVICES}/dms/DMS%20Z%C3%BCrich%20100%25")

    assert ids(response) == [device.id for device in mine]


def test_list_dms_devices_walk_with_bookmark(api_client):
    mine = make_devices(7, dms_owner="dms-a")
    make_devices(5, dms_owner="dms-b")

    pages = walk(api_client, f"{DEVICES}/dms/dms-a", {"page_size": 3})

    assert [len(page) for page in pages] == [3, 3, 1]
    assert joined(pages) == [device.id for device in mine]


def test_list_dms_devices_sorted_desc(api_client, varied_devices):
    response = api_client.get(f"{DEVICES}/dms/dms-a", {"sort_by": "alias", "sort_mode": "desc"})

    dms_a = {"dev-a", "dev-f", "dev-e"}
    expected = [device_id for device_id in ordered_ids("alias", descending=True) if device_id in dms_a]
    assert ids(response) == expected


def test_list_dms_devices_include_total_count(api_client):
    make_devices(4, dms_owner="dms-a")
    make_devices(2, dms_owner="dms-b")

    response = api_client.get(f"{DEVICES}/dms/dms-a", {"include": "total_count", "page_size": 1})

    assert response.json()["total"] == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"sort_by": "bogus"}, "sort_by"),
        ({"sort_mode": "up"}, "sort_mode"),
        ({"bookmark": "random"}, "bookmark"),
        ({"include": "bogus"}, "include"),
    ],
)
def test_list_dms_devices_invalid_parameters_validation_error(api_client, params, field):
    response = api_client.get(f"{DEVICES}/dms/dms-a", params)

    assert_error(response, 400, "validation_error", field=field)


# --- GET /stats -----------------------------------------------------------------------------------------------


def test_stats_counts_every_status(api_client, varied_devices):
    response = api_client.get(f"{API}/stats")

    assert response.status_code == 200
    assert response.json() == {
        "total": 8,
        "status_distribution": {
            "NO_IDENTITY": 2,
            "ACTIVE": 2,
            "RENEWAL_WINDOW": 1,
            "ABOUT_TO_EXPIRE": 0,
            "EXPIRED": 1,
            "REVOKED": 1,
            "DECOMMISSIONED": 1,
        },
    }


def test_stats_no_devices_all_zero(api_client):
    response = api_client.get(f"{API}/stats")

    assert response.json() == {"total": 0, "status_distribution": dict.fromkeys(DeviceStatus.values, 0)}


def test_stats_read_scope_enough(client_with_scopes):
    DeviceFactory()

    assert client_with_scopes("devices:read").get(f"{API}/stats").json()["total"] == 1


def test_stats_groups_scope_access_denied(client_with_scopes):
    assert_error(client_with_scopes("groups:read").get(f"{API}/stats"), 403, "access_denied")


# --- Query counts ---------------------------------------------------------------------------------------------


@pytest.fixture
def hundred_devices_with_events():
    for device in make_devices(100, tags=["sensor", "temperature"]):
        with transaction.atomic():
            locked = services.device_lock(device_id=device.pk)
            for index in range(3):
                services.device_record_event(
                    device=locked, type=EventType.METADATA_UPDATED, description=f"change {index}", source="test"
                )


def count_queries(client, url: str, params: dict) -> int:
    mark_key_used(client)
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params)
    assert response.status_code == 200
    assert len(response.json()["list"]) == int(params["page_size"])
    return len(context.captured_queries)


def test_list_devices_page_of_100_fixed_queries(api_client, hundred_devices_with_events, django_assert_max_num_queries):
    mark_key_used(api_client)
    with django_assert_max_num_queries(3):
        response = api_client.get(DEVICES, {"page_size": "100"})

    body = response.json()
    assert len(body["list"]) == 100
    assert all(len(device["events"]) == 4 for device in body["list"])


def test_list_devices_query_count_independent_of_page_size(api_client, hundred_devices_with_events):
    assert count_queries(api_client, DEVICES, {"page_size": "10"}) == count_queries(
        api_client, DEVICES, {"page_size": "100"}
    )


def test_list_devices_later_page_costs_first_page_queries(api_client, hundred_devices_with_events):
    first = count_queries(api_client, DEVICES, {"page_size": "10"})
    bookmark = first_bookmark(api_client, page_size="50", sort_by="updated_timestamp")

    assert count_queries(api_client, DEVICES, {"bookmark": bookmark, "page_size": "10"}) == first


def test_list_devices_total_count_costs_one_query(api_client, hundred_devices_with_events):
    plain = count_queries(api_client, DEVICES, {"page_size": "100"})

    assert count_queries(api_client, DEVICES, {"page_size": "100", "include": "total_count"}) == plain + 1


def test_list_dms_devices_query_count_independent_of_page_size(api_client, hundred_devices_with_events):
    url = f"{DEVICES}/dms/dms-production"

    assert count_queries(api_client, url, {"page_size": "10"}) == count_queries(api_client, url, {"page_size": "100"})
