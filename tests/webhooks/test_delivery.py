"""Deliveries (contract, section 7), driven one serving at a time in the test's thread: signed CloudEvents in feed
order, at least once, retried on the schedule, given up after the give-up time; destinations checked each time."""

import socket
import threading
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from devices import services as device_services
from events.models import Event
from groups import services as group_services
from webhooks import services
from webhooks.delivery import MAX_READ, Clients
from webhooks.models import Delivery, Subscription
from webhooks.worker import claim_due, retry_delay, serve

pytestmark = pytest.mark.django_db


def deliver() -> None:
    """Serve every due subscription once, as a worker thread would."""
    with Clients() as client:
        for subscription in Subscription.objects.all():
            serve(subscription.pk, client, threading.Event())


def create_devices(*ids: str, **fields) -> None:
    for device_id in ids:
        device_services.device_create(id=device_id, source="key:t", **fields)


def test_each_event_is_a_signed_structured_cloud_event_in_feed_order(receiver):
    subscription = services.subscription_create(url=receiver.url)
    create_devices("d-1", "d-2")

    deliver()

    first, second = receiver.wait_for(2)
    events = [Webhook(subscription.secret).verify(request.body, request.headers) for request in (first, second)]
    assert [event["subject"] for event in events] == ["d-1", "d-2"]
    assert [event["type"] for event in events] == ["device.created"] * 2
    assert events[0]["specversion"] == "1.0" and events[0]["actor"] == "key:t"
    assert events[0]["data"]["device"]["id"] == "d-1"
    assert first.headers["content-type"] == "application/cloudevents+json"
    positions = list(Event.objects.order_by("position").values_list("position", flat=True))
    assert [event["id"] for event in events] == [str(position) for position in positions]
    assert first.headers["webhook-id"] != second.headers["webhook-id"]
    subscription.refresh_from_db()
    assert subscription.position == positions[-1] and subscription.status == "healthy"
    assert subscription.last_success_at is not None and subscription.delivered_count == 2
    log = list(Delivery.objects.order_by("id"))
    assert [(d.event_id, d.attempt, d.outcome, d.status_code) for d in log] == [
        (positions[0], 1, "delivered", 200), (positions[1], 1, "delivered", 200),
    ]  # fmt: skip
    assert log[0].webhook_id == first.headers["webhook-id"] and log[0].response == "ok"


def test_only_events_after_the_subscription_and_of_its_types_and_q_are_delivered(receiver):
    create_devices("before")
    subscription = services.subscription_create(
        url=receiver.url, event_types=["device.created", "group.*"], q="tags[ct]:hot"
    )
    create_devices("cold-1", tags=["cold"])
    create_devices("hot-1", tags=["hot"])
    group = group_services.group_create(name="g", actor="key:t")
    device_services.device_decommission(device_id="hot-1", source="key:t")

    deliver()

    events = [request.event for request in receiver.wait_for(2)]
    assert [(event["type"], event["subject"]) for event in events] == [
        ("device.created", "hot-1"), ("group.created", str(group.pk)),
    ]  # fmt: skip
    subscription.refresh_from_db()
    assert subscription.position == Event.objects.order_by("-position").first().position  # passed the rest over


def test_a_failure_stops_the_subscription_at_that_event_and_schedules_a_retry(receiver):
    subscription = services.subscription_create(url=receiver.url)
    create_devices("d-1", "d-2")
    receiver.answers = [(500, b"x" * 5000)]

    deliver()

    (request,) = receiver.received  # d-2 waits behind d-1
    subscription.refresh_from_db()
    assert subscription.status == "failing" and subscription.attempts == 1
    first_event = Event.objects.order_by("position").first()
    assert subscription.position == first_event.position - 1
    assert timedelta(seconds=4) < subscription.next_attempt_at - timezone.now() < timedelta(seconds=6)
    failure = Delivery.objects.get()
    assert failure.outcome == "failed" and failure.status_code == 500 and failure.error == "HTTP 500"
    assert failure.next_attempt_at == subscription.next_attempt_at and len(failure.response) == 1024
    assert claim_due() is None  # not due before its retry

    receiver.answers = [(200, b"ok")]
    Subscription.objects.update(next_attempt_at=timezone.now())
    deliver()

    retried, second = receiver.received[1:]
    assert retried.headers["webhook-id"] == request.headers["webhook-id"]  # the same message, sent again
    assert second.event["subject"] == "d-2"
    subscription.refresh_from_db()
    assert subscription.status == "healthy" and subscription.attempts == 0 and subscription.failing_since is None
    assert [d.attempt for d in Delivery.objects.order_by("id")] == [1, 2, 1]


def test_the_retry_schedule_grows_to_every_six_hours():
    delays = [retry_delay(attempt).total_seconds() for attempt in range(1, 9)]

    expected = [5, 30, 120, 600, 3600, 21600, 21600, 21600]
    assert all(0.9 * want <= got <= 1.1 * want for got, want in zip(delays, expected, strict=True))


