import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from .request_id import API_KEY_PATTERN

SCOPES = (
    "devices:read",
    "devices:write",
    "groups:read",
    "groups:write",
    "events:read",
    "webhooks:read",
    "webhooks:write",
    "keys:write",
)
DEFAULT_SCOPES = tuple(scope for scope in SCOPES if scope != "keys:write")  # a key made without naming its scopes
KEY_PREFIX = "ak_"


def hash_key(plaintext: str) -> str:
    # Keys carry 128 random bits, so a fast hash is as safe as a slow one and keeps lookups cheap.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def is_key_shaped(token: str) -> bool:
    return API_KEY_PATTERN.fullmatch(token) is not None


class ApiKeyQuerySet(models.QuerySet):
    def lookup(self, plaintext: str) -> "ApiKey | None":
        """The key of a plaintext, read from the database on every request (one query on a unique index), so that a
        revocation holds at once in every process and on every server: no cache to invalidate."""
        return next(iter(self.filter(key_hash=hash_key(plaintext)).order_by()[:1]), None)

    def within(self, key: "ApiKey | None") -> "ApiKeyQuerySet":
        """The keys that `key` may see and revoke: those it could have made (`ApiKey.covers`); None (a staff
        session): every key. Keys are few, so the test runs in Python over four columns, and the answer stays a
        queryset (`pk__in`) that a list pages through in SQL."""
        if key is None or key.covers_everything:
            return self
        rows = self.order_by().values_list("pk", "scopes", "dms", "expires_at")
        return self.filter(pk__in=[pk for pk, *holding in rows if key.covers(*holding)])


class ApiKey(models.Model):
    """An API key: stored only as a hash, scoped, revocable and optionally expiring."""

    name = models.CharField(max_length=255, help_text="Who uses the key; recorded as the source of their changes.")
    prefix = models.CharField(max_length=12, editable=False, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    dms = models.JSONField(
        null=True, blank=True, help_text="The DMSs whose devices the key sees and changes; null: every device."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="To the minute.")
    # The primary's WAL position after the key's last write, and when: its reads see that far (devmanager.replicas).
    last_write_position = models.BigIntegerField(default=0, editable=False)
    last_write_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def note_write(self, position: int) -> None:
        """The key's client wrote up to `position`: its reads within the replicas' lag limit must see that far."""
        ApiKey.objects.filter(pk=self.pk).update(last_write_position=position, last_write_at=timezone.now())

    def last_write_to_see(self) -> int:
        """The position the key's reads must see: its last write's, while replicas may still lag behind it."""
        limit = timedelta(seconds=settings.DEVMANAGER_REPLICA_MAX_LAG_SECONDS)
        recent = self.last_write_at is not None and timezone.now() - self.last_write_at <= limit
        return self.last_write_position if recent else 0

    def mark_used(self) -> None:
        """Keep `last_used_at` to the minute: one conditional write per key and minute, not one per request."""
        minute = timezone.now().replace(second=0, microsecond=0)
        if self.last_used_at is None or self.last_used_at < minute:
            ApiKey.objects.filter(pk=self.pk).filter(
                models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=minute)
            ).update(last_used_at=minute)
            self.last_used_at = minute

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def covers(self, scopes: list[str], dms: list[str] | None, expires_at: datetime | None) -> bool:
        """Whether a key holding these is within this one: none of its scopes, DMSs or lifetime beyond this key's.
        A key sees and revokes only such keys (`/api-keys`), as it creates only such keys (services.api_key_create)."""
        return all(self.has_scope(scope) for scope in scopes) and self.covers_dms(dms) and self.outlives(expires_at)

    def covers_dms(self, dms: list[str] | None) -> bool:
        """Every device of `dms` (None: every device) is one this key sees."""
        return self.dms is None or (dms is not None and set(dms) <= set(self.dms))

    def outlives(self, expires_at: datetime | None) -> bool:
        return self.expires_at is None or (expires_at is not None and expires_at <= self.expires_at)

    @property
    def covers_everything(self) -> bool:
        """Every key is within this one (an operator's key): `within` need not read the others."""
        return self.dms is None and self.expires_at is None and all(self.has_scope(scope) for scope in SCOPES)

    def has_scope(self, scope: str) -> bool:
        """`<resource>:write` implies `<resource>:read`."""
        resource, _, access = scope.partition(":")
        return scope in self.scopes or (access == "read" and f"{resource}:write" in self.scopes)
