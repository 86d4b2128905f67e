"""Examples of the API key operations' bodies and answers, for the OpenAPI document."""

from drf_spectacular.utils import OpenApiExample

from ..schema import error_example

CREATED = "2026-03-09T10:00:00.123456Z"
KEY = {
    "id": 42,
    "name": "ops-bot",
    "prefix": "ak_5f0c6",
    "scopes": ["devices:read", "devices:write"],
    "dms": ["dms-production"],
    "created_at": CREATED,
    "expires_at": "2027-03-09T00:00:00Z",
    "revoked_at": None,
    "last_used_at": None,
}

CREATE = [
    OpenApiExample(
        "A key for one DMS",
        value={
            "name": "ops-bot",
            "scopes": ["devices:read", "devices:write"],
            "dms": ["dms-production"],
            "expires_at": "2027-03-09T00:00:00Z",
        },
        request_only=True,
    ),
    OpenApiExample(
        "The key, with its plaintext",
        value={**KEY, "key": "ak_5f0c6a1e9b2d4c7f8a3e1b0d2c4f6a8e"},
        response_only=True,
        status_codes=["201"],
    ),
    error_example(
        403,
        "access_denied",
        "The API key cannot grant scopes it lacks: keys:write.",
        [("scopes", "The API key cannot grant scopes it lacks: keys:write.")],
    ),
]
REVOKE = [error_example(404, "not_found", "No API key '42'.")]
