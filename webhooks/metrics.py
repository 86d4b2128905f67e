"""Webhook figures for /metrics, read from the database at each scrape: the same whichever process answers, and
the worker's counts included (they live on the subscriptions' rows, not in a process)."""

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from events.models import Event

from .models import Subscription


class SubscriptionCollector:
    def describe(self):
        return []

    def collect(self):
        delivered = CounterMetricFamily(
            "devmanager_webhook_deliveries", "Events delivered (2xx) per subscription.", labels=["subscription"]
        )
        failed = CounterMetricFamily(
            "devmanager_webhook_failures", "Failed delivery attempts per subscription.", labels=["subscription"]
        )
        lag = GaugeMetricFamily(
            "devmanager_webhook_oldest_undelivered_seconds",
            "Age of the oldest event the subscription has not yet delivered or passed over (0 when caught up).",
            labels=["subscription", "status"],
        )
        now = timezone.now()
        next_event = Event.objects.filter(position__gt=OuterRef("position")).order_by("position").values("time")[:1]
        for subscription in Subscription.objects.annotate(oldest=Subquery(next_event)).order_by("created_at"):
            label = str(subscription.pk)
            delivered.add_metric([label], subscription.delivered_count)
            failed.add_metric([label], subscription.failed_count)
            oldest = subscription.oldest
            lag.add_metric([label, subscription.status], (now - oldest).total_seconds() if oldest else 0.0)
        yield from (delivered, failed, lag)
