"""The admin's device change page: metadata edited as JSON through the service, identity slot and history shown."""

import html
import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from devices import services
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from tests.admin_pages import change_form_data, device_change_url
from tests.conftest import API
from tests.factories import DeviceFactory
from tests.helpers import device_snapshot

pytestmark = pytest.mark.django_db

DEVICE_CHANGELIST = reverse("admin:devices_device_changelist")
METADATA_LIMIT = 64 * 1024


def save_metadata(client, device_id: str, text: str, **extra):
    return client.post(
        device_change_url(device_id), {**change_form_data(client, device_id), "metadata_json": text, **extra}
    )


def textarea_text(response) -> str:
    """The metadata textarea's text as a browser reads it from the page (one leading newline dropped)."""
    content = response.content.decode()
    textarea = content[content.index('<textarea name="metadata_json"') :]
    textarea = textarea[textarea.index(">") + 1 : textarea.index("</textarea>")]
    return html.unescape(textarea).removeprefix("\n")


def form_errors(response) -> dict:
    assert response.status_code == 200, "the form was accepted"
    return response.context["adminform"].form.errors


def readonly_contents(response, name: str) -> str:
    """The rendered value of one read-only field of the change page."""
    for fieldset in response.context["adminform"]:
        for line in fieldset:
            for field in line:
                if field.field["name"] == name:
                    return field.contents()
    raise AssertionError(f"no read-only field {name!r} on the page")


def with_identity(device: Device) -> Device:
    services.device_set_identity_slot(
        device_id=device.pk,
        source="ops-key",
        status="ACTIVE",
        active_version=3,
        type="X509",
        versions={"3": {"serial": "0A:1B:2C"}},
        expiration_date=datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC),
    )
    return Device.objects.get(pk=device.pk)


# --- The change page ------------------------------------------------------------------------------------------


def test_change_page_shows_metadata_as_json_in_textarea(admin_client):
    metadata = {"location": "warehouse-a", "floor": 2, "sensors": [{"type": "temp", "ok": True}], "note": None}
    DeviceFactory(id="watched", metadata=metadata)

    response = admin_client.get(device_change_url("watched"))

    assert response.status_code == 200
    shown = response.context["adminform"].form["metadata_json"].value()
    assert json.loads(shown) == metadata
    # Indented, in the order the database keeps the keys (PostgreSQL's jsonb reorders them).
    assert shown == json.dumps(Device.objects.get(pk="watched").metadata, indent=2)
    assert json.loads(textarea_text(response)) == metadata


def test_change_page_shows_metadata_unicode_unescaped(admin_client):
    DeviceFactory(id="watched", metadata={"ort": "Gerätehaus <Süd>"})

    response = admin_client.get(device_change_url("watched"))

    assert "Gerätehaus &lt;Süd&gt;" in response.content.decode()


def test_change_page_metadata_with_markup_round_trips_unchanged(admin_client):
    metadata = {"note": "</textarea><script>alert(1)</script>", "amp": "&lt; & <", "quote": "\"'"}
    DeviceFactory(id="watched", metadata=metadata)
    before = device_snapshot("watched")

    page = admin_client.get(device_change_url("watched"))
    assert "<script>alert(1)" not in page.content.decode()
    response = save_metadata(admin_client, "watched", textarea_text(page))

    assert response.status_code == 302
    assert device_snapshot("watched") == before


def test_change_page_empty_metadata_shown_as_empty_object(admin_client):
    DeviceFactory(id="watched", metadata={})

    response = admin_client.get(device_change_url("watched"))

    assert response.context["adminform"].form["metadata_json"].value() == "{}"


def test_change_page_shows_identity_slot(admin_client):
    device = with_identity(DeviceFactory(id="watched"))

    response = admin_client.get(device_change_url("watched"))

    content = response.content.decode()
    assert "Identity slot" in content
    shown = html.unescape(content)
    assert json.dumps(device.identity, indent=2) in shown
    assert '"expiration_date": "2031-05-04T03:02:01.000000Z"' in shown
    assert '"serial": "0A:1B:2C"' in shown


