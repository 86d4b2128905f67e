"""Retention (contract, section 7): `prune_events` removes the feed's oldest events; a position before the oldest
kept one is a 410 `gone`; a walk from the start begins at the oldest kept event."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from events.models import Event
from events.pruning import prune_events
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

EVENTS = f"{API}/events"


@pytest.fixture
def old_and_new():
    for index in range(5):
        DeviceFactory(id=f"old-{index}")
    Event.objects.update(time=timezone.now() - timedelta(days=100))
    for index in range(2):
        DeviceFactory(id=f"new-{index}")
    return list(Event.objects.order_by("position").values_list("position", flat=True))


def test_prune_events_removes_what_is_older_than_the_retention(old_and_new):
    out = io.StringIO()

    call_command("prune_events", stdout=out)

    assert list(Event.objects.values_list("subject", flat=True).order_by("position")) == ["new-0", "new-1"]
    assert "Removed 5 event(s)" in out.getvalue()


def test_prune_in_small_batches(old_and_new):
    assert prune_events(timezone.now() - timedelta(days=90), batch=2) == 5
    assert Event.objects.count() == 2


def test_a_position_before_the_oldest_kept_is_gone(api_client, old_and_new):
    first_page = api_client.get(EVENTS, {"page_size": 2}).json()
    call_command("prune_events", stdout=io.StringIO())

    assert_error(api_client.get(EVENTS, {"bookmark": first_page["next"]}), 410, "gone")
    assert_error(api_client.get(EVENTS, {"after": str(old_and_new[0])}), 410, "gone")
    fresh = api_client.get(EVENTS).json()["list"]
    assert [event["subject"] for event in fresh] == ["new-0", "new-1"]
    after_last_pruned = api_client.get(EVENTS, {"after": str(old_and_new[4])}).json()["list"]
    assert [event["subject"] for event in after_last_pruned] == ["new-0", "new-1"]


def test_nothing_to_prune(old_and_new):
    assert prune_events(timezone.now() - timedelta(days=1000)) == 0
    assert Event.objects.count() == 7


def test_negative_days_refused():
    with pytest.raises(CommandError):
        call_command("prune_events", days=-1, stdout=io.StringIO())
