"""Setting a device's identity slot: `PUT /devices/{id}/idslot` (contract, section 3)."""

import json
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory
from tests.helpers import device_snapshot, device_url, get_etag

pytestmark = pytest.mark.django_db

SLOT = {"status": "ACTIVE", "active_version": 2, "type": "X509"}


def put_idslot(client, device_id: str, body, **extra):
    return client.put(device_url(device_id, "/idslot"), body, format="json", **extra)


def events_after_created(device_id: str) -> list[tuple[str, str]]:
    """(type, source) of the device's events, oldest first, without the CREATED one."""
    events = DeviceEvent.objects.filter(device_id=device_id).exclude(type=EventType.CREATED).order_by("timestamp")
    return list(events.values_list("type", "source"))


# --- The seed's example and the device answered ----------------------------------------------------------------


def test_set_identity_slot_seed_example_works_as_written(api_client):
    DeviceFactory(id="device-12345")
    body = '{\n    "status": "ACTIVE",\n    "active_version": 2,\n    "type": "X509"\n  }'

    response = api_client.put(
        f"{API}/devices/device-12345/idslot", body, content_type="application/json", HTTP_ACCEPT="*/*"
    )

    assert response.status_code == 200, response.content
    device = response.json()
    expected_slot = {"status": "ACTIVE", "active_version": 2, "type": "X509", "versions": {}, "expiration_date": None}
    assert device["id"] == "device-12345"
    assert device["status"] == "ACTIVE"
    assert device["identity"] == expected_slot
    assert device["slots"] == {"default": expected_slot}
    assert [event["type"] for event in device["events"].values()] == ["CREATED", "PROVISIONED", "STATUS-UPDATED"]
    stored = Device.objects.get(pk="device-12345")
    assert stored.status == DeviceStatus.ACTIVE
    assert stored.slots == {"default": expected_slot}
    assert stored.identity_expires_at is None
    assert response["ETag"] == stored.etag


def test_set_identity_slot_answer_is_device_as_get_shows_it(api_client):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, SLOT)

    fetched = api_client.get(device_url(device.id))
    assert response.json() == fetched.json()
    assert response["ETag"] == fetched["ETag"]


def test_set_identity_slot_keeps_other_device_fields(api_client):
    device = DeviceFactory(alias="Boiler", tags=["a", "b"], metadata={"location": "roof"}, dms_owner="dms-x")

    body = put_idslot(api_client, device.id, SLOT).json()

    assert (body["alias"], body["tags"], body["metadata"], body["dms_owner"]) == (
        "Boiler",
        ["a", "b"],
        {"location": "roof"},
        "dms-x",
    )


# --- Status and type spellings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("RENEWAL_PENDING", "RENEWAL_WINDOW"),
        ("EXPIRING_SOON", "ABOUT_TO_EXPIRE"),
        ("renewal_pending", "RENEWAL_WINDOW"),
        ("Expiring_Soon", "ABOUT_TO_EXPIRE"),
        ("active", "ACTIVE"),
        ("Renewal_Window", "RENEWAL_WINDOW"),
        ("about_to_expire", "ABOUT_TO_EXPIRE"),
        ("expired", "EXPIRED"),
        ("REVOKED", "REVOKED"),
    ],
)
def test_set_identity_slot_status_spelling_stored_canonical(api_client, sent, stored):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {**SLOT, "status": sent})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == stored
    assert response.json()["identity"]["status"] == stored
    after = Device.objects.get(pk=device.id)
    assert after.status == stored
    assert after.slots["default"]["status"] == stored


@pytest.mark.parametrize(
    ("sent", "stored"), [("x509", "X509"), ("Token", "TOKEN"), ("ssh_key", "SSH_KEY"), ("oThEr", "OTHER")]
)
def test_set_identity_slot_type_any_case_stored_upper_case(api_client, sent, stored):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {**SLOT, "type": sent})

    assert response.status_code == 200, response.content
    assert response.json()["identity"]["type"] == stored
    assert Device.objects.get(pk=device.id).slots["default"]["type"] == stored


@pytest.mark.parametrize("status", ["NO_IDENTITY", "no_identity", "DECOMMISSIONED"])
def test_set_identity_slot_device_only_status_validation_error(api_client, status):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = put_idslot(api_client, device.id, {**SLOT, "status": status})

    assert_error(response, 400, "validation_error", field="status")
    assert device_snapshot(device.id) == before


