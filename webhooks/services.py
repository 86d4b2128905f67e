"""The writes of webhook subscriptions: the API and the admin call these, and nothing else changes a subscription
but the worker's own bookkeeping (webhooks/worker.py)."""

import base64
import secrets
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from devmanager import errors
from devmanager.access import visible_dms_list
from devmanager.api.filtering.expression import ExpressionError
from events.filters import normalise_device_q
from events.models import FeedCounter

from .delivery import Clients, Outcome, post, signature_headers
from .destinations import RefusedDestination, resolve
from .envelope import test_event_body
from .models import EVENT_TYPES, Subscription

SECRET_PREFIX = "whsec_"
SECRET_OVERLAP = timedelta(hours=24)
MAX_EVENT_TYPES = 50
ALL_TYPES = "*"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def subscription_create(
    *, url: str, description: str = "", event_types: list[str] | None = None, q: str = "", active: bool = True
) -> Subscription:
    """A subscription to the events committed from now on; its secret is in `secret` (shown once). A restricted
    key's subscription receives the events of its DMSs' devices only (and the groups')."""
    fields = checked_fields(url=url, event_types=[ALL_TYPES] if event_types is None else event_types, q=q)
    return Subscription.objects.create(
        **fields,
        description=description,
        active=active,
        secret=new_secret(),
        position=feed_position(),
        dms=visible_dms_list(),
    )


def subscription_update(*, subscription_id: uuid.UUID, **changes) -> Subscription:
    """Change any of url, description, event_types, q and active; setting `active` on a disabled one re-enables
    it, from where it stopped, its failures forgotten."""
    checked = checked_fields(**{name: changes[name] for name in ("url", "event_types", "q") if name in changes})
    with transaction.atomic():
        subscription = _locked(subscription_id)
        enabling = changes.get("active") and not subscription.active
        if enabling:
            subscription.attempts, subscription.failing_since, subscription.next_attempt_at = 0, None, None
        for name, value in {**changes, **checked}.items():
            setattr(subscription, name, value)
        _save(subscription, cursor=enabling)
    return subscription


def subscription_delete(*, subscription_id: uuid.UUID) -> None:
    with transaction.atomic():  # the row locked first: a delivery being logged finishes before, or finds it gone
        _locked(subscription_id).delete()


def subscription_rotate_secret(*, subscription_id: uuid.UUID) -> Subscription:
    """A new secret; deliveries are signed with each replaced one too for 24 hours after its replacement."""
    with transaction.atomic():
        subscription = _locked(subscription_id)
        now = timezone.now()
        replaced = [subscription.secret, (now + SECRET_OVERLAP).isoformat()]
        subscription.previous_secrets = [*subscription.live_previous_secrets(now), replaced]
        subscription.secret = new_secret()
        _save(subscription)
    return subscription


def subscription_replay(*, subscription_id: uuid.UUID, after: int) -> Subscription:
    """Deliver again every matching event after the position `after`: the subscription goes back there."""
    counter = FeedCounter.objects.filter(pk=1).values_list("position", "pruned_through").first()
    committed, pruned_through = counter or (0, 0)
    if after < pruned_through:
        raise errors.Gone(f"Events up to {pruned_through} have been pruned; replay after {pruned_through} or later.")
    if after > committed:
        raise errors.Invalid({"after": [f"no event {after} yet: the feed's last is {committed}"]})
    with transaction.atomic():
        subscription = _locked(subscription_id)
        subscription.position = after
        subscription.attempts, subscription.failing_since, subscription.next_attempt_at = 0, None, None
        _save(subscription, cursor=True)
    return subscription


def _save(subscription: Subscription, cursor: bool = False) -> None:
    """A change of the services. A delivery under way sees the new `updated_at` before its next POST, and reloads the
    row; a change of the cursor or its failures (a replay, re-enabling) also takes a new version, so that the
    worker's bookkeeping of what it read no longer applies."""
    if cursor:
        subscription.version += 1
    subscription.updated_at = timezone.now()
    subscription.save()


def subscription_test(*, subscription_id: uuid.UUID) -> Outcome:
    """A `webhook.test` event POSTed now, signed as every delivery is; its outcome (not logged as a delivery)."""
    subscription = _get(subscription_id)
    message_id = f"msg_test_{uuid.uuid4().hex}"
    body = test_event_body(subscription, message_id)
    with Clients() as clients:
        return post(clients, subscription.url, body, signature_headers(message_id, body, subscription.secrets()))


def feed_position() -> int:
    """The feed's last position: every event up to it has committed."""
    return FeedCounter.objects.filter(pk=1).values_list("position", flat=True).first() or 0


def _get(subscription_id, lock: bool = False) -> Subscription:
    """The subscription, its row locked until the transaction ends with `lock`; NotFound if there is none."""
    subscriptions = Subscription.objects.select_for_update() if lock else Subscription.objects
    try:
        return subscriptions.get(pk=subscription_id)
    except Subscription.DoesNotExist as exc:
        raise errors.NotFound(f"No webhook {subscription_id}.") from exc


def _locked(subscription_id) -> Subscription:
    return _get(subscription_id, lock=True)


def checked_fields(**fields) -> dict:
    """The fields given (url, event_types, q), checked and normalised; Invalid naming every field at fault."""
    problems, checked = {}, {}
    if "url" in fields:
        try:
            resolve(fields["url"])
            checked["url"] = fields["url"]
        except RefusedDestination as exc:
            problems["url"] = [str(exc)]
    if "event_types" in fields:
        try:
            checked["event_types"] = check_event_types(fields["event_types"])
        except ValueError as exc:
            problems["event_types"] = [str(exc)]
    if "q" in fields:
        try:
            checked["q"] = normalise_device_q(fields["q"]) if fields["q"] else ""
        except ExpressionError as exc:
            problems["q"] = [str(exc)]
    if problems:
        raise errors.Invalid(problems)
    return checked


def check_event_types(names: list[str]) -> list[str]:
    """Type names, or prefixes ending in `*` that some type starts with (`device.*`, `*`); no duplicates."""
    if len(names) > MAX_EVENT_TYPES:
        raise ValueError(f"at most {MAX_EVENT_TYPES} names")
    for name in names:
        if name.endswith("*"):
            if not any(known.startswith(name[:-1]) for known in EVENT_TYPES):
                raise ValueError(f"{name!r} matches no event type; the types are {', '.join(EVENT_TYPES)}")
        elif name not in EVENT_TYPES:
            raise ValueError(f"unknown event type {name!r}; the types are {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(names)) or [ALL_TYPES]
