"""Examples of the webhook operations' bodies and answers, for the OpenAPI document."""

from devices.api.examples import CREATED, UPDATED, answer, request
from devmanager.api.schema import error_example

WEBHOOK_ID = "9b2e4c1a-6f3d-4e8b-a5c7-2d1f0e9b8a76"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw0Ujp9rV8zB4="
SUBSCRIPTION = {
    "id": WEBHOOK_ID,
    "url": "https://ops.example.com/hooks/devices",
    "description": "Status changes of production devices",
    "event_types": ["device.status.updated", "device.decommissioned"],
    "q": "dms_owner[eq]:dms-production",
    "active": True,
    "status": "healthy",
    "position": "184467",
    "created_at": CREATED,
    "updated_at": CREATED,
    "last_success_at": None,
    "last_failure_at": None,
}
NOT_FOUND = error_example(404, "not_found", f"No webhook '{WEBHOOK_ID}'.")

CREATE = [
    request(
        "Status changes of production devices",
        {
            "url": "https://ops.example.com/hooks/devices",
            "description": "Status changes of production devices",
            "event_types": ["device.status.updated", "device.decommissioned"],
            "q": "dms_owner[eq]:dms-production",
        },
    ),
    answer("The subscription, with its secret", {**SUBSCRIPTION, "secret": SECRET}, 201),
    error_example(
        400,
        "validation_error",
        fields=[
            (
                "url",
                "host 'ops.example.com' resolves to 10.0.0.7, a private address (allowed with "
                "DEVMANAGER_WEBHOOK_ALLOW_PRIVATE=true)",
            )
        ],
    ),
]
UPDATE = [
    request("Re-enable", {"active": True}),
    answer("The subscription", {**SUBSCRIPTION, "updated_at": UPDATED}),
    NOT_FOUND,
]
DELETE = [NOT_FOUND]
ROTATE_SECRET = [
    answer("The subscription, with its new secret", {**SUBSCRIPTION, "updated_at": UPDATED, "secret": SECRET}),
    NOT_FOUND,
]
REPLAY = [
    request("Everything after an event", {"after": "184000"}),
    answer("The subscription, rewound", {**SUBSCRIPTION, "position": "184000", "updated_at": UPDATED}, 202),
    error_example(400, "validation_error", fields=[("after", "must be an event id (a decimal integer)")]),
]
TEST = [
    answer("The endpoint's answer", {"status_code": 204, "duration_ms": 84, "error": None}),
    NOT_FOUND,
]