# --- Versions ---------------------------------------------------------------------------------------------------


def test_set_identity_slot_versions_merged_across_puts(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "active_version": 1, "versions": {"1": {"serial": "0001"}}})

    response = put_idslot(api_client, device.id, {**SLOT, "versions": {"2": {"serial": "0002"}, "3": None}})

    expected = {"1": {"serial": "0001"}, "2": {"serial": "0002"}, "3": None}
    assert response.json()["identity"]["versions"] == expected
    assert Device.objects.get(pk=device.id).slots["default"]["versions"] == expected


def test_set_identity_slot_versions_same_key_replaced_by_later_put(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "versions": {"1": "old", "2": "kept"}})

    response = put_idslot(api_client, device.id, {**SLOT, "versions": {"01": "new"}})

    assert response.json()["identity"]["versions"] == {"1": "new", "2": "kept"}


def test_set_identity_slot_versions_absent_keeps_stored_versions(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "versions": {"1": "a"}})

    response = put_idslot(api_client, device.id, {**SLOT, "active_version": 3})

    assert response.json()["identity"]["versions"] == {"1": "a"}


def test_set_identity_slot_versions_null_keeps_stored_versions(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "versions": {"1": "a"}})

    response = put_idslot(api_client, device.id, {**SLOT, "versions": None})

    assert response.status_code == 200
    assert response.json()["identity"]["versions"] == {"1": "a"}


def test_set_identity_slot_versions_keys_normalised(api_client):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {**SLOT, "versions": {"01": "a", "0010": "b", "000": "c"}})

    assert response.status_code == 200, response.content
    assert response.json()["identity"]["versions"] == {"1": "a", "10": "b", "0": "c"}
    assert Device.objects.get(pk=device.id).slots["default"]["versions"] == {"1": "a", "10": "b", "0": "c"}


def test_set_identity_slot_versions_one_version_named_twice_validation_error(api_client):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = put_idslot(api_client, device.id, {**SLOT, "versions": {"1": "a", "01": "b"}})

    assert_error(response, 400, "validation_error", field="versions")
    assert device_snapshot(device.id) == before


def test_set_identity_slot_versions_key_of_thousands_of_digits_accepted(api_client):
    """Over Python's int-to-str limit (4300 digits): once a 500."""
    device = DeviceFactory()
    big = "9" * 5000

    response = put_idslot(api_client, device.id, {**SLOT, "versions": {"00" + big: "far future"}})

    assert response.status_code == 200, response.content[:300]
    assert Device.objects.get(pk=device.id).slots["default"]["versions"] == {big: "far future"}


@pytest.mark.parametrize("value", [{"a": [1, {"b": None}]}, [1, 2], "pem", 3.5, True, None])
def test_set_identity_slot_versions_hold_any_json_value(api_client, value):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {**SLOT, "versions": {"2": value}})

    assert response.status_code == 200
    assert Device.objects.get(pk=device.id).slots["default"]["versions"] == {"2": value}


def test_set_identity_slot_active_version_need_not_be_in_versions(api_client):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {**SLOT, "active_version": 7, "versions": {"1": "a"}})

    assert response.status_code == 200
    assert response.json()["identity"]["active_version"] == 7


@pytest.mark.parametrize("active_version", [0, 1, 2**53, 10**30])
def test_set_identity_slot_active_version_any_non_negative_integer(api_client, active_version):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {**SLOT, "active_version": active_version})

    assert response.status_code == 200
    assert Device.objects.get(pk=device.id).slots["default"]["active_version"] == active_version


# --- Expiration date --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored", "instant"),
    [
        ("2030-06-01T10:00:00Z", "2030-06-01T10:00:00.000000Z", datetime(2030, 6, 1, 10, tzinfo=UTC)),
        ("2030-06-01T12:00:00+02:00", "2030-06-01T10:00:00.000000Z", datetime(2030, 6, 1, 10, tzinfo=UTC)),
        ("2030-05-31T23:30:00-10:30", "2030-06-01T10:00:00.000000Z", datetime(2030, 6, 1, 10, tzinfo=UTC)),
        (
            "2030-06-01T10:00:00.123456Z",
            "2030-06-01T10:00:00.123456Z",
            datetime(2030, 6, 1, 10, 0, 0, 123456, tzinfo=UTC),
        ),
        ("2030-06-01T10:00:00.5Z", "2030-06-01T10:00:00.500000Z", datetime(2030, 6, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("20300601T100000Z", "2030-06-01T10:00:00.000000Z", datetime(2030, 6, 1, 10, tzinfo=UTC)),  # as filters take
        ("2030-06-01 10:00:00z", "2030-06-01T10:00:00.000000Z", datetime(2030, 6, 1, 10, tzinfo=UTC)),
    ],
)
def test_set_identity_slot_expiration_date_stored_rfc3339_utc(api_client, sent, stored, instant):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {**SLOT, "expiration_date": sent})

    assert response.status_code == 200, response.content
    assert response.json()["identity"]["expiration_date"] == stored
    after = Device.objects.get(pk=device.id)
    assert after.slots["default"]["expiration_date"] == stored
    assert after.identity_expires_at == instant