def test_change_page_without_identity_slot_shows_placeholder(admin_client):
    DeviceFactory(id="watched")

    response = admin_client.get(device_change_url("watched"))

    assert readonly_contents(response, "identity_slot") == "-"


def test_change_page_shows_events_newest_first(admin_client):
    device = with_identity(DeviceFactory(id="watched"))
    services.device_replace_metadata(device_id=device.pk, metadata={"floor": 9}, source="night-shift")

    response = admin_client.get(device_change_url("watched"))

    content = response.content.decode()
    (events_formset,) = [
        inline for inline in response.context["inline_admin_formsets"] if inline.formset.prefix == "events"
    ]
    shown = [form.instance.type for form in events_formset.formset.forms]
    assert shown == ["METADATA-UPDATED", "STATUS-UPDATED", "PROVISIONED", "CREATED"]
    descriptions = [
        "Metadata replaced",
        "Status changed from NO_IDENTITY to ACTIVE",
        "Identity slot provisioned (X509, version 3)",
        "Device created",
    ]
    positions = [content.index(description) for description in descriptions]
    assert positions == sorted(positions)
    assert "night-shift" in content and "ops-key" in content
    assert 'name="events-0-description"' not in content


# --- Saving the metadata --------------------------------------------------------------------------------------


def test_save_valid_json_replaces_metadata_through_service(admin_client, admin_user):
    device = DeviceFactory(id="watched", metadata={"location": "warehouse-a", "floor": 2})
    before = Device.objects.get(pk="watched")

    response = save_metadata(admin_client, "watched", '{"location": "warehouse-b", "racks": [1, 2, null]}')

    assert response.status_code == 302
    assert response["Location"] == DEVICE_CHANGELIST
    after = Device.objects.get(pk="watched")
    assert after.metadata == {"location": "warehouse-b", "racks": [1, 2, None]}  # replaced, not merged
    assert after.version == before.version + 1
    assert after.updated_timestamp > before.updated_timestamp
    event = DeviceEvent.objects.filter(device=device).order_by("-timestamp").first()
    assert (event.type, event.source, event.description) == (
        EventType.METADATA_UPDATED,
        admin_user.get_username(),
        "Metadata replaced",
    )
    assert DeviceEvent.objects.filter(device=device, type=EventType.METADATA_UPDATED).count() == 1


def test_save_leaves_what_the_page_does_not_edit_alone(admin_client):
    device = with_identity(DeviceFactory(id="watched", alias="Original", tags=["a", "b"]))

    response = save_metadata(admin_client, "watched", '{"new": true}', status="REVOKED", tags="x", slots="{}")

    assert response.status_code == 302
    after = Device.objects.get(pk="watched")
    assert (after.alias, after.tags, after.dms_owner) == (device.alias, device.tags, device.dms_owner)
    assert (after.status, after.slots, after.identity_expires_at) == (
        device.status,
        device.slots,
        device.identity_expires_at,
    )
    assert after.metadata == {"new": True}


def test_save_shown_by_api_with_new_etag(admin_client, api_client):
    DeviceFactory(id="watched", metadata={"floor": 2})
    etag = api_client.get(f"{API}/devices/watched")["ETag"]

    save_metadata(admin_client, "watched", '{"floor": 3}')

    response = api_client.get(f"{API}/devices/watched")
    assert response.json()["metadata"] == {"floor": 3}
    assert response["ETag"] != etag
    newest = api_client.get(f"{API}/devices/watched/events").json()["list"][0]
    assert (newest["type"], newest["source"]) == ("METADATA-UPDATED", "admin")


def test_save_empty_object_clears_metadata(admin_client):
    DeviceFactory(id="watched", metadata={"floor": 2})

    response = save_metadata(admin_client, "watched", "{}")

    assert response.status_code == 302
    assert Device.objects.get(pk="watched").metadata == {}


