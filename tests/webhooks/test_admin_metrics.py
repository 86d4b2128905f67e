"""Webhooks in the admin (status, last deliveries, made and changed through the services), in /metrics, and in
`prune_events`."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from devices import services as device_services
from events.models import Event
from webhooks import services
from webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token"


def log(subscription, event_id, outcome="delivered", status_code=200, **fields) -> Delivery:
    return Delivery.objects.create(
        subscription=subscription, event_id=event_id, webhook_id=f"msg_{event_id}", attempt=1, outcome=outcome,
        status_code=status_code, duration_ms=4, **fields,
    )  # fmt: skip


def test_the_admin_lists_subscriptions_with_their_status(admin_client, receiver):
    healthy = services.subscription_create(url=receiver.url)
    services.subscription_create(url=receiver.url + "/off", active=False)
    Subscription.objects.filter(pk=healthy.pk).update(failing_since=timezone.now())

    page = admin_client.get(reverse("admin:webhooks_subscription_changelist")).content.decode()

    assert receiver.url in page and "failing" in page and "disabled" in page


def test_the_admin_change_page_shows_the_last_deliveries(admin_client, receiver):
    subscription = services.subscription_create(url=receiver.url)
    log(subscription, 41, outcome="failed", status_code=503, error="HTTP 503")
    log(subscription, 42)

    page = admin_client.get(reverse("admin:webhooks_subscription_change", args=[subscription.pk])).content.decode()

    assert "HTTP 503" in page and "delivered" in page and ">42<" in page


def test_a_subscription_added_in_the_admin_goes_through_the_checks_and_shows_its_secret(admin_client, receiver):
    url = reverse("admin:webhooks_subscription_add")
    refused = admin_client.post(url, {"url": receiver.url, "event_types_text": "device.nope", "q": "", "active": "on"})
    assert refused.status_code == 200 and "unknown event type" in refused.content.decode()
    assert not Subscription.objects.exists()

    response = admin_client.post(
        url, {"url": receiver.url, "event_types_text": "device.*, group.created", "q": "tags[ct]:x", "active": "on"},
        follow=True,
    )  # fmt: skip

    subscription = Subscription.objects.get()
    assert subscription.event_types == ["device.*", "group.created"] and subscription.q == "tags[ct]:x"
    assert subscription.secret in response.content.decode()  # shown once, in the message


def test_the_admin_refuses_a_private_destination(admin_client, settings):
    response = admin_client.post(
        reverse("admin:webhooks_subscription_add"), {"url": "https://127.0.0.1/x", "event_types_text": ""}
    )

    assert response.status_code == 200 and "loopback" in response.content.decode()
    assert not Subscription.objects.exists()


def test_metrics_report_deliveries_failures_and_the_oldest_undelivered_event(anon_client, settings, receiver):
    settings.DEVMANAGER_METRICS_TOKEN = TOKEN
    subscription = services.subscription_create(url=receiver.url)
    device_services.device_create(id="d-1", source="key:t")
    Subscription.objects.filter(pk=subscription.pk).update(delivered_count=7, failed_count=2)
    Event.objects.update(time=timezone.now() - timedelta(minutes=5))  # not delivered for five minutes

    text = anon_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()

    label = f'subscription="{subscription.pk}"'
    assert f"devmanager_webhook_deliveries_total{{{label}}} 7.0" in text
    assert f"devmanager_webhook_failures_total{{{label}}} 2.0" in text
    (lag,) = [line for line in text.splitlines() if line.startswith("devmanager_webhook_oldest_undelivered_seconds")]
    assert label in lag and 'status="healthy"' in lag and 300 <= float(lag.split()[-1]) < 400
    Subscription.objects.update(position=Event.objects.get().position)  # caught up
    text = anon_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert f'devmanager_webhook_oldest_undelivered_seconds{{status="healthy",{label}}} 0.0' in text


def test_prune_events_removes_old_delivery_records(receiver):
    subscription = services.subscription_create(url=receiver.url)
    log(subscription, 1)
    Delivery.objects.update(timestamp=timezone.now() - timedelta(days=100))
    log(subscription, 2)

    out = io.StringIO()
    call_command("prune_events", stdout=out)

    assert list(Delivery.objects.values_list("event_id", flat=True)) == [2]
    assert "1 delivery record(s)" in out.getvalue()