def test_set_identity_slot_expiration_date_null_clears_column(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "expiration_date": "2030-06-01T10:00:00Z"})

    response = put_idslot(api_client, device.id, {**SLOT, "expiration_date": None})

    assert response.json()["identity"]["expiration_date"] is None
    assert Device.objects.get(pk=device.id).identity_expires_at is None


def test_set_identity_slot_expiration_date_absent_clears_it(api_client):
    """The PUT states the whole slot (versions aside): an expiration_date left out is no longer set."""
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "expiration_date": "2030-06-01T10:00:00Z"})

    response = put_idslot(api_client, device.id, SLOT)

    assert response.json()["identity"]["expiration_date"] is None
    assert Device.objects.get(pk=device.id).identity_expires_at is None


# --- Events -----------------------------------------------------------------------------------------------------


def test_set_identity_slot_first_records_provisioned_then_status_updated(api_client):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, SLOT)

    assert events_after_created(device.id) == [
        (EventType.PROVISIONED, "test-key"),
        (EventType.STATUS_UPDATED, "test-key"),
    ]
    descriptions = [event["description"] for event in response.json()["events"].values()]
    assert descriptions[1:] == [
        "Identity slot provisioned (X509, version 2)",
        "Status changed from NO_IDENTITY to ACTIVE",
    ]


def test_set_identity_slot_source_is_key_name(api_key):
    device = DeviceFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key(scopes=['devices:write'], name='pki-robot')}")

    response = put_idslot(client, device.id, SLOT)

    assert response.status_code == 200
    assert {source for _, source in events_after_created(device.id)} == {"pki-robot"}


def test_set_identity_slot_active_version_grows_records_renewed_only(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "active_version": 1})
    etag = get_etag(api_client, device.id)

    response = put_idslot(api_client, device.id, {**SLOT, "active_version": 2})

    assert events_after_created(device.id)[2:] == [(EventType.RENEWED, "test-key")]
    assert DeviceEvent.objects.get(device=device, type=EventType.RENEWED).description == (
        "Identity renewed: version 1 -> 2"
    )
    assert response["ETag"] != etag


def test_set_identity_slot_renewal_back_to_active_records_renewed_and_status_updated(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "status": "RENEWAL_WINDOW", "active_version": 1})

    put_idslot(api_client, device.id, {**SLOT, "status": "ACTIVE", "active_version": 2})

    assert [event_type for event_type, _ in events_after_created(device.id)[2:]] == [
        EventType.RENEWED,
        EventType.STATUS_UPDATED,
    ]
    assert Device.objects.get(pk=device.id).status == DeviceStatus.ACTIVE


def test_set_identity_slot_status_change_alone_records_status_updated(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, SLOT)

    put_idslot(api_client, device.id, {**SLOT, "status": "REVOKED"})

    assert events_after_created(device.id)[2:] == [(EventType.STATUS_UPDATED, "test-key")]
    event = DeviceEvent.objects.filter(device=device).order_by("-timestamp").first()
    assert event.description == "Status changed from ACTIVE to REVOKED"
    assert Device.objects.get(pk=device.id).status == DeviceStatus.REVOKED


def test_set_identity_slot_alias_of_current_status_records_no_status_event(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "status": "RENEWAL_WINDOW"})

    response = put_idslot(api_client, device.id, {**SLOT, "status": "RENEWAL_PENDING", "versions": {"2": "x"}})

    assert response.status_code == 200
    assert [event_type for event_type, _ in events_after_created(device.id)[2:]] == [EventType.IDENTITY_UPDATED]


