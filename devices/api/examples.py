"""Examples of the device operations' bodies and answers, for the OpenAPI document (one request and one answer per
write, and the error its rules make most likely)."""

from drf_spectacular.utils import OpenApiExample

from devmanager.api.schema import error_example

CREATED = "2026-03-09T10:00:00.123456Z"
UPDATED = "2026-03-09T10:05:00.654321Z"


def device(**changes) -> dict:
    """The contract's example device (section 3), with some fields changed."""
    return {
        "id": "device-12345",
        "alias": "Warehouse Temperature Sensor",
        "tags": ["sensor", "temperature"],
        "status": "NO_IDENTITY",
        "icon": "thermometer",
        "icon_color": "#FF5733",
        "creation_timestamp": CREATED,
        "updated_timestamp": CREATED,
        "metadata": {"location": "warehouse-a"},
        "dms_owner": "dms-production",
        "identity": None,
        "slots": {},
        "events": {CREATED: {"type": "CREATED", "description": "Device created"}},
        **changes,
    }


def request(name: str, value, media_type: str = "application/json") -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True, media_type=media_type)


def answer(name: str, value, status_code: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status_code)])


IDENTITY = {
    "status": "ACTIVE",
    "active_version": 1,
    "type": "X509",
    "versions": {"1": {"serial": "4f:2a:91"}},
    "expiration_date": "2027-03-09T00:00:00Z",
}
PROVISIONED = device(
    status="ACTIVE",
    identity=IDENTITY,
    slots={"default": IDENTITY},
    updated_timestamp=UPDATED,
    events={
        UPDATED: {"type": "PROVISIONED", "description": "Identity slot set: version 1"},
        CREATED: {"type": "CREATED", "description": "Device created"},
    },
)
METADATA_CHANGED = device(
    metadata={"location": "warehouse-b", "floor": 2},
    updated_timestamp=UPDATED,
    events={
        UPDATED: {"type": "METADATA-UPDATED", "description": "Metadata updated"},
        CREATED: {"type": "CREATED", "description": "Device created"},
    },
)
RENAMED = device(
    alias="Cold store sensor",
    tags=["sensor", "cold-store"],
    updated_timestamp=UPDATED,
    events={
        UPDATED: {"type": "UPDATED", "description": "Updated: alias, tags"},
        CREATED: {"type": "CREATED", "description": "Device created"},
    },
)
NOT_FOUND = error_example(404, "not_found", "No device 'device-12345'.")
STALE = error_example(412, "precondition_failed", "If-Match does not match the current ETag.")

CREATE = [
    request(
        "A sensor",
        {
            "id": "device-12345",
            "alias": "Warehouse Temperature Sensor",
            "tags": ["sensor", "temperature"],
            "metadata": {"location": "warehouse-a"},
            "dms_id": "dms-production",
            "icon": "thermometer",
            "icon_color": "#FF5733",
        },
    ),
    answer("The new device", device(), 201),
    error_example(400, "validation_error", fields=[("tags[1]", "is repeated")]),
    error_example(409, "conflict", "A device with id 'device-12345' already exists."),
]
RENAME = {"alias": "Cold store sensor", "tags": ["sensor", "cold-store"]}
UPDATE = [
    request("New alias and tags", RENAME, media_type="application/merge-patch+json"),
    request("New alias and tags", RENAME),
    answer("The device", RENAMED),
    error_example(400, "validation_error", fields=[("status", "unknown field")]),
    STALE,
]
REPLACE = [
    request(
        "Every editable field",
        {
            "alias": "Cold store sensor",
            "tags": ["sensor", "cold-store"],
            "icon": "thermometer",
            "icon_color": "#FF5733",
            "dms_id": "dms-production",
        },
    ),
    answer("The device", RENAMED),
    STALE,
]
DELETE = [
    error_example(409, "conflict", "Device 'device-12345' is ACTIVE; decommission it first or delete with force."),
    NOT_FOUND,
]
DECOMMISSION = [NOT_FOUND, STALE]
IDENTITY_SLOT = [
    request("Provision version 1", IDENTITY),
    answer("The device, now active", PROVISIONED),
    error_example(409, "conflict", "Device 'device-12345' is decommissioned; its identity slot can no longer change."),
]
METADATA_REPLACE = [
    request("Replace", {"metadata": {"location": "warehouse-b", "floor": 2}}),
    answer("The device", METADATA_CHANGED),
    error_example(400, "validation_error", fields=[("metadata", "must be a JSON object")]),
]
PATCHES = [
    {"op": "replace", "path": "/location", "value": "warehouse-b"},
    {"op": "add", "path": "/floor", "value": 2},
]
METADATA_PATCH = [
    request("JSON Patch operations", {"patches": PATCHES}),
    answer("The device", METADATA_CHANGED),
    error_example(409, "conflict", "patches[0]: test failed: the metadata at /location differs from value"),
]
