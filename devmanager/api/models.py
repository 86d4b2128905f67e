import hashlib

from django.db import models
from django.utils import timezone

from .request_id import API_KEY_PATTERN

SCOPES = ("devices:read", "devices:write", "groups:read", "groups:write")
KEY_PREFIX = "ak_"


def hash_key(plaintext: str) -> str:
    # Keys carry 128 random bits, so a fast hash is as safe as a slow one and keeps lookups cheap.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def is_key_shaped(token: str) -> bool:
    return API_KEY_PATTERN.fullmatch(token) is not None


class ApiKeyQuerySet(models.QuerySet):
    def for_plaintext(self, plaintext: str):
        return self.filter(key_hash=hash_key(plaintext))


class ApiKey(models.Model):
    """An API key: stored only as a hash, scoped, revocable and optionally expiring."""

    name = models.CharField(max_length=255, help_text="Who uses the key; recorded as the source of their changes.")
    prefix = models.CharField(max_length=12, editable=False, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def has_scope(self, scope: str) -> bool:
        """`<resource>:write` implies `<resource>:read`."""
        resource, _, access = scope.partition(":")
        return scope in self.scopes or (access == "read" and f"{resource}:write" in self.scopes)
