"""The operators' console: the device admin (list, add, decommission, history) and the API key admin."""

import re

import pytest
from django.contrib.admin.utils import quote
from django.contrib.messages import get_messages
from django.urls import reverse

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from devmanager.api.models import ApiKey, hash_key
from tests.admin_pages import change_form_data, device_change_url
from tests.conftest import API, assert_error, bearer_client
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

DEVICE_CHANGELIST = reverse("admin:devices_device_changelist")
DEVICE_ADD = reverse("admin:devices_device_add")
KEY_CHANGELIST = reverse("admin:api_apikey_changelist")
KEY_ADD = reverse("admin:api_apikey_add")
PLAINTEXT_KEY = re.compile(r"ak_[0-9a-f]{32}")

GOOD_DEVICE_FORM = {
    "id": "admin-made",
    "alias": "Made in the admin",
    "tags_text": "sensor, temperature",
    "dms_owner": "dms-a",
    "icon": "thermometer",
    "icon_color": "#FF5733",
    "metadata_text": '{"location": "warehouse-a", "floor": 2}',
    "_save": "Save",
}


def listed_ids(response) -> list[str]:
    assert response.status_code == 200
    return [device.id for device in response.context["cl"].result_list]


def form_errors(response) -> dict:
    assert response.status_code == 200, "the form was accepted"
    return response.context["adminform"].form.errors


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def add_key(admin_client, **fields) -> tuple[ApiKey, str]:
    """Create a key through the admin's add form; the key and the plaintext shown on the page that follows."""
    data = {"name": "ops-console", "scopes": ["devices:read", "devices:write"], "expires_at": "", "_save": "Save"}
    response = admin_client.post(KEY_ADD, {**data, **fields}, follow=True)
    assert response.redirect_chain, response.content
    shown = [match for message in response.context["messages"] for match in PLAINTEXT_KEY.findall(str(message))]
    assert len(shown) == 1
    assert PLAINTEXT_KEY.findall(response.content.decode()) == shown
    return ApiKey.objects.get(key_hash=hash_key(shown[0])), shown[0]


# --- Device changelist ----------------------------------------------------------------------------------------


@pytest.fixture
def fleet():
    DeviceFactory(id="sensor-1", alias="Boiler room", dms_owner="dms-a", tags=["heat", "boiler"])
    DeviceFactory(id="sensor-2", alias="Cold store", dms_owner="dms-b")
    DeviceFactory(id="sensor-3", alias="Boiler backup", dms_owner="dms-b")
    Device.objects.filter(pk="sensor-2").update(status=DeviceStatus.ACTIVE)


def test_device_changelist_lists_devices(admin_client, fleet):
    response = admin_client.get(DEVICE_CHANGELIST)

    assert sorted(listed_ids(response)) == ["sensor-1", "sensor-2", "sensor-3"]
    content = response.content.decode()
    assert "Boiler room" in content
    assert "heat, boiler" in content


def test_device_changelist_newest_first(admin_client, fleet):
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST)) == ["sensor-3", "sensor-2", "sensor-1"]


def test_device_changelist_status_filter(admin_client, fleet):
    response = admin_client.get(DEVICE_CHANGELIST, {"status__exact": "ACTIVE"})

    assert listed_ids(response) == ["sensor-2"]


def test_device_changelist_dms_filter(admin_client, fleet):
    response = admin_client.get(DEVICE_CHANGELIST, {"dms_owner": "dms-b"})

    assert sorted(listed_ids(response)) == ["sensor-2", "sensor-3"]


def test_device_changelist_search_alias(admin_client, fleet):
    response = admin_client.get(DEVICE_CHANGELIST, {"q": "boiler"})

    assert sorted(listed_ids(response)) == ["sensor-1", "sensor-3"]


def test_device_changelist_search_alias_folds_case_as_the_filters_do(admin_client):
    DeviceFactory(id="cold-1", alias="Ärger im Kühlraum")
    DeviceFactory(id="cold-2", alias="100% kühl_")

    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": "KÜHL"})) == ["cold-2", "cold-1"]
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": "ärger"})) == ["cold-1"]
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": "% KÜHL_"})) == ["cold-2"]


def test_device_changelist_search_exact_id(admin_client, fleet):
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": "sensor-2"})) == ["sensor-2"]
    assert listed_ids(admin_client.get(DEVICE_CHANGELIST, {"q": "sensor"})) == []


def test_device_changelist_filters_and_search_combined(admin_client, fleet):
    params = {"status__exact": "NO_IDENTITY", "dms_owner": "dms-b", "q": "boiler"}

    response = admin_client.get(DEVICE_CHANGELIST, params)

    assert listed_ids(response) == ["sensor-3"]


