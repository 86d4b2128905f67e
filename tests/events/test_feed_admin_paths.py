"""Every admin path that changes a device, its adapters or the groups records its events, with the staff user as
the actor (contract, section 7: `admin:<username>`)."""

import pytest
from django.urls import reverse

from events.models import Event
from groups.models import DeviceGroup
from tests.admin_pages import change_form_data, device_change_url
from tests.factories import DeviceFactory, DeviceGroupFactory
from tests.fleet.admin_actions import start_action
from tests.fleet.helpers import run_jobs

pytestmark = pytest.mark.django_db

IMEI = "490154203237518"


@pytest.fixture
def actor(admin_user) -> str:
    return f"admin:{admin_user.get_username()}"


def recorded(after: int = 0) -> list[tuple[str, str, str]]:
    return list(Event.objects.filter(position__gt=after).order_by("position").values_list("type", "subject", "actor"))


def last_position() -> int:
    return Event.objects.order_by("-position").values_list("position", flat=True).first() or 0


def test_metadata_edited_in_the_admin(admin_client, actor):
    DeviceFactory(id="d-1", metadata={"a": 1})
    before = last_position()

    response = admin_client.post(device_change_url("d-1"), {**change_form_data(admin_client, "d-1"),
                                                             "metadata_json": '{"a": 2}'})  # fmt: skip

    assert response.status_code == 302
    assert recorded(before) == [("device.metadata.updated", "d-1", actor)]


def test_adapter_added_in_the_admin(admin_client, actor):
    DeviceFactory(id="d-1")
    before = last_position()
    data = change_form_data(admin_client, "d-1")
    index = int(data["adapters-TOTAL_FORMS"])
    data.update({f"adapters-{index}-type": "cellular", f"adapters-{index}-imei": IMEI,
                 f"adapters-{index}-device": "d-1", "adapters-TOTAL_FORMS": str(index + 1)})  # fmt: skip

    assert admin_client.post(device_change_url("d-1"), data).status_code == 302

    assert recorded(before) == [("device.adapter.added", "d-1", actor)]


def test_decommission_action_in_the_admin(admin_client, actor):
    DeviceFactory(id="d-1")
    before = last_position()

    start_action(admin_client, "decommission", ["d-1"])
    run_jobs()

    assert recorded(before) == [("device.status.updated", "d-1", actor), ("device.decommissioned", "d-1", actor)]


def test_group_added_changed_and_deleted_in_the_admin(admin_client, actor):
    form = {"name": "Sensors", "description": "", "parent": "", "criteria_json": "[]", "q": "", "_save": "Save"}
    assert admin_client.post(reverse("admin:groups_devicegroup_add"), form).status_code == 302
    group = DeviceGroup.objects.get(name="Sensors")
    change = reverse("admin:groups_devicegroup_change", args=[group.pk])
    assert admin_client.post(change, {**form, "description": "all sensors"}).status_code == 302
    delete = reverse("admin:groups_devicegroup_delete", args=[group.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302

    subject = str(group.pk)
    assert recorded() == [("group.created", subject, actor), ("group.updated", subject, actor),
                          ("group.deleted", subject, actor)]  # fmt: skip


def test_group_moved_by_drag_and_drop(admin_client, actor):
    parent, other = DeviceGroupFactory(name="Parent"), DeviceGroupFactory(name="Other")
    before = last_position()
    data = {"cmd": "move_node", "cut_item": str(other.pk), "pasted_on": str(parent.pk), "position": "last-child"}

    admin_client.post(reverse("admin:groups_devicegroup_changelist"), data)

    (event,) = Event.objects.filter(position__gt=before)
    assert (event.type, event.subject, event.actor) == ("group.updated", str(other.pk), actor)


def test_a_devices_page_lists_its_events_in_the_feed_with_links(admin_client, api_client):
    DeviceFactory(id="d-1", metadata={"a": 1})
    api_client.put("/api/devmanager/v1/devices/d-1/metadata", {"metadata": {"a": 2}}, format="json")
    _, updated = Event.objects.filter(subject="d-1").order_by("position")

    page = admin_client.get(device_change_url("d-1")).content.decode()

    assert "In the fleet feed" in page
    assert page.index("device.metadata.updated") < page.index("device.created")  # newest first
    assert f'href="/api/devmanager/v1/events?after={updated.position - 1}"' in page
    assert "events?filter=subject%5Beq%5D%3Ad-1" in page
    assert admin_client.get(f"/api/devmanager/v1/events?after={updated.position - 1}").json()["list"][0]["id"] == str(
        updated.position
    )
