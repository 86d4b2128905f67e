"""Delivering the feed to the subscriptions (contract, section 7), in the threads of `manage.py worker`.

Each thread claims a due subscription (webhooks/claims.py), reads the matching events after its position with
the feed's own reading (`events.reading.feed_page`, the same order and the same never-skip guarantee), POSTs them
one by one, and moves the position past those delivered: at least once and in feed order, since the position
only moves after the endpoint said 2xx. A failure stops the subscription at that event, and schedules the next
attempt (`RETRY_SCHEDULE`); the other subscriptions, served by other threads, go on. After
DEVMANAGER_WEBHOOK_GIVE_UP_HOURS of failing, the event is given up and the subscription disabled.

Every change of a subscription's position is a compare-and-set on the position read: a replay or a re-enabling
made through the API while a delivery is under way wins, and the thread starts again from the row.

An idle thread sleeps until an event commits (the feed's LISTEN/NOTIFY, events/waiting.py) or a second passes (a
retry falling due); on SQLite it looks every half second.
"""

import logging
import random
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from devmanager.api.exceptions import Gone
from events.filters import device_q
from events.models import Event, FeedCounter
from events.reading import feed_page, visible_events
from events.waiting import NOTIFIER

from .claims import CLAIMS
from .delivery import Clients, Outcome, post, signature_headers, webhook_id
from .envelope import event_body
from .models import Delivery, DeliveryOutcome, Subscription
from .services import ALL_TYPES, feed_position

RETRY_SCHEDULE = (5, 30, 120, 600, 3600, 6 * 3600)  # seconds before attempt 2, 3, ...; then every 6 h
BATCH = 100  # events read at once for one subscription
CANDIDATES = 200  # due subscriptions looked at per claim (those claimed elsewhere are skipped)
SERVE_SECONDS = 5.0  # how long a thread serves one subscription before it looks at the others again
IDLE_SECONDS = 1.0
SQLITE_POLL_SECONDS = 0.5

logger = logging.getLogger(__name__)


def serve_subscriptions(stopping: threading.Event) -> None:
    """The loop of one delivery thread, until `stopping` is set; what it holds in hand is finished first."""
    with Clients() as clients:
        while not stopping.is_set():
            generation = NOTIFIER.generation
            subscription_id = claim_due()
            if subscription_id is None:
                _idle(generation, stopping)
                continue
            try:
                serve(subscription_id, clients, stopping)
            finally:
                CLAIMS.give_back(subscription_id)


def claim_due():
    """A due subscription (active, behind the feed, no retry pending later) this thread now serves, or None. Retries
    that fell due come first, then the others by how far behind they are."""
    now = timezone.now()
    due = (
        Subscription.objects.filter(active=True, position__lt=feed_position())
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .exclude(pk__in=CLAIMS.held_here())
        .order_by(F("next_attempt_at").asc(nulls_last=True), "position")
        .values_list("pk", flat=True)[:CANDIDATES]
    )
    return next((pk for pk in due if CLAIMS.take(pk)), None)


def serve(subscription_id, clients: Clients, stopping: threading.Event) -> None:
    """Deliver the subscription's events until it is caught up, fails, or has had its `SERVE_SECONDS`."""
    deadline = time.monotonic() + SERVE_SECONDS
    while not stopping.is_set() and time.monotonic() < deadline:
        subscription = Subscription.objects.filter(pk=subscription_id, active=True).first()
        if subscription is None or (subscription.next_attempt_at or timezone.now()) > timezone.now():
            return
        try:
            events, last = feed_page(subscription_condition(subscription), subscription.position, BATCH)
        except Gone:  # the subscription fell behind the feed's retention
            _skip_pruned(subscription)
            continue
        start = subscription.position
        if not deliver_page(subscription, events, last, clients, stopping):
            return
        if not events and subscription.position == start:
            return  # caught up (an empty page that moved on looked at a window of events none of which matched)


def deliver_page(subscription: Subscription, events: list[Event], last: int, clients, stopping) -> bool:
    """POST each event in order; record the delivered ones and the position reached. False when the serving
    should stop (a failure, or the worker stopping). A change through the services (a PATCH, a rotation, a replay,
    a deletion) is looked for before each POST and takes effect at the next event: the page ends there, and the
    serving goes on from the row as it now is."""
    delivered: list[Delivery] = []
    position = subscription.position
    for index, event in enumerate(events):
        if stopping.is_set():
            _advance(subscription, position, delivered)
            return False
        if index and not _unchanged(subscription):
            _advance(subscription, position, delivered)
            return True
        retrying = index == 0 and event.position == subscription.retrying_event  # still the event that failed
        attempt = subscription.attempts + 1 if retrying else 1
        outcome = send(subscription, event, clients)
        if not outcome.succeeded:
            if _advance(subscription, position, delivered):
                _record_failure(subscription, event, outcome, attempt)
            return False
        delivered.append(_delivery(subscription, event, attempt, outcome, DeliveryOutcome.DELIVERED))
        position = event.position
    _advance(subscription, last, delivered)
    return True


def send(subscription: Subscription, event: Event, clients: Clients) -> Outcome:
    body = event_body(event)
    message_id = webhook_id(subscription.pk, event.position)
    return post(clients, subscription.url, body, signature_headers(message_id, body, subscription.secrets()))


