import hashlib

from django.conf import settings
from django.core.cache import cache
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
)
KEY_PREFIX = "ak_"


def hash_key(plaintext: str) -> str:
    # Keys carry 128 random bits, so a fast hash is as safe as a slow one and keeps lookups cheap.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def is_key_shaped(token: str) -> bool:
    return API_KEY_PATTERN.fullmatch(token) is not None


class ApiKeyQuerySet(models.QuerySet):
    def lookup(self, plaintext: str) -> "ApiKey | None":
        """The key of a plaintext, from the cache when fresh: every request authenticates and keys rarely change.

        A key's own save or deletion clears its entry; with a per-process cache, other processes see a change
        within DEVMANAGER_API_KEY_CACHE_SECONDS.
        """
        digest = hash_key(plaintext)
        key = cache.get(_cache_key(digest))
        if key is None:
            key = next(iter(self.filter(key_hash=digest).order_by()[:1]), None)
            if key is not None:
                cache.set(_cache_key(digest), key, settings.DEVMANAGER_API_KEY_CACHE_SECONDS)
        return key


def _cache_key(digest: str) -> str:
    return f"devmanager:apikey:{digest}"


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

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        cache.delete(_cache_key(self.key_hash))

    def delete(self, *args, **kwargs):
        cache.delete(_cache_key(self.key_hash))
        return super().delete(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def has_scope(self, scope: str) -> bool:
        """`<resource>:write` implies `<resource>:read`."""
        resource, _, access = scope.partition(":")
        return scope in self.scopes or (access == "read" and f"{resource}:write" in self.scopes)
