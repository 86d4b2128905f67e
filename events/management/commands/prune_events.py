from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from events.pruning import prune_events


class Command(BaseCommand):
    help = "Remove the feed's events older than DEVMANAGER_EVENT_RETENTION_DAYS (meant for cron)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=settings.DEVMANAGER_EVENT_RETENTION_DAYS,
            help="Keep this many days instead of DEVMANAGER_EVENT_RETENTION_DAYS.",
        )  # fmt: skip

    def handle(self, *args, days, **options):
        if days < 0:
            raise CommandError("--days must not be negative")
        removed = prune_events(timezone.now() - timedelta(days=days))
        self.stdout.write(f"Removed {removed} event(s) older than {days} day(s).")