def subscription_condition(subscription: Subscription) -> Q:
    """The feed's condition for a subscription's events: its types (names or `prefix*`), its `q`, and the DMSs of
    the key that created it."""
    condition = Q()
    if ALL_TYPES not in subscription.event_types:
        names = [name for name in subscription.event_types if not name.endswith("*")]
        condition = Q(type__in=names) if names else Q(pk__in=[])
        for prefix in (name[:-1] for name in subscription.event_types if name.endswith("*")):
            condition |= Q(type__startswith=prefix)
    if subscription.q:
        condition &= device_q(subscription.q)
    return condition & visible_events(subscription.dms)


def _unchanged(subscription: Subscription) -> bool:
    """No change through the services since the row was read (every one sets `updated_at`)."""
    return Subscription.objects.filter(pk=subscription.pk, updated_at=subscription.updated_at, active=True).exists()


def _advance(subscription: Subscription, position: int, delivered: list[Delivery]) -> bool:
    """Log the deliveries made (they were sent, whatever happened to the row since) and, if the row is still the
    version and position read, move the position; False if it had changed or gone."""
    if position == subscription.position and not delivered:
        return True
    with transaction.atomic():
        current = _lock(subscription)
        if current is None:
            return False
        changes = {}
        if delivered:
            Delivery.objects.bulk_create(delivered)
            changes.update(last_success_at=timezone.now(), delivered_count=F("delivered_count") + len(delivered))
        if current and position != subscription.position:  # a new head event: its own attempts from none
            changes.update(position=position, attempts=0, retrying_event=None, failing_since=None, next_attempt_at=None)
        if changes:
            Subscription.objects.filter(pk=subscription.pk).update(**changes)
    if current:
        subscription.position = position
    return current


def _record_failure(subscription: Subscription, event: Event, outcome: Outcome, attempt: int) -> None:
    """A failed attempt at the head event, logged: the next one scheduled (never after the give-up time), or at
    the give-up time the event given up and the subscription disabled."""
    now = timezone.now()
    failing_since = subscription.failing_since if attempt > 1 and subscription.failing_since else now
    give_up_at = failing_since + timedelta(hours=settings.DEVMANAGER_WEBHOOK_GIVE_UP_HOURS)
    changes = {"last_failure_at": now, "failed_count": F("failed_count") + 1}
    schedule = {}
    if now >= give_up_at:
        next_attempt_at, kind = None, DeliveryOutcome.GIVEN_UP
        schedule = dict(
            position=event.position, active=False, attempts=0, retrying_event=None, failing_since=None,
            next_attempt_at=None,
        )  # fmt: skip
        logger.warning(
            "Webhook %s gave up event %s and is disabled: %s", subscription.pk, event.position, outcome.error
        )
    else:
        next_attempt_at, kind = min(now + retry_delay(attempt), give_up_at), DeliveryOutcome.FAILED
        schedule = dict(
            attempts=attempt, retrying_event=event.position, failing_since=failing_since,
            next_attempt_at=next_attempt_at,
        )  # fmt: skip
    with transaction.atomic():
        current = _lock(subscription)
        if current is None:
            return
        _delivery(subscription, event, attempt, outcome, kind, next_attempt_at).save()
        Subscription.objects.filter(pk=subscription.pk).update(**changes, **(schedule if current else {}))


def _lock(subscription: Subscription) -> bool | None:
    """The subscription's row locked until the transaction ends: None if it is gone, else whether it still has the
    version and position this thread read (a change through the services, or a replay, wins over the worker)."""
    row = Subscription.objects.select_for_update().filter(pk=subscription.pk).values_list("version", "position").first()
    if row is None:
        return None
    return row == (subscription.version, subscription.position)


def retry_delay(attempt: int) -> timedelta:
    """After failed attempt n: about 5 s, 30 s, 2 min, 10 min, 1 h, then every 6 h (a tenth either way, so that
    the subscriptions of one failed endpoint do not all come back at once)."""
    seconds = RETRY_SCHEDULE[min(attempt, len(RETRY_SCHEDULE)) - 1]
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))


def _delivery(subscription, event, attempt: int, outcome: Outcome, kind, next_attempt_at=None) -> Delivery:
    return Delivery(
        subscription=subscription, event_id=event.position, webhook_id=webhook_id(subscription.pk, event.position),
        attempt=attempt, outcome=kind, status_code=outcome.status_code, duration_ms=outcome.duration_ms,
        error=outcome.error, response=outcome.response, next_attempt_at=next_attempt_at,
    )  # fmt: skip


def _skip_pruned(subscription: Subscription) -> None:
    """A subscription left behind the feed's retention resumes at the oldest kept event."""
    pruned_through = FeedCounter.objects.filter(pk=1).values_list("pruned_through", flat=True).first() or 0
    logger.warning("Webhook %s missed events up to %s: pruned before delivery.", subscription.pk, pruned_through)
    Subscription.objects.filter(
        pk=subscription.pk, position=subscription.position, version=subscription.version
    ).update(position=pruned_through, attempts=0, failing_since=None, next_attempt_at=None)


def _idle(generation: int, stopping: threading.Event) -> None:
    if connection.vendor == "postgresql":
        NOTIFIER.wait(generation, IDLE_SECONDS)
    else:
        stopping.wait(SQLITE_POLL_SECONDS)
