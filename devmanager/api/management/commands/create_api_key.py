from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from devmanager.api.models import SCOPES
from devmanager.api.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key (all scopes unless --scope is given) and print it alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key; recorded as the source of their changes.")
        parser.add_argument("--scope", action="append", dest="scopes", choices=SCOPES, help="Repeatable.")
        parser.add_argument("--expires-in-days", type=int, help="The key stops working after this many days.")

    def handle(self, *args, name, scopes, expires_in_days, **options):
        expires_at = None
        if expires_in_days is not None:
            if expires_in_days <= 0:
                raise CommandError("--expires-in-days must be positive")
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        try:
            key, plaintext = api_key_create(name=name, scopes=scopes, expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        expiry = key.expires_at.isoformat() if key.expires_at else "never"
        self.stderr.write(f"Created API key {key.name!r} with scopes {', '.join(key.scopes)} (expires: {expiry}).")
        self.stderr.write("Store it now: it is not kept and cannot be shown again.")
        self.stdout.write(plaintext)
