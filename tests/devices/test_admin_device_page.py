"""A device's page in the admin: its newest events and its whole history, its buttons (decommission, renew the
identity slot, delete) with their confirmations, rules and permissions, and long ids in the device list."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from devices import services
from devices.admin import RECENT_EVENTS_SHOWN, device_history_url
from devices.choices import DeviceStatus, EventType
from devices.models import Device, DeviceEvent
from devmanager.errors import Conflict
from tests.admin_pages import change_form_data, device_change_url
from tests.factories import DeviceFactory

from .test_admin import messages_of

pytestmark = pytest.mark.django_db

HISTORY = reverse("admin:devices_deviceevent_changelist")


def decommission_url(device_id: str) -> str:
    return reverse("admin:devices_device_decommission", args=[quote(device_id)])


def renew_url(device_id: str) -> str:
    return reverse("admin:devices_device_renew_slot", args=[quote(device_id)])


def delete_url(device_id: str) -> str:
    return reverse("admin:devices_device_delete", args=[quote(device_id)])


def with_slot(device_id: str, status: str = "ACTIVE", version: int = 1) -> Device:
    return services.device_set_identity_slot(
        device_id=device_id, source="test", status=status, active_version=version, type="X509",
        expiration_date=timezone.now() + timedelta(days=10),
    )  # fmt: skip


def with_updates(device_id: str, count: int) -> None:
    """`count` UPDATED events, the alias numbered in order."""
    for number in range(count):
        services.device_update(device_id=device_id, source="test", fields={"alias": f"alias {number}"})


def confirm(client, url: str, **fields):
    """Post the confirmation page as loaded (its ETag), with these fields."""
    form = client.get(url).context["form"]
    return client.post(url, {"etag": form["etag"].value(), **fields})


def events_of(device_id: str) -> list[tuple[str, str]]:
    return list(DeviceEvent.objects.filter(device_id=device_id).order_by("timestamp").values_list("type", "source"))


@pytest.fixture
def viewer(client):
    """A staff user who may view devices, not change or delete them."""
    user = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_device", "view_deviceevent"]))
    client.force_login(user)
    return client


# --- Newest events and the whole history -----------------------------------------------------------------------------


def test_device_page_shows_the_newest_events_only_and_links_to_the_history(admin_client):
    DeviceFactory(id="busy")
    with_updates("busy", 30)

    response = admin_client.get(device_change_url("busy"))

    (events,) = [inline for inline in response.context["inline_admin_formsets"] if inline.formset.prefix == "events"]
    shown = [form.instance.description for form in events.formset.forms]
    assert shown == ["Updated: alias" for _ in range(RECENT_EVENTS_SHOWN)]
    newest = DeviceEvent.objects.filter(device_id="busy").order_by("-timestamp")[:RECENT_EVENTS_SHOWN]
    assert [form.instance.pk for form in events.formset.forms] == [event.pk for event in newest]
    assert device_history_url("busy").replace("&", "&amp;") in response.content.decode()


def test_device_page_post_of_the_page_as_loaded_still_saves_with_a_bounded_history(admin_client):
    DeviceFactory(id="busy", alias="before")
    with_updates("busy", 25)
    data = change_form_data(admin_client, "busy") | {"alias": "after"}

    response = admin_client.post(device_change_url("busy"), data)

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert Device.objects.get(pk="busy").alias == "after"


def test_history_lists_the_device_events_only_newest_first_a_page_at_a_time(
    admin_client, django_assert_max_num_queries
):
    DeviceFactory(id="busy")
    DeviceFactory(id="other")
    with_updates("busy", 60)  # 61 events with CREATED

    with django_assert_max_num_queries(8):  # session, user, device, count, page (+ savepoints)
        first = admin_client.get(device_history_url("busy"))
    second = admin_client.get(device_history_url("busy") + "&p=2")

    listed = [event.pk for page in (first, second) for event in page.context["cl"].result_list]
    expected = DeviceEvent.objects.filter(device_id="busy").order_by("-timestamp")
    assert listed == [event.pk for event in expected]
    assert len(first.context["cl"].result_list) == 50
    assert first.context["title"] == "History of device busy"


def test_history_filters_by_event_type_within_the_device(admin_client):
    DeviceFactory(id="busy")
    with_updates("busy", 3)

    response = admin_client.get(device_history_url("busy") + f"&type__exact={EventType.CREATED}")

    assert [event.type for event in response.context["cl"].result_list] == [EventType.CREATED]


@pytest.mark.parametrize("query", ["", "?device=no-such-device"])
def test_history_without_a_device_leads_to_the_device_list(admin_client, query):
    response = admin_client.get(HISTORY + query)

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:devices_device_changelist")
    assert messages_of(response) == ["A device's history is reached from its page."]


@pytest.mark.parametrize("url", [HISTORY + "?device=a%00b", "/admin/devices/device/a%00b/decommission/"])
def test_a_device_id_with_nul_is_refused_not_a_500(admin_client, url):
    assert admin_client.get(url).status_code in (302, 400, 404)


def test_history_is_readable_by_whoever_may_view_devices(viewer):
    DeviceFactory(id="watched")

    response = viewer.get(device_history_url("watched"))

    assert response.status_code == 200
    assert [event.type for event in response.context["cl"].result_list] == [EventType.CREATED]


# --- Long values in the device list ----------------------------------------------------------------------------------


def test_device_list_cuts_long_ids_and_aliases_with_the_whole_value_on_hover(admin_client):
    long_id, long_alias = "i" * 255, "a" * 255
    DeviceFactory(id=long_id, alias=long_alias)

    content = admin_client.get(reverse("admin:devices_device_changelist")).content.decode()

    assert f'<span class="long-value" title="{long_id}">{long_id}</span>' in content
    assert f'<span class="long-value" title="{long_alias}">{long_alias}</span>' in content
    assert '<th class="field-id">' in content and '<td class="field-alias">' in content
    assert "devices/admin.css" in content


def test_device_list_still_sorts_by_id_through_the_column(admin_client):
    DeviceFactory(id="b-device")
    DeviceFactory(id="a-device")

    response = admin_client.get(reverse("admin:devices_device_changelist") + "?o=1")

    assert [device.pk for device in response.context["cl"].result_list] == ["a-device", "b-device"]


# --- The buttons --------------------------------------------------------------------------------------------------


def buttons(response) -> list[str]:
    return [label for label, _ in response.context["device_buttons"]]


def test_device_page_offers_the_buttons_its_state_allows(admin_client):
    DeviceFactory(id="fresh")
    DeviceFactory(id="provisioned")
    with_slot("provisioned")
    DeviceFactory(id="retired")
    services.device_decommission(device_id="retired", source="test")

    assert buttons(admin_client.get(device_change_url("fresh"))) == ["Decommission", "Delete"]
    assert buttons(admin_client.get(device_change_url("provisioned"))) == [
        "Decommission", "Renew identity slot", "Delete"
    ]  # fmt: skip
    assert buttons(admin_client.get(device_change_url("retired"))) == ["Delete"]


def test_decommission_confirmed_goes_through_the_service_as_the_admin_user(admin_client, admin_user):
    DeviceFactory(id="provisioned")
    with_slot("provisioned")

    page = admin_client.get(decommission_url("provisioned"))
    assert page.status_code == 200
    assert "Decommissioning is final" in page.content.decode()
    assert Device.objects.get(pk="provisioned").status == DeviceStatus.ACTIVE  # the page changes nothing
    response = confirm(admin_client, decommission_url("provisioned"))

    assert response.status_code == 302 and response["Location"] == device_change_url("provisioned")
    assert messages_of(response) == ["Device 'provisioned' was decommissioned."]
    device = Device.objects.get(pk="provisioned")
    assert (device.status, device.identity["status"]) == (DeviceStatus.DECOMMISSIONED, "REVOKED")
    assert events_of("provisioned")[-1] == (EventType.DECOMMISSIONED, admin_user.username)


def test_decommission_of_a_decommissioned_device_says_so_and_records_nothing(admin_client):
    DeviceFactory(id="retired")
    services.device_decommission(device_id="retired", source="test")

    response = admin_client.get(decommission_url("retired"))

    assert response.status_code == 302 and response["Location"] == device_change_url("retired")
    assert messages_of(response) == ["Decommission: nothing to do. Device 'retired' is decommissioned already."]
    assert len(events_of("retired")) == 2


def test_decommission_of_a_device_changed_since_the_confirmation_is_refused(admin_client):
    DeviceFactory(id="moving")
    form = admin_client.get(decommission_url("moving")).context["form"]
    services.device_update(device_id="moving", source="test", fields={"alias": "changed meanwhile"})

    response = admin_client.post(decommission_url("moving"), {"etag": form["etag"].value()})

    assert response.status_code == 302 and response["Location"] == device_change_url("moving")
    assert messages_of(response) == [
        "Decommission: nothing was done. The device changed after the confirmation page was shown: look at it again."
    ]
    assert Device.objects.get(pk="moving").status == DeviceStatus.NO_IDENTITY


def test_renewal_makes_the_next_version_active_with_the_new_expiry(admin_client, admin_user):
    DeviceFactory(id="expiring")
    with_slot("expiring", status="ABOUT_TO_EXPIRE", version=3)

    page = admin_client.get(renew_url("expiring"))
    assert "makes version 4 the active version" in page.content.decode()
    response = confirm(admin_client, renew_url("expiring"), expiration_date="2099-01-31 00:00:00")

    assert messages_of(response) == ["The identity slot of device 'expiring' was renewed."]
    device = Device.objects.get(pk="expiring")
    assert device.status == DeviceStatus.ACTIVE
    assert (device.identity["active_version"], device.identity["status"], device.identity["type"]) == (
        4,
        "ACTIVE",
        "X509",
    )
    assert device.identity_expires_at == datetime(2099, 1, 31, tzinfo=UTC)
    assert events_of("expiring")[-2:] == [
        (EventType.RENEWED, admin_user.username),
        (EventType.STATUS_UPDATED, admin_user.username),
    ]


def test_renewal_with_a_past_expiry_shows_the_error_and_changes_nothing(admin_client):
    DeviceFactory(id="expiring")
    with_slot("expiring")

    response = confirm(admin_client, renew_url("expiring"), expiration_date="2001-01-01 00:00:00")

    assert response.status_code == 200
    assert response.context["form"].errors == {"expiration_date": ["must be in the future"]}
    assert Device.objects.get(pk="expiring").identity["active_version"] == 1


def test_renewal_of_a_device_without_a_slot_is_refused_before_and_after_the_confirmation(admin_client):
    device = DeviceFactory(id="bare")

    shown = admin_client.get(renew_url("bare"))
    posted = admin_client.post(renew_url("bare"), {"etag": device.etag})

    assert messages_of(shown) == ["Renew identity slot: nothing to do. Device 'bare' has no identity slot to renew."]
    assert (
        messages_of(posted)[-1] == "Renew identity slot: nothing was done. Device 'bare' has no identity slot to renew."
    )
    assert Device.objects.get(pk="bare").identity is None


def test_renewal_of_a_device_decommissioned_meanwhile_is_refused_by_the_service(admin_client):
    DeviceFactory(id="provisioned")
    with_slot("provisioned")
    services.device_decommission(device_id="provisioned", source="test")
    etag = Device.objects.get(pk="provisioned").etag  # as if the page had been loaded just now

    response = admin_client.post(renew_url("provisioned"), {"etag": etag})

    assert response.status_code == 302
    assert messages_of(response) == [
        "Renew identity slot: nothing was done. "
        "Device 'provisioned' is decommissioned; its identity slot can no longer change."
    ]
    assert Device.objects.get(pk="provisioned").identity["active_version"] == 1


def test_renew_service_refuses_a_device_without_a_slot():
    DeviceFactory(id="bare")

    with pytest.raises(Conflict, match="no identity slot to renew"):
        services.device_renew_identity_slot(device_id="bare", source="test")


def test_delete_of_a_device_not_decommissioned_is_refused_with_the_rule(admin_client):
    DeviceFactory(id="live-one")

    shown = admin_client.get(delete_url("live-one"))
    posted = admin_client.post(delete_url("live-one"), {"post": "yes"})

    for response in (shown, posted):
        assert response.status_code == 302 and response["Location"] == device_change_url("live-one")
    assert messages_of(posted)[-1] == (
        "Not deleted: Device 'live-one' is NO_IDENTITY; decommission it first or delete with force."
    )
    assert Device.objects.filter(pk="live-one").exists()


def test_delete_confirmation_counts_the_history_rather_than_listing_it(admin_client, django_assert_max_num_queries):
    DeviceFactory(id="retired")
    with_updates("retired", 30)
    services.device_decommission(device_id="retired", source="test")

    with django_assert_max_num_queries(15):
        response = admin_client.get(delete_url("retired"))

    assert response.status_code == 200
    assert dict(response.context["model_count"]) == {"device events": 32}
    assert "Updated: alias" not in response.content.decode()


def test_delete_confirmed_deletes_through_the_service(admin_client):
    DeviceFactory(id="retired")
    services.device_decommission(device_id="retired", source="test")

    response = admin_client.post(delete_url("retired"), {"post": "yes"})

    assert response.status_code == 302
    assert not Device.objects.filter(pk="retired").exists()


@pytest.mark.parametrize("url", [decommission_url, renew_url, delete_url])
def test_buttons_need_the_permission(viewer, url):
    DeviceFactory(id="provisioned")
    with_slot("provisioned")
    services.device_update(device_id="provisioned", source="test", fields={"alias": "kept"})
    etag = Device.objects.get(pk="provisioned").etag

    assert viewer.get(url("provisioned")).status_code == 403
    assert viewer.post(url("provisioned"), {"etag": etag, "post": "yes"}).status_code == 403
    assert viewer.get(device_change_url("provisioned")).context["device_buttons"] == []
    device = Device.objects.get(pk="provisioned")
    assert (device.status, device.identity["active_version"]) == (DeviceStatus.ACTIVE, 1)


def test_buttons_of_a_missing_device_lead_back_to_the_admin(admin_client):
    for url in (decommission_url, renew_url):
        response = admin_client.post(url("gone"), {"etag": '"1-0"'})
        assert response.status_code == 302
        assert not Device.objects.filter(pk="gone").exists()


def test_renew_service_locks_the_device_once():
    DeviceFactory(id="provisioned")
    with_slot("provisioned")

    with CaptureQueriesContext(connection) as queries:
        services.device_renew_identity_slot(device_id="provisioned", source="test")

    assert Device.objects.get(pk="provisioned").identity["active_version"] == 2
    locks = sum("FOR UPDATE" in query["sql"] for query in queries.captured_queries)
    assert locks == (1 if connection.features.has_select_for_update else 0)


def test_the_device_page_reads_the_device_once(admin_client):
    DeviceFactory(id="provisioned")
    with_slot("provisioned")
    admin_client.get(device_change_url("provisioned"))  # the session's first request of a minute writes its use

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(device_change_url("provisioned"))

    assert buttons(page) == ["Decommission", "Renew identity slot", "Delete"]
    device_reads = [query["sql"] for query in queries.captured_queries if 'FROM "devices_device"' in query["sql"]]
    assert len(device_reads) == 1, device_reads