def test_save_continue_editing_shows_new_metadata(admin_client):
    DeviceFactory(id="watched", metadata={"floor": 2})

    response = save_metadata(admin_client, "watched", '{"floor": 4}', _continue="Save and continue editing")

    assert response.status_code == 302
    page = admin_client.get(response["Location"])
    assert json.loads(page.context["adminform"].form["metadata_json"].value()) == {"floor": 4}


def test_save_metadata_at_size_limit_accepted(admin_client):
    DeviceFactory(id="watched")
    padding = "x" * (METADATA_LIMIT - len('{"blob":""}'))
    # Pretty-printed, the text is over the limit; the limit applies to the metadata itself, as in the API.
    text = json.dumps({"blob": padding}, indent=4)

    response = save_metadata(admin_client, "watched", text)

    assert response.status_code == 302
    assert Device.objects.get(pk="watched").metadata == {"blob": padding}


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "{'single': 'quotes'}",
        '{"trailing": "comma",}',
        '{"a": 1} {"b": 2}',
        '{"a": NaN}',  # accepted by Python's json module, but not JSON
        '{"a": Infinity}',
        '{"a": -Infinity}',
        "[" * 100_000 + "]" * 100_000,  # deeper than the parser's recursion allows
        '{"a": ' * 50_000 + "1" + "}" * 50_000,
    ],
)
def test_save_invalid_json_shows_error_changes_nothing(admin_client, text):
    DeviceFactory(id="watched", metadata={"floor": 2})
    before = device_snapshot("watched")

    response = save_metadata(admin_client, "watched", text)

    assert "Invalid JSON" in " ".join(form_errors(response)["metadata_json"])
    assert device_snapshot("watched") == before


def test_save_blank_metadata_shows_error_changes_nothing(admin_client):
    DeviceFactory(id="watched", metadata={"floor": 2})
    before = device_snapshot("watched")

    response = save_metadata(admin_client, "watched", "   ")

    assert form_errors(response)["metadata_json"]
    assert device_snapshot("watched") == before


@pytest.mark.parametrize("text", ['["not", "an", "object"]', "[]", '"text"', "42", "true", "null"])
def test_save_json_not_an_object_shows_error_changes_nothing(admin_client, text):
    DeviceFactory(id="watched", metadata={"floor": 2})
    before = device_snapshot("watched")

    response = save_metadata(admin_client, "watched", text)

    assert form_errors(response)["metadata_json"] == ["must be a JSON object"]
    assert device_snapshot("watched") == before


def test_save_metadata_over_64_kib_shows_error_changes_nothing(admin_client):
    DeviceFactory(id="watched", metadata={"floor": 2})
    before = device_snapshot("watched")
    text = json.dumps({"blob": "x" * METADATA_LIMIT})

    response = save_metadata(admin_client, "watched", text)

    assert form_errors(response)["metadata_json"] == [f"exceeds {METADATA_LIMIT} bytes once serialised"]
    assert device_snapshot("watched") == before


def test_save_metadata_just_over_limit_shows_error(admin_client):
    DeviceFactory(id="watched")
    padding = "x" * (METADATA_LIMIT - len('{"blob":""}') + 1)

    response = save_metadata(admin_client, "watched", json.dumps({"blob": padding}))

    assert "metadata_json" in form_errors(response)
    assert Device.objects.get(pk="watched").metadata == {"location": "warehouse-a"}


def test_save_metadata_nested_too_deep_shows_error_changes_nothing(admin_client):
    DeviceFactory(id="watched", metadata={"floor": 2})
    before = device_snapshot("watched")

    response = save_metadata(admin_client, "watched", '{"a": ' * 101 + "1" + "}" * 101)

    assert form_errors(response)["metadata_json"] == ["nests deeper than 100 levels"]
    assert device_snapshot("watched") == before


def test_save_error_keeps_submitted_text_on_page(admin_client):
    DeviceFactory(id="watched", metadata={"floor": 2})

    response = save_metadata(admin_client, "watched", '{"floor": 3,,}')

    assert response.context["adminform"].form["metadata_json"].value() == '{"floor": 3,,}'


