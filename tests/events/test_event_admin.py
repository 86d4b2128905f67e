"""The feed's read-only admin list, which the dashboard's event counts link to: filtered by type and UTC day."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from events.models import Event
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

EVENTS = reverse("admin:events_event_changelist")


@pytest.fixture
def feed():
    for index in range(3):
        DeviceFactory(id=f"device-{index}")
    Event.objects.filter(subject="device-0").update(time=timezone.now() - timedelta(days=2))


def listed(admin_client, **params) -> list[str]:
    response = admin_client.get(EVENTS, params)
    assert response.status_code == 200
    return [event.subject for event in response.context["cl"].result_list]


def test_event_list_is_newest_first(admin_client, feed):
    assert listed(admin_client) == ["device-2", "device-1", "device-0"]


def test_event_list_filters_by_type_and_day(admin_client, feed):
    today = timezone.now().date()

    assert listed(admin_client, type="device.created", day=today.isoformat()) == ["device-2", "device-1"]
    assert listed(admin_client, day=(today - timedelta(days=2)).isoformat()) == ["device-0"]
    assert listed(admin_client, type="device.deleted") == []


def test_event_list_offers_the_feeds_types(admin_client, feed):
    DeviceFactory(id="device-3")
    Event.objects.filter(subject="device-3").update(type="device.updated")

    response = admin_client.get(EVENTS)

    spec = next(spec for spec in response.context["cl"].filter_specs if spec.parameter_name == "type")
    assert [value for value, _ in spec.lookup_choices] == ["device.created", "device.updated"]


def test_event_list_with_a_bad_day_lists_nothing(admin_client, feed):
    assert listed(admin_client, day="2026-02-30") == []


def test_event_list_is_read_only(admin_client, feed):
    event = Event.objects.first()

    assert admin_client.get(reverse("admin:events_event_add")).status_code == 403
    response = admin_client.post(reverse("admin:events_event_change", args=[event.pk]), {"type": "x"})
    assert response.status_code == 403
    assert Event.objects.get(pk=event.pk).type == "device.created"


def test_a_long_subject_is_cut_short_with_the_whole_value_on_hover(admin_client):
    long_id = "d" * 255
    DeviceFactory(id=long_id)

    page = admin_client.get(reverse("admin:events_event_changelist"))

    assert f'<span class="long-value" title="{long_id}">'.encode() in page.content
    assert b"devices/admin.css" in page.content
