"""Writes to API keys, shared by the admin and the create_api_key command."""

import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import KEY_PREFIX, SCOPES, ApiKey, hash_key


@transaction.atomic
def api_key_create(
    *, name: str, scopes: list[str] | None = None, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored and cannot be shown again."""
    if not name.strip():
        raise ValidationError({"name": "must not be blank"})
    # None means every scope; an empty list is taken at its word (a key that can do nothing), never widened.
    scopes = list(dict.fromkeys(SCOPES if scopes is None else scopes))
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise ValidationError({"scopes": f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}"})
    plaintext = KEY_PREFIX + secrets.token_hex(16)
    key = ApiKey.objects.create(
        name=name.strip(),
        prefix=plaintext[:8],
        key_hash=hash_key(plaintext),
        scopes=scopes,
        expires_at=expires_at,
    )
    return key, plaintext


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