def test_save_unchanged_json_records_no_event(admin_client):
    DeviceFactory(id="watched", metadata={"location": "warehouse-a", "floor": 2})
    before = device_snapshot("watched")

    response = admin_client.post(device_change_url("watched"), change_form_data(admin_client, "watched"))

    assert response.status_code == 302
    assert device_snapshot("watched") == before


def test_save_same_json_differently_written_records_no_event(admin_client):
    DeviceFactory(id="watched", metadata={"location": "warehouse-a", "floor": 2})
    before = device_snapshot("watched")

    response = save_metadata(admin_client, "watched", '{ "floor":2,\n"location" : "warehouse-a" }')

    assert response.status_code == 302
    assert device_snapshot("watched") == before


def test_save_number_type_change_is_a_change(admin_client):
    DeviceFactory(id="watched", metadata={"floor": 2})

    save_metadata(admin_client, "watched", '{"floor": 2.0}')

    assert DeviceEvent.objects.filter(device_id="watched", type=EventType.METADATA_UPDATED).count() == 1


def test_save_decommissioned_device_metadata_still_editable(admin_client, admin_user):
    device = with_identity(DeviceFactory(id="retired", metadata={"floor": 2}))
    services.device_decommission(device_id=device.pk, source="ops-key")

    response = save_metadata(admin_client, "retired", '{"floor": 2, "archived": true}')

    assert response.status_code == 302
    after = Device.objects.get(pk="retired")
    assert after.metadata == {"floor": 2, "archived": True}
    assert after.status == DeviceStatus.DECOMMISSIONED
    assert after.slots["default"]["status"] == "REVOKED"
    event = DeviceEvent.objects.filter(device=device).order_by("-timestamp").first()
    assert (event.type, event.source) == (EventType.METADATA_UPDATED, admin_user.get_username())


def test_save_device_with_unusual_id(admin_client):
    DeviceFactory(id="Gerät 100% #1_x", metadata={})

    response = save_metadata(admin_client, "Gerät 100% #1_x", '{"ok": 1}')

    assert response.status_code == 302
    assert Device.objects.get(pk="Gerät 100% #1_x").metadata == {"ok": 1}


def test_save_event_after_events_recorded_in_future(admin_client):
    device = DeviceFactory(id="watched")
    future = DeviceEvent.objects.get(device=device).timestamp.replace(year=2099)
    DeviceEvent.objects.filter(device=device).update(timestamp=future)

    save_metadata(admin_client, "watched", '{"floor": 5}')

    newest = DeviceEvent.objects.filter(device=device).order_by("-timestamp").first()
    assert newest.type == EventType.METADATA_UPDATED
    assert (newest.timestamp - future).total_seconds() * 1_000_000 == 1


# --- Who may save ---------------------------------------------------------------------------------------------


def test_save_without_login_redirects_changes_nothing(client):
    DeviceFactory(id="watched", metadata={"floor": 2})
    before = device_snapshot("watched")

    response = client.post(device_change_url("watched"), {"metadata_json": "{}", "_save": "Save"})

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    assert device_snapshot("watched") == before


def test_save_by_view_only_staff_forbidden_changes_nothing(client):
    DeviceFactory(id="watched", metadata={"floor": 2})
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_device"))
    client.force_login(viewer)
    before = device_snapshot("watched")

    page = client.get(device_change_url("watched"))
    response = client.post(device_change_url("watched"), {"metadata_json": "{}", "_save": "Save"})

    assert page.status_code == 200
    assert 'name="metadata_json"' not in page.content.decode()
    assert response.status_code == 403
    assert device_snapshot("watched") == before


# --- The add form parses metadata the same way ----------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', "[" * 100_000 + "]" * 100_000])
def test_add_form_metadata_not_json_shows_error_creates_nothing(admin_client, text):
    response = admin_client.post(
        reverse("admin:devices_device_add"), {"id": "admin-made", "metadata_text": text, "_save": "Save"}
    )

    assert "Invalid JSON" in " ".join(form_errors(response)["metadata_text"])
    assert not Device.objects.exists()
    assert not DeviceEvent.objects.exists()