def test_set_identity_slot_lower_active_version_records_identity_updated(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "active_version": 5})
    etag = get_etag(api_client, device.id)

    response = put_idslot(api_client, device.id, {**SLOT, "active_version": 4})

    assert response.status_code == 200
    assert response.json()["identity"]["active_version"] == 4
    assert events_after_created(device.id)[2:] == [(EventType.IDENTITY_UPDATED, "test-key")]
    assert response["ETag"] != etag


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"type": "TOKEN"}, "type"),
        ({"versions": {"2": "pem"}}, "versions"),
        ({"expiration_date": "2031-01-01T00:00:00Z"}, "expiration_date"),
        ({"versions": {"2": "pem"}, "type": "token"}, "type, versions"),
    ],
)
def test_set_identity_slot_other_change_records_identity_updated(api_client, change, named):
    # Every change of the slot is in the history, not only provisioning, renewal and status.
    device = DeviceFactory()
    put_idslot(api_client, device.id, SLOT)
    etag = get_etag(api_client, device.id)

    response = put_idslot(api_client, device.id, {**SLOT, **change})

    assert response.status_code == 200
    assert events_after_created(device.id)[2:] == [(EventType.IDENTITY_UPDATED, "test-key")]
    event = DeviceEvent.objects.filter(device=device).order_by("-timestamp").first()
    assert event.description == f"Identity slot updated: {named}"
    assert response["ETag"] != etag
    assert response["ETag"] == get_etag(api_client, device.id)
    assert response.json()["events"][event.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")]["type"] == "IDENTITY-UPDATED"


def test_set_identity_slot_other_change_and_status_records_both_in_order(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, SLOT)

    put_idslot(api_client, device.id, {**SLOT, "type": "TOKEN", "status": "REVOKED"})

    types = [event_type for event_type, _ in events_after_created(device.id)[2:]]
    assert types == [EventType.IDENTITY_UPDATED, EventType.STATUS_UPDATED]


def test_set_identity_slot_identical_put_changes_nothing(api_client):
    device = DeviceFactory()
    body = {**SLOT, "versions": {"2": {"serial": "0002"}}, "expiration_date": "2030-06-01T10:00:00Z"}
    put_idslot(api_client, device.id, body)
    etag = get_etag(api_client, device.id)
    before = device_snapshot(device.id)

    response = put_idslot(api_client, device.id, body)

    assert response.status_code == 200
    assert response["ETag"] == etag
    assert device_snapshot(device.id) == before
    assert get_etag(api_client, device.id) == etag


def test_set_identity_slot_same_slot_spelled_differently_changes_nothing(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "versions": {"2": "a"}, "expiration_date": "2030-06-01T10:00:00Z"})
    etag = get_etag(api_client, device.id)
    before = device_snapshot(device.id)
    same = {
        "status": "active",
        "active_version": 2,
        "type": "x509",
        "versions": {"02": "a"},
        "expiration_date": "2030-06-01T12:00:00+02:00",
    }

    response = put_idslot(api_client, device.id, same)

    assert response.status_code == 200
    assert response["ETag"] == etag
    assert device_snapshot(device.id) == before


# --- Invalid bodies ---------------------------------------------------------------------------------------------

MISSING = object()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", MISSING),
        ("active_version", MISSING),
        ("type", MISSING),
        ("status", "UNKNOWN"),
        ("status", ""),
        ("status", None),
        ("status", 1),
        ("status", ["ACTIVE"]),
        ("type", "RSA"),
        ("type", ""),
        ("type", None),
        ("type", 509),
        ("active_version", -1),
        ("active_version", "2"),
        ("active_version", True),
        ("active_version", 1.5),
        ("active_version", 2.0),
        ("active_version", None),
        ("active_version", [2]),
        ("versions", []),
        ("versions", "1"),
        ("versions", 1),
        ("versions", {"abc": "x"}),
        ("versions", {"-1": "x"}),
        ("versions", {"1.5": "x"}),
        ("versions", {"": "x"}),
        ("versions", {" 1": "x"}),
        ("versions", {"\u0661": "x"}),
        ("expiration_date", "not a date"),
        ("expiration_date", ""),
        ("expiration_date", "2030-13-01T00:00:00Z"),
        ("expiration_date", 1893456000),
        ("expiration_date", True),
        ("expiration_date", {"date": "2030-01-01"}),
        ("expiration_date", "9999-12-31T23:59:59-01:00"),
        # One parser for bodies and filters: RFC 3339 with a zone; an instant, not a day.
        ("expiration_date", "2030-06-01T10:00:00"),
        ("expiration_date", "2030-06-01"),
        ("expiration_date", "2030-06-01T10:00Z"),
        ("expiration_date", "2030-06-01T10:00:00+0200"),
        ("expiration_date", " 2030-06-01T10:00:00Z"),
        ("bogus", "unknown field"),
        ("identity", {}),
    ],
)
def test_set_identity_slot_invalid_field_validation_error(api_client, field, value):
    device = DeviceFactory()
    put_idslot(api_client, device.id, {**SLOT, "versions": {"1": "a"}})
    before = device_snapshot(device.id)
    body = {**SLOT}
    if value is MISSING:
        del body[field]
    else:
        body[field] = value

    response = put_idslot(api_client, device.id, body)

    assert_error(response, 400, "validation_error", field=field)
    assert device_snapshot(device.id) == before


