"""Examples of the network adapter operations' bodies and answers, for the OpenAPI document."""

from devices.api.examples import CREATED, UPDATED, answer, request
from devmanager.api.schema import error_example

CELLULAR = {
    "id": "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b",
    "type": "cellular",
    "device_id": "device-12345",
    "imei": "356938035643809",
    "iccid": "8944501234567890123",
    "imsi": "262011234567890",
    "msisdn": "+491701234567",
    "created_at": CREATED,
    "updated_at": CREATED,
}

CREATE = [
    request(
        "A cellular modem",
        {"type": "cellular", "imei": "356938035643809", "iccid": "8944501234567890123", "msisdn": "+491701234567"},
    ),
    request("A LoRa radio (camelCase accepted)", {"type": "lora", "devEui": "70B3D57ED0001234", "activation": "OTAA"}),
    answer("The new adapter", CELLULAR, 201),
    error_example(400, "validation_error", fields=[("imei", "has an invalid check digit (Luhn)")]),
    error_example(409, "conflict", "Another adapter already has imei 356938035643809."),
]
UPDATE = [
    request("A new SIM", {"iccid": "8944509876543210987", "msisdn": "+491709876543"}),
    answer(
        "The adapter",
        {**CELLULAR, "iccid": "8944509876543210987", "msisdn": "+491709876543", "updated_at": UPDATED},
    ),
    error_example(400, "validation_error", fields=[("imei", "an adapter's identifier cannot change")]),
]
DELETE = [error_example(404, "not_found", f"No network adapter {CELLULAR['id']!r} on device 'device-12345'.")]
