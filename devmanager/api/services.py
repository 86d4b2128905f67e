"""Writes to API keys, shared by the API (`/api-keys`), the admin and the create_api_key command."""

import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from devmanager.errors import AccessDenied, Invalid
from devmanager.validation import NUL_MESSAGE, dms_id_problem

from .models import DEFAULT_SCOPES, KEY_PREFIX, SCOPES, ApiKey, hash_key

MAX_NAME_LENGTH = ApiKey._meta.get_field("name").max_length
MAX_DMS_LENGTH = 255  # a device's dms_owner


@transaction.atomic
def api_key_create(
    *,
    name: str,
    scopes: list[str] | None = None,
    dms: list[str] | None = None,
    expires_at: datetime | None = None,
    granted_by: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored and cannot be shown again.

    `scopes` None gives every scope but `keys:write`; an empty list is taken at its word (a key that can do nothing),
    never widened. `dms` None: the key sees every device. A key made by another (`granted_by`, through the API) has
    at most that key's scopes, DMSs and lifetime: no key can hand out more than it holds."""
    name = name.strip()
    scopes = list(dict.fromkeys(DEFAULT_SCOPES if scopes is None else scopes))
    dms = None if dms is None else sorted(set(dms))
    _check_fields(name, scopes, dms, expires_at)
    if granted_by is not None:
        _check_within(granted_by, scopes, dms, expires_at)
    plaintext = KEY_PREFIX + secrets.token_hex(16)
    key = ApiKey.objects.create(
        name=name, prefix=plaintext[:8], key_hash=hash_key(plaintext), scopes=scopes, dms=dms, expires_at=expires_at
    )
    return key, plaintext


def _check_fields(name: str, scopes: list[str], dms: list[str] | None, expires_at: datetime | None) -> None:
    errors = {}
    if not name:
        errors["name"] = ["must not be blank"]
    elif len(name) > MAX_NAME_LENGTH:
        errors["name"] = [f"at most {MAX_NAME_LENGTH} characters"]
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        errors["scopes"] = [f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}"]
    if dms is not None and not dms:
        errors["dms"] = ["name at least one DMS, or none at all (null) for a key that sees every device"]
    elif dms is not None and (problems := [f"{name!r} {problem}" for name in dms if (problem := _dms_problem(name))]):
        errors["dms"] = problems
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["must be in the future"]
    if errors:
        raise Invalid(errors)


def _check_within(granter: ApiKey, scopes: list[str], dms: list[str] | None, expires_at: datetime | None) -> None:
    """Refuse a key that would hold more than the key creating it (`ApiKey.covers`), naming what is beyond it."""
    beyond = [scope for scope in scopes if not granter.has_scope(scope)]
    if beyond:
        raise AccessDenied("scopes", f"The API key cannot grant scopes it lacks: {', '.join(beyond)}.")
    if not granter.covers_dms(dms):
        outside = "every DMS" if dms is None else ", ".join(sorted(set(dms) - set(granter.dms)))
        raise AccessDenied("dms", f"The API key cannot grant DMSs outside its own: {outside}.")
    if not granter.outlives(expires_at):
        raise AccessDenied("expires_at", f"The key cannot outlive the key creating it ({granter.expires_at}).")


def _dms_problem(name) -> str | None:
    if not isinstance(name, str) or not name:
        return "is not a DMS id"
    if "\x00" in name:
        return NUL_MESSAGE
    return dms_id_problem(name) or (
        f"is longer than {MAX_DMS_LENGTH} characters" if len(name) > MAX_DMS_LENGTH else None
    )


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoke a key: refused from the next request on, by every process (keys are read on each request). Revoking
    twice keeps the first time."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    return key
