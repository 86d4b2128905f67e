"""`python manage.py worker` as a process, on PostgreSQL: it delivers what commits, stops on SIGTERM, loses
nothing when killed mid-delivery (the event is sent again, with the same `webhook-id`), and two workers never
serve one subscription at once."""

import signal
import subprocess
import threading
import time
import uuid

import pytest
from django.db import connection

from devices import services as device_services
from events.models import Event
from tests.webhooks.receiver import Receiver
from tests.workers import wait_until, worker_process
from webhooks import services
from webhooks.claims import Claims
from webhooks.delivery import Clients
from webhooks.models import Delivery, Subscription
from webhooks.worker import serve

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="worker processes share a PostgreSQL database"),
]


def start_worker():
    return worker_process(
        DEVMANAGER_WEBHOOK_ALLOW_PRIVATE="true",
        DEVMANAGER_WEBHOOK_ALLOW_HTTP="true",
        DEVMANAGER_WEBHOOK_TIMEOUT="5",
        DEVMANAGER_WEBHOOK_THREADS="4",
    )


def stop(worker: subprocess.Popen) -> int:
    worker.send_signal(signal.SIGTERM)
    return worker.wait(timeout=30)


def test_the_worker_delivers_what_commits_and_stops_on_sigterm(receiver):
    subscription = services.subscription_create(url=receiver.url)
    worker = start_worker()
    try:
        device_services.device_create(id="d-1", source="key:t")
        (request,) = receiver.wait_for(1)
        assert request.event["subject"] == "d-1"
        wait_until(lambda: Subscription.objects.get().delivered_count == 1)
    finally:
        assert stop(worker) == 0
    subscription.refresh_from_db()
    assert subscription.position == Event.objects.get().position


def test_a_worker_killed_mid_delivery_loses_nothing(receiver):
    services.subscription_create(url=receiver.url)
    receiver.hold = threading.Event()  # the endpoint takes the POST and does not answer yet
    worker = start_worker()
    device_services.device_create(id="d-1", source="key:t")
    (first,) = receiver.wait_for(1)

    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    receiver.hold.set()
    receiver.hold = None
    assert Subscription.objects.get().delivered_count == 0  # nothing recorded: the event is still to deliver
    restarted = start_worker()
    try:
        again = receiver.wait_for(2)[1]
        wait_until(lambda: Subscription.objects.get().delivered_count == 1)
    finally:
        assert stop(restarted) == 0

    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.body == first.body
    assert Delivery.objects.get().event_id == Event.objects.get().position


def test_two_workers_deliver_each_event_once_in_order(receiver):
    services.subscription_create(url=receiver.url)
    workers = [start_worker(), start_worker()]
    try:
        for index in range(30):
            device_services.device_create(id=f"d-{index:02d}", source="key:t")
        received = receiver.wait_for(30)
        wait_until(lambda: Subscription.objects.get().delivered_count == 30)
    finally:
        assert [stop(worker) for worker in workers] == [0, 0]

    subjects = [request.event["subject"] for request in received]
    assert subjects == [f"d-{index:02d}" for index in range(30)]  # once each, in feed order


def serve_now(subscription) -> None:
    with Clients() as clients:
        serve(subscription.pk, clients, threading.Event())


def in_receiver(function):
    """A change made by someone else while the endpoint holds a delivery (the receiver's thread, its connection)."""

    def on_request(number):
        if number == 1:
            try:
                function()
            finally:
                connection.close()

    return on_request


def test_a_patch_during_a_delivery_takes_effect_at_the_next_event(receiver):
    subscription = services.subscription_create(url=receiver.url)
    for index in range(3):
        device_services.device_create(id=f"d-{index}", source="key:t")
    with Receiver() as other:
        receiver.on_request = in_receiver(
            lambda: services.subscription_update(subscription_id=subscription.pk, url=other.url)
        )

        serve_now(subscription)

        assert [r.event["subject"] for r in receiver.received] == ["d-0"]
        assert [r.event["subject"] for r in other.wait_for(2)] == ["d-1", "d-2"]
    assert Delivery.objects.count() == 3 and Subscription.objects.get().delivered_count == 3


def test_a_replay_during_a_delivery_sends_again_from_where_it_says(receiver):
    subscription = services.subscription_create(url=receiver.url)
    for index in range(2):
        device_services.device_create(id=f"d-{index}", source="key:t")
    receiver.on_request = in_receiver(
        lambda: services.subscription_replay(subscription_id=subscription.pk, after=subscription.position)
    )

    serve_now(subscription)

    assert [r.event["subject"] for r in receiver.received] == ["d-0", "d-0", "d-1"]
    assert Subscription.objects.get().position == Event.objects.order_by("-position").first().position


def test_a_deletion_during_a_delivery_stops_it(receiver):
    subscription = services.subscription_create(url=receiver.url)
    for index in range(3):
        device_services.device_create(id=f"d-{index}", source="key:t")
    receiver.on_request = in_receiver(lambda: services.subscription_delete(subscription_id=subscription.pk))

    serve_now(subscription)

    assert len(receiver.received) == 1 and not Subscription.objects.exists() and not Delivery.objects.exists()


def test_a_subscription_is_claimed_by_one_connection_at_a_time():
    subscription_id = uuid.uuid4()
    taken_elsewhere, released = threading.Event(), threading.Event()

    def other_worker():
        try:
            assert Claims().take(subscription_id)
            taken_elsewhere.set()
            released.wait(10)
        finally:
            connection.close()  # its lock goes with its connection

    thread = threading.Thread(target=other_worker)
    thread.start()
    taken_elsewhere.wait(10)
    claims = Claims()
    assert not claims.take(subscription_id) and claims.held_here() == []
    released.set()
    thread.join()
    # The server drops the closed session's locks a moment after the client has closed it, not before close returns.
    wait_until(lambda: claims.take(subscription_id), timeout=5)
    assert claims.held_here() == [subscription_id]
    claims.give_back(subscription_id)
    assert claims.held_here() == []


def test_sigterm_lets_the_delivery_in_hand_finish(receiver):
    services.subscription_create(url=receiver.url)
    receiver.hold = threading.Event()
    worker = start_worker()
    device_services.device_create(id="d-1", source="key:t")
    receiver.wait_for(1)

    worker.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    receiver.hold.set()

    assert worker.wait(timeout=30) == 0
    assert Delivery.objects.get().outcome == "delivered" and Subscription.objects.get().delivered_count == 1
