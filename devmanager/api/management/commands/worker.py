from django.core.management.base import BaseCommand

from devmanager.worker import WORK, run_worker


class Command(BaseCommand):
    help = "Run the background work (webhook deliveries, fleet-action jobs) until SIGTERM or SIGINT."

    def handle(self, *args, **options):
        self.stdout.write(f"Worker running: {', '.join(work.name for work in WORK)}. Stop it with SIGTERM.")
        self.stdout.flush()
        run_worker()
        self.stdout.write("Worker stopped.")