def test_device_changelist_requires_login(client, fleet):
    response = client.get(DEVICE_CHANGELIST)

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


# --- Device add form ------------------------------------------------------------------------------------------


def test_device_add_form_loads(admin_client):
    response = admin_client.get(DEVICE_ADD)

    assert response.status_code == 200
    fields = response.context["adminform"].form.fields
    assert {"id", "alias", "tags_text", "dms_owner", "icon", "icon_color", "metadata_text"} <= set(fields)


def test_device_add_creates_device_through_service(admin_client, admin_user):
    response = admin_client.post(DEVICE_ADD, GOOD_DEVICE_FORM)

    assert response.status_code == 302
    device = Device.objects.get(pk="admin-made")
    assert device.alias == "Made in the admin"
    assert device.tags == ["sensor", "temperature"]
    assert device.dms_owner == "dms-a"
    assert device.icon == "thermometer"
    assert device.icon_color == "#FF5733"
    assert device.metadata == {"location": "warehouse-a", "floor": 2}
    assert device.status == DeviceStatus.NO_IDENTITY
    assert device.tag_terms == ["=sensor", "=temperature", "~sensor", "~temperature"]
    event = DeviceEvent.objects.get(device=device)
    assert (event.type, event.source) == (EventType.CREATED, admin_user.username)


def test_device_add_shown_by_api(admin_client, api_client):
    admin_client.post(DEVICE_ADD, GOOD_DEVICE_FORM)

    body = api_client.get(f"{API}/devices/admin-made").json()

    assert body["tags"] == ["sensor", "temperature"]
    assert [event["type"] for event in body["events"].values()] == ["CREATED"]


def test_device_add_minimal(admin_client):
    response = admin_client.post(DEVICE_ADD, {"id": "bare", "_save": "Save"})

    assert response.status_code == 302
    device = Device.objects.get(pk="bare")
    assert (device.tags, device.metadata, device.alias, device.icon_color) == ([], {}, "", "")


def test_device_add_unusual_id_change_page_reachable(admin_client):
    admin_client.post(DEVICE_ADD, {**GOOD_DEVICE_FORM, "id": "Gerät 100% #1_x"})

    response = admin_client.get(device_change_url("Gerät 100% #1_x"))

    assert response.status_code == 200
    assert response.context["original"].pk == "Gerät 100% #1_x"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"icon_color": "red"}, "icon_color"),
        ({"icon_color": "#12345"}, "icon_color"),
        ({"icon_color": "#112233-112233"}, "icon_color"),
        ({"tags_text": "sensor, temperature, sensor"}, "tags_text"),
        ({"tags_text": "ok, " + "x" * 129}, "tags_text"),
        ({"tags_text": ", ".join(f"t{index}" for index in range(51))}, "tags_text"),
        ({"metadata_text": "{not json"}, "metadata_text"),
        ({"metadata_text": '["not", "an", "object"]'}, "metadata_text"),
        ({"metadata_text": '{"blob": "' + "x" * (64 * 1024) + '"}'}, "metadata_text"),
        ({"id": "a/b"}, "id"),
        ({"id": "dms"}, "id"),
        ({"id": ".."}, "id"),
        ({"id": "bad\x07id"}, "id"),
        ({"id": ""}, "id"),
    ],
)
def test_device_add_invalid_shows_error_creates_nothing(admin_client, changes, field):
    response = admin_client.post(DEVICE_ADD, {**GOOD_DEVICE_FORM, **changes})

    assert field in form_errors(response)
    assert not Device.objects.exists()
    assert not DeviceEvent.objects.exists()


def test_device_add_several_errors_all_shown(admin_client):
    response = admin_client.post(DEVICE_ADD, {**GOOD_DEVICE_FORM, "icon_color": "red", "tags_text": "a, a"})

    errors = form_errors(response)
    assert {"icon_color", "tags_text"} <= set(errors)


def test_device_add_duplicate_id_shows_error_keeps_existing(admin_client):
    DeviceFactory(id="admin-made", alias="first")

    response = admin_client.post(DEVICE_ADD, GOOD_DEVICE_FORM)

    assert "id" in form_errors(response)
    assert Device.objects.get(pk="admin-made").alias == "first"
    assert DeviceEvent.objects.count() == 1


# --- Device change page ---------------------------------------------------------------------------------------