def test_set_identity_slot_every_bad_field_named(api_client):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {"status": "X", "active_version": -1, "type": "Y", "extra": 1})

    body = assert_error(response, 400, "validation_error")
    assert {item["name"] for item in body["fields"]} == {"status", "active_version", "type", "extra"}


def test_set_identity_slot_empty_body_names_each_required_field(api_client):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {})

    body = assert_error(response, 400, "validation_error")
    assert {item["name"] for item in body["fields"]} == {"status", "active_version", "type"}


@pytest.mark.parametrize("raw", ["[]", '["ACTIVE", 2, "X509"]', '"ACTIVE"', "2", "true", "null"])
def test_set_identity_slot_body_not_object_validation_error(api_client, raw):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = api_client.put(device_url(device.id, "/idslot"), raw, content_type="application/json")

    assert_error(response, 400, "validation_error", field="body")
    assert device_snapshot(device.id) == before


@pytest.mark.parametrize(
    "raw",
    [
        '{"status": "ACTIVE", "active_version": 2, "type": "X509"',
        "{'status': 'ACTIVE'}",
        '{"status": "ACTIVE", "active_version": NaN, "type": "X509"}',
        '{"status": "ACTIVE", "active_version": 2, "type": "X509"} trailing',
    ],
)
def test_set_identity_slot_malformed_json_bad_request(api_client, raw):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = api_client.put(device_url(device.id, "/idslot"), raw, content_type="application/json")

    assert_error(response, 400, "bad_request")
    assert device_snapshot(device.id) == before


def test_set_identity_slot_wrong_content_type_bad_request(api_client):
    device = DeviceFactory()

    response = api_client.put(device_url(device.id, "/idslot"), json.dumps(SLOT), content_type="text/plain")

    assert_error(response, 400, "bad_request")
    assert Device.objects.get(pk=device.id).slots == {}


# --- Refusals: state, existence, scope, method ------------------------------------------------------------------


def test_set_identity_slot_decommissioned_device_conflict(api_client):
    device = DeviceFactory()
    put_idslot(api_client, device.id, SLOT)
    services.device_decommission(device_id=device.id, source="test")
    before = device_snapshot(device.id)

    response = put_idslot(api_client, device.id, {**SLOT, "active_version": 3})

    assert_error(response, 409, "conflict")
    assert device_snapshot(device.id) == before
    after = Device.objects.get(pk=device.id)
    assert after.status == DeviceStatus.DECOMMISSIONED
    assert after.slots["default"]["status"] == "REVOKED"


def test_set_identity_slot_decommissioned_without_identity_conflict(api_client):
    device = DeviceFactory()
    services.device_decommission(device_id=device.id, source="test")
    before = device_snapshot(device.id)

    response = put_idslot(api_client, device.id, SLOT)

    assert_error(response, 409, "conflict")
    assert device_snapshot(device.id) == before
    assert Device.objects.get(pk=device.id).slots == {}


def test_set_identity_slot_decommissioned_bad_body_validation_before_conflict(api_client):
    device = DeviceFactory()
    services.device_decommission(device_id=device.id, source="test")
    before = device_snapshot(device.id)

    response = put_idslot(api_client, device.id, {**SLOT, "active_version": -1})

    assert_error(response, 400, "validation_error", field="active_version")
    assert device_snapshot(device.id) == before


def test_set_identity_slot_unknown_device_not_found(api_client):
    response = put_idslot(api_client, "no-such-device", SLOT)

    assert_error(response, 404, "not_found")
    assert not Device.objects.filter(pk="no-such-device").exists()


