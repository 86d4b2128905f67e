"""The body of a delivery: the event as the feed lists it, a CloudEvent in JSON structured mode."""

from django.utils import timezone

from devmanager.api.renderers import JSONRenderer
from devmanager.timestamps import format_timestamp
from events.envelope import API_PREFIX, event_object
from events.models import Event

TEST_TYPE = "webhook.test"


def event_body(event: Event) -> bytes:
    return JSONRenderer().render(event_object(event))


def test_event_body(subscription, message_id: str) -> bytes:
    """A `webhook.test` CloudEvent about the subscription itself: no change of the fleet, not in the feed."""
    return JSONRenderer().render(
        {
            "specversion": "1.0",
            "id": message_id,
            "type": TEST_TYPE,
            "source": f"{API_PREFIX}/webhooks/{subscription.pk}",
            "subject": str(subscription.pk),
            "time": format_timestamp(timezone.now()),
            "datacontenttype": "application/json",
            "data": {"webhook": {"id": str(subscription.pk), "url": subscription.url}},
        }
    )
