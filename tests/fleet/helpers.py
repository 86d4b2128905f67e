"""Fleet actions in tests: the request, and the worker's loop run here until no job is left."""

import threading

import orjson

from devices import services
from devices.models import DeviceEvent
from events.models import Event
from fleet.jobs import work_once
from tests.conftest import API

ACTIONS = f"{API}/device-actions"


def act(client, action: str, params=None, *, dry_run: bool = False, confirmation: str = "", **selection):
    body = {"action": action, "dry_run": dry_run, **selection}
    if params is not None:
        body["params"] = params
    if confirmation:
        body["confirmation"] = confirmation
    return client.post(ACTIONS, body, format="json")


def act_confirmed(client, action: str, params=None, **selection):
    """A dry run, then the action with its confirmation: the job's answer."""
    dry = act(client, action, params, dry_run=True, **selection)
    assert dry.status_code == 200, dry.content
    return act(client, action, params, confirmation=dry.json()["confirmation"], **selection)


def run_jobs(token: str = "test-worker") -> None:
    """What a worker does, in one thread: resolve each waiting job's selection and run its parts to their end."""
    while work_once(token, threading.Event()):
        pass


def make_devices(count: int, prefix: str = "d", **fields) -> list[str]:
    ids = [f"{prefix}-{index:03d}" for index in range(count)]
    for device_id in ids:
        services.device_create(id=device_id, source="test", **fields)
    return ids


def history(device_id: str) -> list[tuple[str, str, str]]:
    events = DeviceEvent.objects.filter(device_id=device_id).order_by("timestamp")
    return [(event.type, event.description, event.source) for event in events]


def feed_after(position: int) -> list[tuple[str, str, str, dict]]:
    events = Event.objects.filter(position__gt=position).order_by("position")
    return [(event.type, event.subject, event.actor, orjson.loads(event.data)) for event in events]


def last_position() -> int:
    return Event.objects.order_by("-position").values_list("position", flat=True).first() or 0
