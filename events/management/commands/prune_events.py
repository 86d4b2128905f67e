from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from events.pruning import prune_events, prune_records


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
        cutoff = timezone.now() - timedelta(days=days)
        removed = prune_events(cutoff)
        records = prune_records(cutoff)
        self.stdout.write(f"Removed {removed} event(s) and {records} delivery record(s) older than {days} day(s).")
