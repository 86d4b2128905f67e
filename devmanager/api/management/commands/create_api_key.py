from datetime import UTC, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from devmanager.api.models import SCOPES
from devmanager.api.services import api_key_create
from devmanager.errors import DomainError


class Command(BaseCommand):
    help = (
        "Create an API key (every scope but keys:write unless --scope is given; every device unless --dms is given) "
        "and print it alone on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key; recorded as the source of their changes.")
        parser.add_argument("--scope", action="append", dest="scopes", choices=SCOPES, help="Repeatable.")
        parser.add_argument(
            "--dms", action="append", dest="dms", help="Repeatable: the key sees and changes only these DMSs' devices."
        )
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument("--expires", help="When the key stops working: a date (its midnight, UTC) or a date-time.")
        expiry.add_argument("--expires-in-days", type=int, help="The key stops working after this many days.")

    def handle(self, *args, name, scopes, dms, expires, expires_in_days, **options):
        expires_at = parse_expiry(expires) if expires is not None else None
        if expires_in_days is not None:
            if expires_in_days <= 0:
                raise CommandError("--expires-in-days must be positive")
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        try:
            key, plaintext = api_key_create(name=name, scopes=scopes, dms=dms, expires_at=expires_at)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        expiry = key.expires_at.isoformat() if key.expires_at else "never"
        devices = f"the DMSs {', '.join(key.dms)}" if key.dms is not None else "every DMS"
        self.stderr.write(
            f"Created API key {key.name!r} with scopes {', '.join(key.scopes)}, for the devices of {devices} "
            f"(expires: {expiry})."
        )
        self.stderr.write("Store it now: it is not kept and cannot be shown again.")
        self.stdout.write(plaintext)


def parse_expiry(text: str) -> datetime:
    """`2027-01-31` (that day's start, UTC) or an ISO 8601 date-time (UTC when it names no offset)."""
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime.combine(day, time.min)
    except ValueError:  # well formed but no such day or time (2027-02-30)
        moment = None
    if moment is None:
        raise CommandError(f"--expires must be a date (2027-01-31) or a date-time, not {text!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
