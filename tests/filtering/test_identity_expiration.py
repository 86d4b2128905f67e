"""`identity_expiration_date`, the filter language's date field over the identity slot's expiry (not in the
contract's table: docs/filter-language.md): on device lists, on the feed's `q`, and as the admin's identity expiry
window, which a fleet action over the whole list can now apply."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from devices import services
from devices.filters import identity_expiring_filters
from devices.models import Device
from devmanager.timestamps import format_timestamp
from fleet.models import Job
from tests.conftest import API, assert_error
from tests.fleet.admin_actions import action_page, confirm
from tests.fleet.helpers import run_jobs

pytestmark = pytest.mark.django_db

SINCE = datetime(2030, 1, 1, tzinfo=UTC)


def with_identity(device_id: str, expires: datetime | None, status: str = "ACTIVE") -> None:
    services.device_create(id=device_id, source="test")
    services.device_set_identity_slot(
        device_id=device_id, source="test", status=status, active_version=1, type="X509", expiration_date=expires
    )


@pytest.fixture
def fleet():
    """Devices expiring at the edges of the 7-day window from SINCE, beside ones it leaves out."""
    with_identity("at-start", SINCE)
    with_identity("just-before", SINCE - timedelta(microseconds=1))
    with_identity("inside", SINCE + timedelta(days=3))
    with_identity("at-end", SINCE + timedelta(days=7))
    with_identity("just-inside-end", SINCE + timedelta(days=7) - timedelta(microseconds=1))
    with_identity("revoked-inside", SINCE + timedelta(days=2), status="REVOKED")
    with_identity("no-expiry", None)
    services.device_create(id="no-identity", source="test")
    with_identity("decommissioned-inside", SINCE + timedelta(days=1))
    services.device_decommission(device_id="decommissioned-inside", source="test")


def listed(client, *filters: str) -> set[str]:
    response = client.get(f"{API}/devices", {"filter": list(filters), "page_size": 100})
    assert response.status_code == 200, response.content
    return {device["id"] for device in response.json()["list"]}


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["identity_expiration_date[bf]:2030-01-01T00:00:00Z"], {"just-before"}),
        (["identity_expiration_date[af]:2030-01-07T00:00:00Z"], {"at-end", "just-inside-end"}),
        (["identity_expiration_date[eq]:2030-01-04"], {"inside"}),  # the whole day
        # The short form; any status.
        (
            ["identity_expiration_date[before]:20300102T000001Z", "identity_expiration_date[after]:2029-12-31"],
            {"at-start", "just-before", "decommissioned-inside"},
        ),
    ],
)
def test_the_field_compares_the_identity_expiry_as_a_date(api_client, filters, expected):
    assert listed(api_client, *filters) == expected


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize("value", ["soon", "2030-13-01", ""])
def test_a_bad_date_is_a_400_naming_the_filter(api_client, value):
    response = api_client.get(f"{API}/devices", {"filter": f"identity_expiration_date[af]:{value}"})

    assert_error(response, 400, "validation_error")
    assert response.json()["fields"][0]["name"] == "filter[0]"


@pytest.mark.usefixtures("fleet")
def test_a_string_operator_is_refused(api_client):
    response = api_client.get(f"{API}/devices", {"filter": "identity_expiration_date[ct]:2030"})

    assert_error(response, 400, "validation_error")


@pytest.mark.usefixtures("fleet")
def test_the_window_in_the_filter_language_keeps_what_the_window_keeps(api_client):
    window = set(Device.objects.identity_expiring(SINCE, 7).values_list("pk", flat=True))

    assert window == {"at-start", "inside", "just-inside-end"}
    assert listed(api_client, *identity_expiring_filters(SINCE, 7)) == window


@pytest.mark.usefixtures("fleet")
def test_the_feeds_q_reads_the_expiry_of_the_device_in_each_event(api_client):
    response = api_client.get(
        f"{API}/events",
        {"filter": "type[eq]:device.identity.updated", "page_size": 100,
         "q": "identity_expiration_date[af]:2030-01-07T00:00:00Z or identity_expiration_date[eq]:2030-01-04"},
    )  # fmt: skip

    assert response.status_code == 200, response.content
    assert {event["subject"] for event in response.json()["list"]} == {"at-end", "just-inside-end", "inside"}


def test_a_fleet_action_over_the_expiry_list_acts_on_the_devices_it_lists(admin_client, fleet):
    query = "?" + urlencode({"expires_within": 7, "expires_from": SINCE.isoformat()})
    listed_ids = {device.pk for device in admin_client.get(f"/admin/devices/device/{query}").context["cl"].queryset}

    page = action_page(admin_client, "add_tags", ["inside"], select_across=True, query=query)

    assert page.status_code == 200, page.content[:500]
    assert page.context["count"] == len(listed_ids) == 3
    confirm(admin_client, page, tag="renew")
    job = Job.objects.get()
    opens = format_timestamp(SINCE - timedelta(microseconds=1))
    assert f"identity_expiration_date[af]:{opens}" in job.filter
    run_jobs()
    assert {device.pk for device in Device.objects.all() if "renew" in device.tags} == listed_ids


def test_a_fleet_action_over_an_expiry_list_from_now_acts_on_the_window_it_showed(admin_client):
    """The list's own choices count from now: the confirmation acts on the window the page showed and counted,
    not on one written anew a moment later."""
    with_identity("in-3-days", timezone.now() + timedelta(days=3))
    with_identity("in-9-days", timezone.now() + timedelta(days=9))

    page = action_page(admin_client, "add_tags", ["in-3-days"], select_across=True, query="?expires_within=7")
    assert page.context["count"] == 1
    response = confirm(admin_client, page, tag="renew")

    assert response.status_code == 302 and Job.objects.count() == 1, response.content[:500]
    run_jobs()
    assert [device.pk for device in Device.objects.all() if "renew" in device.tags] == ["in-3-days"]


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+00:00", "9999-12-31T00:00:00+00:00"])
def test_an_expiry_window_beyond_the_calendar_lists_nothing_and_acts_on_nothing(admin_client, instant):
    with_identity("some", SINCE)
    query = "?" + urlencode({"expires_within": 7, "expires_from": instant})

    listed = admin_client.get(f"/admin/devices/device/{query}")
    acted = action_page(admin_client, "add_tags", ["some"], select_across=True, query=query)

    assert listed.status_code == 200 and listed.context["cl"].result_count == 0
    assert acted.status_code == 302 and Job.objects.count() == 0  # refused: no form in the filter language


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    "q", ["not identity_expiration_date[bf]:2030-01-04", "not (identity_expiration_date[af]:2000-01-01)"]
)
def test_not_keeps_the_devices_without_an_expiry_on_lists_and_on_the_feed_alike(api_client, q):
    def feed(event_type: str) -> set[str]:
        answer = api_client.get(f"{API}/events", {"q": q, "filter": f"type[eq]:{event_type}", "page_size": 100})
        assert answer.status_code == 200, answer.content
        return {event["subject"] for event in answer.json()["list"]}

    devices = api_client.get(f"{API}/devices", {"q": q, "page_size": 100})

    assert devices.status_code == 200
    listed = {device["id"] for device in devices.json()["list"]}
    assert {"no-identity", "no-expiry"} <= listed
    # No device had an identity when it was created: `not` keeps every `device.created` event.
    assert feed("device.created") == set(Device.objects.values_list("pk", flat=True))
    # Each identity event carries the expiry the device still has.
    assert feed("device.identity.updated") == listed - {"no-identity"}