def test_device_change_page_shows_events_read_only(admin_client):
    device = DeviceFactory(id="watched")
    services.device_decommission(device_id=device.id, source="night-shift")

    response = admin_client.get(device_change_url("watched"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Device created" in content and "Device decommissioned" in content
    assert "night-shift" in content
    (events_formset,) = [
        inline for inline in response.context["inline_admin_formsets"] if inline.formset.prefix == "events"
    ]
    assert events_formset.has_add_permission is False
    assert events_formset.has_change_permission is False
    assert events_formset.formset.can_delete is False
    assert 'name="events-0-type"' not in content
    assert 'name="events-0-description"' not in content
    assert 'name="events-0-DELETE"' not in content


def test_device_change_page_edits_the_five_fields_and_the_metadata_only(admin_client):
    DeviceFactory(id="watched", alias="Original alias", tags=["a", "b"])

    response = admin_client.get(device_change_url("watched"))

    assert response.status_code == 200
    content = response.content.decode()
    for name in ("alias", "tags_text", "dms_owner", "icon", "icon_color", "metadata_json"):
        assert f'name="{name}"' in content
    assert 'name="id"' not in content and 'name="status"' not in content
    assert "Original alias" in content and 'value="a, b"' in content


def test_device_change_post_changes_the_fields_through_the_door_and_not_the_status(admin_client, admin_user):
    device = DeviceFactory(id="watched", alias="Original alias", tags=["a"])
    data = change_form_data(admin_client, "watched")

    response = admin_client.post(
        device_change_url("watched"), {**data, "alias": "Changed", "tags_text": "a, b", "status": "ACTIVE"}
    )

    assert response.status_code == 302
    after = Device.objects.get(pk=device.id)
    assert (after.alias, after.tags, after.status) == ("Changed", ["a", "b"], DeviceStatus.NO_IDENTITY)
    newest = DeviceEvent.objects.filter(device=device).order_by("-timestamp").first()
    assert (newest.type, newest.description, newest.source) == ("UPDATED", "Updated: alias, tags", admin_user.username)


def test_device_change_post_of_the_page_as_loaded_records_nothing(admin_client):
    device = DeviceFactory(id="watched", alias="Original alias", tags=["a"], icon_color="#ABC")
    version = Device.objects.get(pk="watched").version

    response = admin_client.post(device_change_url("watched"), change_form_data(admin_client, "watched"))

    assert response.status_code == 302
    assert Device.objects.get(pk="watched").version == version
    assert DeviceEvent.objects.filter(device=device).count() == 1


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("tags_text", "a, a", "repeats the tag"),
        ("icon_color", "red", "#RGB"),
        ("dms_owner", "a/b", "'/'"),
        ("alias", "x" * 256, "255"),
    ],
)
def test_device_change_post_with_a_bad_field_shows_the_error_and_saves_nothing(admin_client, field, value, message):
    DeviceFactory(id="watched", alias="Original alias")
    version = Device.objects.get(pk="watched").version

    response = admin_client.post(
        device_change_url("watched"), {**change_form_data(admin_client, "watched"), field: value}
    )

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors.get(field, []))
    assert Device.objects.get(pk="watched").version == version


# The device list's actions (decommission and the other fleet actions) run as jobs: tests/fleet/test_admin.py.


# --- API key admin --------------------------------------------------------------------------------------------


def test_api_key_add_shows_plaintext_once(admin_client):
    key, plaintext = add_key(admin_client, name="ops-console")

    assert key.name == "ops-console"
    assert key.prefix == plaintext[:8]
    assert key.scopes == ["devices:read", "devices:write"]
    assert key.revoked_at is None
    assert plaintext not in key.key_hash
    # Never again: not on the next pages, not in the list.
    assert plaintext not in admin_client.get(reverse("admin:api_apikey_change", args=[key.pk])).content.decode()
    assert plaintext not in admin_client.get(KEY_CHANGELIST).content.decode()


def test_api_key_add_key_works_against_api(admin_client):
    DeviceFactory(id="visible")
    _, plaintext = add_key(admin_client)

    response = bearer_client(plaintext).get(f"{API}/devices")

    assert response.status_code == 200
    assert [device["id"] for device in response.json()["list"]] == ["visible"]


def test_api_key_add_key_name_is_event_source(admin_client):
    _, plaintext = add_key(admin_client, name="line-7-robot")

    response = bearer_client(plaintext).post(f"{API}/devices", {"id": "from-robot"}, format="json")

    assert response.status_code == 201
    assert DeviceEvent.objects.get(device_id="from-robot").source == "line-7-robot"


def test_api_key_add_scopes_enforced(admin_client):
    _, plaintext = add_key(admin_client, scopes=["devices:read"])

    response = bearer_client(plaintext).post(f"{API}/devices", {"id": "refused"}, format="json")

    assert_error(response, 403, "access_denied")
    assert not Device.objects.exists()


