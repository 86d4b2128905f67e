"""The feed as Server-Sent Events (`Accept: text/event-stream`, contract section 7).

A stream sends each event as `id:`, `event:` and `data:` lines, a comment line when `HEARTBEAT_SECONDS` pass with
nothing to send, and ends after `DEVMANAGER_SSE_MAX_SECONDS` (the client reconnects with `Last-Event-ID`). Between
pages it waits as long polling does (events/waiting.py): no database connection held. Each stream holds a server
thread for its whole life, so a process serves at most `DEVMANAGER_SSE_MAX_STREAMS` at once; one more is a 429.
"""

import threading
import time

from django.conf import settings
from django.http import StreamingHttpResponse

from devmanager.api.renderers import JSONRenderer

from ..envelope import event_object

HEARTBEAT_SECONDS = 15
PAGE = 100


class StreamSlots:
    """The streams this process serves at once, at most `DEVMANAGER_SSE_MAX_STREAMS`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open = 0

    def take(self) -> bool:
        with self.lock:
            if self.open >= settings.DEVMANAGER_SSE_MAX_STREAMS:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self.lock:
            self.open -= 1


SLOTS = StreamSlots()


def event_stream(page, after: int | None) -> StreamingHttpResponse:
    """A stream of the events `page(after, size, timeout)` gives (reading.wait_for_page), from after `after` (None:
    the oldest kept); the caller has taken a slot."""
    response = StreamingHttpResponse(_messages(page, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies pass each message on at once
    return response


def _messages(page, after: int | None):
    renderer = JSONRenderer()
    deadline = time.monotonic() + settings.DEVMANAGER_SSE_MAX_SECONDS
    try:
        yield ": the fleet feed\n\n"
        while (remaining := deadline - time.monotonic()) > 0:
            events, after = page(after, PAGE, min(HEARTBEAT_SECONDS, remaining))
            for event in events:
                data = renderer.render(event_object(event)).decode()
                yield f"id: {event.position}\nevent: {event.type}\ndata: {data}\n\n"
            if not events:
                yield ": still here\n\n"
    finally:
        SLOTS.give_back()
