from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from devices.services import devices_refresh_status_batch


class Command(BaseCommand):
    help = (
        "Move devices whose identity has an expiration_date through RENEWAL_WINDOW, ABOUT_TO_EXPIRE and EXPIRED "
        "(meant for cron; safe to run twice and while the API serves)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--renewal-window-days", type=int, default=settings.DEVMANAGER_RENEWAL_WINDOW_DAYS)
        parser.add_argument("--about-to-expire-days", type=int, default=settings.DEVMANAGER_ABOUT_TO_EXPIRE_DAYS)
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, renewal_window_days, about_to_expire_days, batch_size, **options):
        if not 0 <= about_to_expire_days <= renewal_window_days or batch_size < 1:
            raise CommandError("need 0 <= --about-to-expire-days <= --renewal-window-days and a positive batch size")
        now = timezone.now()
        moved_total, after_id = 0, ""
        with tqdm(unit="dev", desc="refreshing", disable=None) as progress:
            while after_id is not None:
                moved, after_id = devices_refresh_status_batch(
                    now=now,
                    renewal_window=timedelta(days=renewal_window_days),
                    about_to_expire=timedelta(days=about_to_expire_days),
                    after_id=after_id,
                    batch_size=batch_size,
                )
                moved_total += moved
                progress.update(moved)
        self.stdout.write(f"Moved {moved_total} device(s).")