def test_set_identity_slot_unusual_id(api_client):
    DeviceFactory(id="Gerät 100% #1")

    response = put_idslot(api_client, "Gerät 100% #1", SLOT)

    assert response.status_code == 200
    assert Device.objects.get(pk="Gerät 100% #1").status == DeviceStatus.ACTIVE


def test_set_identity_slot_read_scope_access_denied(client_with_scopes):
    device = DeviceFactory()
    before = device_snapshot(device.id)

    response = put_idslot(client_with_scopes("devices:read"), device.id, SLOT)

    assert_error(response, 403, "access_denied")
    assert device_snapshot(device.id) == before


def test_set_identity_slot_groups_scopes_access_denied(client_with_scopes):
    device = DeviceFactory()

    response = put_idslot(client_with_scopes("groups:read", "groups:write"), device.id, SLOT)

    assert_error(response, 403, "access_denied")
    assert Device.objects.get(pk=device.id).slots == {}


def test_set_identity_slot_write_scope_alone_enough(client_with_scopes):
    device = DeviceFactory()

    response = put_idslot(client_with_scopes("devices:write"), device.id, SLOT)

    assert response.status_code == 200
    assert Device.objects.get(pk=device.id).status == DeviceStatus.ACTIVE


def test_set_identity_slot_without_key_invalid_auth(anon_client):
    device = DeviceFactory()

    assert_error(put_idslot(anon_client, device.id, SLOT), 401, "invalid_auth")
    assert Device.objects.get(pk=device.id).slots == {}


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_set_identity_slot_other_methods_not_supported(api_client, method):
    device = DeviceFactory()

    response = getattr(api_client, method)(device_url(device.id, "/idslot"), SLOT, format="json")

    assert_error(response, 405, "method_not_supported")
    assert Device.objects.get(pk=device.id).slots == {}


# --- If-Match ---------------------------------------------------------------------------------------------------


def test_set_identity_slot_stale_if_match_precondition_failed(api_client):
    device = DeviceFactory()
    stale = get_etag(api_client, device.id)
    put_idslot(api_client, device.id, SLOT)
    before = device_snapshot(device.id)

    response = put_idslot(api_client, device.id, {**SLOT, "active_version": 3}, HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")
    assert device_snapshot(device.id) == before


def test_set_identity_slot_stale_if_match_identical_body_precondition_failed(api_client):
    device = DeviceFactory()
    stale = get_etag(api_client, device.id)
    put_idslot(api_client, device.id, SLOT)

    response = put_idslot(api_client, device.id, SLOT, HTTP_IF_MATCH=stale)

    assert_error(response, 412, "precondition_failed")


def test_set_identity_slot_current_if_match_new_etag_in_answer(api_client):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = put_idslot(api_client, device.id, SLOT, HTTP_IF_MATCH=etag)

    assert response.status_code == 200
    assert response["ETag"] != etag
    assert response["ETag"] == Device.objects.get(pk=device.id).etag
    assert response["ETag"] == get_etag(api_client, device.id)


def test_set_identity_slot_etag_from_answer_usable_as_if_match(api_client):
    device = DeviceFactory()
    first = put_idslot(api_client, device.id, {**SLOT, "active_version": 1})

    response = put_idslot(api_client, device.id, {**SLOT, "active_version": 2}, HTTP_IF_MATCH=first["ETag"])

    assert response.status_code == 200
    assert Device.objects.get(pk=device.id).slots["default"]["active_version"] == 2


@pytest.mark.parametrize("header", ["*", '"stale", {etag}'])
def test_set_identity_slot_if_match_star_or_list_accepted(api_client, header):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = put_idslot(api_client, device.id, SLOT, HTTP_IF_MATCH=header.format(etag=etag))

    assert response.status_code == 200


def test_set_identity_slot_weak_if_match_precondition_failed(api_client):
    device = DeviceFactory()
    etag = get_etag(api_client, device.id)

    response = put_idslot(api_client, device.id, SLOT, HTTP_IF_MATCH=f"W/{etag}")

    assert_error(response, 412, "precondition_failed")
    assert Device.objects.get(pk=device.id).slots == {}


def test_set_identity_slot_stale_if_match_bad_body_validation_error_first(api_client):
    device = DeviceFactory()

    response = put_idslot(api_client, device.id, {**SLOT, "type": "RSA"}, HTTP_IF_MATCH='"stale"')

    assert_error(response, 400, "validation_error", field="type")