def test_after_the_give_up_time_the_event_is_given_up_and_the_subscription_disabled(receiver, settings):
    subscription = services.subscription_create(url=receiver.url)
    create_devices("d-1", "d-2")
    receiver.answers = [(500, b"")]
    deliver()
    Subscription.objects.update(
        failing_since=timezone.now() - timedelta(hours=settings.DEVMANAGER_WEBHOOK_GIVE_UP_HOURS),
        next_attempt_at=timezone.now(),
    )

    deliver()

    subscription.refresh_from_db()
    first_event, second_event = Event.objects.order_by("position")
    assert subscription.status == "disabled" and not subscription.active
    assert subscription.position == first_event.position  # resumes after the given-up event
    assert Delivery.objects.order_by("-id").first().outcome == "given_up"
    assert claim_due() is None
    receiver.answers = [(200, b"")]
    services.subscription_update(subscription_id=subscription.pk, active=True)
    deliver()
    assert receiver.received[-1].event["id"] == str(second_event.position)


def test_a_redirect_is_a_failure_not_followed(receiver):
    services.subscription_create(url=receiver.url)
    create_devices("d-1")
    receiver.answers = [(302, b"")]

    deliver()

    failure = Delivery.objects.get()
    assert failure.outcome == "failed" and failure.status_code == 302 and "not followed" in failure.error
    assert len(receiver.received) == 1


def test_an_endpoint_that_does_not_answer_in_time_is_a_failure(receiver, settings):
    settings.DEVMANAGER_WEBHOOK_TIMEOUT = 0.3
    services.subscription_create(url=receiver.url)
    create_devices("d-1")
    receiver.delay = 1.0

    deliver()

    failure = Delivery.objects.get()
    assert failure.status_code is None and failure.error == "no answer within 0.3 s"


def test_at_most_64_kib_of_an_answer_is_read_and_1_kib_stored(receiver):
    services.subscription_create(url=receiver.url)
    create_devices("d-1")
    receiver.answers = [(200, b"y" * (MAX_READ * 4))]

    deliver()

    assert Delivery.objects.get().response == "y" * 1024


def test_a_destination_that_became_private_is_refused_at_delivery(receiver, settings):
    services.subscription_create(url=receiver.url)
    create_devices("d-1")
    settings.DEVMANAGER_WEBHOOK_ALLOW_PRIVATE = False  # the name now resolves to loopback (DNS rebinding)

    deliver()

    failure = Delivery.objects.get()
    assert failure.status_code is None and failure.error.startswith("refused destination")
    assert "loopback" in failure.error and receiver.received == []


def test_after_a_rotation_both_secrets_sign(receiver):
    subscription = services.subscription_create(url=receiver.url)
    rotated = services.subscription_rotate_secret(subscription_id=subscription.pk)
    create_devices("d-1")

    deliver()

    (request,) = receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(subscription.secret).verify(request.body, request.headers)
    Webhook(rotated.secret).verify(request.body, request.headers)


def test_a_replay_delivers_again_with_the_same_webhook_ids(receiver):
    subscription = services.subscription_create(url=receiver.url)
    create_devices("d-1", "d-2")
    deliver()
    first_ids = [request.headers["webhook-id"] for request in receiver.wait_for(2)]

    services.subscription_replay(subscription_id=subscription.pk, after=subscription.position)
    deliver()

    assert [request.headers["webhook-id"] for request in receiver.received[2:]] == first_ids


def test_a_failing_subscription_does_not_hold_up_a_healthy_one(receiver, local_destinations):
    healthy = services.subscription_create(url=receiver.url)
    services.subscription_create(url="http://127.0.0.1:1/closed")
    create_devices("d-1")

    deliver()

    healthy.refresh_from_db()
    assert healthy.status == "healthy" and healthy.delivered_count == 1
    assert Subscription.objects.exclude(pk=healthy.pk).get().status == "failing"


def test_a_host_name_is_connected_to_by_a_checked_address_with_its_own_host_header(receiver):
    port = receiver.server.server_address[1]
    services.subscription_create(url=f"http://localhost:{port}/hook")  # ::1 may come first: nobody listens there
    create_devices("d-1")

    deliver()

    (request,) = receiver.wait_for(1)
    assert request.headers["host"] == f"localhost:{port}"
    assert Delivery.objects.get().outcome == "delivered"


def resolving_to(monkeypatch, *addresses: str) -> None:
    """The resolver's answer for every name (the stand-in for a DNS server that changes its mind)."""

    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_the_next_address_is_tried_when_one_refuses_the_connection(receiver, monkeypatch):
    port = receiver.server.server_address[1]
    resolving_to(monkeypatch, "127.0.0.2", "127.0.0.1")  # nobody listens on the first
    subscription = services.subscription_create(url=f"http://hooks.example:{port}/hook")
    create_devices("d-1")

    deliver()

    (request,) = receiver.wait_for(1)
    assert request.headers["host"] == f"hooks.example:{port}"
    subscription.refresh_from_db()
    assert subscription.delivered_count == 1