def test_api_key_add_without_name_shows_error(admin_client):
    response = admin_client.post(KEY_ADD, {"name": "", "scopes": ["devices:read"], "_save": "Save"})

    assert "name" in form_errors(response)
    assert not ApiKey.objects.exists()


def test_api_key_add_without_scopes_shows_error(admin_client):
    response = admin_client.post(KEY_ADD, {"name": "no-scopes", "_save": "Save"})

    assert "scopes" in form_errors(response)
    assert not ApiKey.objects.exists()


def test_api_key_add_with_dms_restricts_the_key(admin_client):
    DeviceFactory(id="north-1", dms_owner="north")
    DeviceFactory(id="west-1", dms_owner="west")
    key, plaintext = add_key(admin_client, dms="north, south")

    assert key.dms == ["north", "south"]
    listed = bearer_client(plaintext).get(f"{API}/devices").json()["list"]
    assert [device["id"] for device in listed] == ["north-1"]
    page = admin_client.get(KEY_CHANGELIST).content.decode()
    assert "north, south" in page and "Last used at" in page


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"dms": "north, a/b"}, "dms"),
        ({"dms": ".."}, "dms"),
        ({"expires_at_0": "2001-01-01", "expires_at_1": "00:00:00"}, "expires_at"),
    ],
)
def test_api_key_add_with_bad_dms_or_expiry_shows_error(admin_client, fields, field):
    data = {"name": "bad", "scopes": ["devices:read"], "expires_at": "", "_save": "Save", **fields}

    response = admin_client.post(KEY_ADD, data)

    assert field in form_errors(response)
    assert not ApiKey.objects.exists()


def test_api_key_revoke_action_revokes(admin_client):
    key, plaintext = add_key(admin_client)
    client = bearer_client(plaintext)
    assert client.get(f"{API}/devices").status_code == 200

    response = admin_client.post(KEY_CHANGELIST, {"action": "revoke", "_selected_action": [key.pk]})

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert not key.is_active
    assert_error(client.get(f"{API}/devices"), 401, "invalid_apikey")


def test_api_key_revoke_action_spares_unselected(admin_client):
    revoked, _ = add_key(admin_client, name="leaked")
    kept, kept_plaintext = add_key(admin_client, name="kept")

    admin_client.post(KEY_CHANGELIST, {"action": "revoke", "_selected_action": [revoked.pk]})

    kept.refresh_from_db()
    assert kept.revoked_at is None
    assert bearer_client(kept_plaintext).get(f"{API}/devices").status_code == 200


def test_api_key_revoke_action_repeated_keeps_first_time(admin_client):
    key, _ = add_key(admin_client)
    admin_client.post(KEY_CHANGELIST, {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    first = key.revoked_at

    admin_client.post(KEY_CHANGELIST, {"action": "revoke", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.revoked_at == first


def test_api_key_changelist_loads(admin_client):
    add_key(admin_client, name="listed-key")

    response = admin_client.get(KEY_CHANGELIST)

    assert response.status_code == 200
    assert "listed-key" in response.content.decode()


def test_admin_bulk_delete_action_not_offered(admin_client, fleet):
    response = admin_client.get(reverse("admin:devices_device_changelist"))

    assert b"delete_selected" not in response.content


def test_admin_delete_refused_unless_decommissioned(admin_client):
    device = DeviceFactory(id="live-one")
    response = admin_client.post(reverse("admin:devices_device_delete", args=[quote(device.pk)]), {"post": "yes"})

    assert response.status_code == 302  # back to the device's page, which says why (test_admin_device_page.py)
    assert response["Location"] == device_change_url("live-one")
    assert Device.objects.filter(pk="live-one").exists()


def test_admin_delete_of_decommissioned_device(admin_client):
    device = DeviceFactory(id="retired")
    services.device_decommission(device_id=device.pk, source="test")
    response = admin_client.post(reverse("admin:devices_device_delete", args=[quote(device.pk)]), {"post": "yes"})

    assert response.status_code == 302
    assert not Device.objects.filter(pk="retired").exists()
    assert not DeviceEvent.objects.filter(device_id="retired").exists()


@pytest.mark.parametrize("query", ["dms_owner=a%00b", "status__exact=%00", "q=a%00b", "group=%00"])
def test_device_changelist_query_with_nul_is_a_bad_request_not_a_500(admin_client, query):
    assert admin_client.get(f"{DEVICE_CHANGELIST}?{query}").status_code == 400
