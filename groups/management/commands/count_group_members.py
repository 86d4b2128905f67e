from django.core.management.base import BaseCommand

from groups.counting import count_all_members


class Command(BaseCommand):
    help = (
        "Count the members of every group whose stored count is stale (or of every group with --all), for the group "
        "tree and the dashboard (meant for cron, more often than DEVMANAGER_GROUP_COUNT_MAX_AGE; docs/console.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", dest="recount_all", help="recount every group, stale or not")

    def handle(self, *args, recount_all, **options):
        counted = count_all_members(stale_only=not recount_all)
        self.stdout.write(f"{counted} group(s) counted")
