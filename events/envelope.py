"""An event as it leaves the service: a CloudEvents 1.0 object (the CNCF SDK's), with the `actor` extension."""

from urllib.parse import quote

from cloudevents.core.v1.event import CloudEvent

from devmanager.strictjson import StoredJSON
from devmanager.timestamps import format_timestamp

from .models import Event

API_PREFIX = "/api/devmanager/v1"


def cloud_event(event: Event) -> CloudEvent:
    """The event's CloudEvent, its data left out (the feed writes the stored text as it is)."""
    attributes = {
        "id": str(event.position),
        "type": event.type,
        "source": event_source(event),
        "subject": event.subject,
        "time": event.time,
        "datacontenttype": "application/json",
        "actor": event.actor,
    }
    return CloudEvent(attributes)


def event_object(event: Event) -> dict:
    """The event as the feed lists it (JSON structured mode); its data written out as stored, not decoded."""
    attributes = cloud_event(event).get_attributes()
    return {**attributes, "time": format_timestamp(event.time), "data": StoredJSON(event.data)}


def event_source(event: Event) -> str:
    """The resource the event is about: the device's path, or the group's."""
    collection = "device-groups" if event.type.startswith("group.") else "devices"
    return f"{API_PREFIX}/{collection}/{quote(event.subject, safe='')}"
