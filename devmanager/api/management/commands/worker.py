from django.core.management.base import BaseCommand

from devmanager.worker import WORK, run_worker, stop_on_signals


class Command(BaseCommand):
    help = "Run the background work (webhook deliveries, fleet-action jobs) until SIGTERM or SIGINT."

    def handle(self, *args, **options):
        stopping = stop_on_signals()
        self.stdout.write(f"Worker running: {', '.join(work.name for work in WORK)}. Stop it with SIGTERM.")
        self.stdout.flush()
        run_worker(stopping)
        self.stdout.write("Worker stopped.")