def test_a_name_that_now_resolves_to_one_private_address_among_public_ones_is_refused(receiver, settings, monkeypatch):
    resolving_to(monkeypatch, "93.184.216.34")
    services.subscription_create(url="https://hooks.example/hook")
    create_devices("d-1")
    settings.DEVMANAGER_WEBHOOK_ALLOW_PRIVATE = False
    resolving_to(monkeypatch, "93.184.216.34", "10.0.0.5")  # rebinding: every address is checked

    deliver()

    failure = Delivery.objects.get()
    assert failure.outcome == "failed" and "10.0.0.5, a private address" in failure.error


def test_a_match_beyond_windows_of_non_matching_events_is_reached_in_one_serving(receiver, monkeypatch):
    monkeypatch.setattr("events.reading.SCAN_WINDOW", 2)
    subscription = services.subscription_create(url=receiver.url, q="tags[ct]:hot")
    create_devices("c-1", "c-2", "c-3", "c-4", "c-5", tags=["cold"])
    create_devices("h-1", tags=["hot"])

    deliver()

    assert [request.event["subject"] for request in receiver.wait_for(1)] == ["h-1"]
    subscription.refresh_from_db()
    assert subscription.position == Event.objects.order_by("-position").first().position


def test_an_answer_holding_nul_is_logged_without_it(receiver):
    services.subscription_create(url=receiver.url)
    create_devices("d-1")
    receiver.answers = [(200, b"ok\x00done")]

    deliver()

    assert Delivery.objects.get().response == "ok\ufffddone"


def test_a_host_name_in_any_script_is_sent_as_idna(receiver, monkeypatch):
    port = receiver.server.server_address[1]
    resolving_to(monkeypatch, "127.0.0.1")
    services.subscription_create(url=f"http://bücher.example:{port}/hook")
    create_devices("d-1")

    deliver()

    (request,) = receiver.wait_for(1)
    assert request.headers["host"] == f"xn--bcher-kva.example:{port}"
    assert Delivery.objects.get().outcome == "delivered"


def test_an_answer_that_never_quite_ends_is_a_timeout(receiver, settings):
    settings.DEVMANAGER_WEBHOOK_TIMEOUT = 0.5
    services.subscription_create(url=receiver.url)
    create_devices("d-1")
    receiver.answers = [(200, b"x" * 100)]
    receiver.drip = 0.2  # each byte well within the timeout, the whole body far beyond it

    deliver()

    failure = Delivery.objects.get()
    assert failure.outcome == "failed" and failure.error == "no answer within 0.5 s"
    assert failure.duration_ms < 1500


def test_each_host_name_has_its_own_clients():
    with Clients(size=2) as clients:
        first = clients.for_host("a.example")
        assert clients.for_host("a.example") is first
        assert clients.for_host("b.example") is not first
        clients.for_host("c.example")  # the least recently used goes

        assert list(clients.clients) == ["b.example", "c.example"] and first.is_closed


def test_setting_active_on_an_active_failing_subscription_keeps_its_backoff(receiver):
    subscription = services.subscription_create(url=receiver.url)
    Subscription.objects.update(attempts=3, failing_since=timezone.now(), next_attempt_at=timezone.now())

    services.subscription_update(subscription_id=subscription.pk, active=True, description="edited")

    assert Subscription.objects.get().attempts == 3


def test_a_new_head_event_starts_its_own_attempts(receiver):
    subscription = services.subscription_create(url=receiver.url)
    create_devices("d-1")
    group_services.group_create(name="g", actor="key:t")
    receiver.answers = [(500, b"")]
    head = Event.objects.order_by("position").first().position
    Subscription.objects.update(attempts=4, retrying_event=head, failing_since=timezone.now() - timedelta(hours=71))
    deliver()  # d-1's fifth attempt fails
    services.subscription_update(subscription_id=subscription.pk, event_types=["group.*"])  # d-1 matches no more
    Subscription.objects.update(next_attempt_at=timezone.now())

    deliver()

    assert Delivery.objects.order_by("id").first().attempt == 5
    subscription.refresh_from_db()
    group_failure = Delivery.objects.order_by("-id").first()
    assert receiver.received[-1].event["type"] == "group.created"
    assert group_failure.attempt == 1 and group_failure.outcome == "failed" and subscription.status == "failing"
    assert timezone.now() - subscription.failing_since < timedelta(minutes=1)


def test_a_retry_is_never_scheduled_after_the_give_up_time(receiver, settings):
    subscription = services.subscription_create(url=receiver.url)
    create_devices("d-1")
    receiver.answers = [(500, b"")]
    failing_since = timezone.now() - timedelta(hours=71)
    head = Event.objects.get().position
    Subscription.objects.update(
        attempts=6, retrying_event=head, failing_since=failing_since, next_attempt_at=timezone.now()
    )

    deliver()  # attempt 7 fails at 71 h: not given up, and the next one at 72 h, not 77 h

    subscription.refresh_from_db()
    assert subscription.status == "failing" and subscription.attempts == 7
    assert subscription.next_attempt_at == failing_since + timedelta(hours=settings.DEVMANAGER_WEBHOOK_GIVE_UP_HOURS)
