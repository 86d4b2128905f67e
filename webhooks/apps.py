from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        # The worker serves the subscriptions; /metrics reports their deliveries; prune_events trims their log.
        from devmanager.health import register_metrics_collector
        from devmanager.worker import register_work
        from events.pruning import register_pruner

        from .metrics import SubscriptionCollector
        from .pruning import prune_deliveries
        from .worker import serve_subscriptions

        register_work("webhook deliveries", serve_subscriptions, threads_setting="DEVMANAGER_WEBHOOK_THREADS")
        register_metrics_collector(SubscriptionCollector())
        register_pruner(prune_deliveries)
