"""Examples of the fleet action operations' bodies and answers, for the OpenAPI document."""

from devices.api.examples import CREATED, answer, request
from devmanager.api.schema import error_example

JOB_ID = "d4f1e2c3-b5a6-4978-8c9d-0e1f2a3b4c5d"
SELECTION = {"action": "add_tags", "params": {"tags": ["recall-2026"]}, "filter": ["dms_owner[eq]:dms-production"]}
CONFIRMATION = "eyJhIjoiYWRkX3RhZ3MifQ:1tVxYz:Qk3rX9"
JOB = {
    "id": JOB_ID,
    **SELECTION,
    "q": "",
    "status": "queued",
    "message": "",
    "total": 0,
    "processed": 0,
    "succeeded": 0,
    "failed": 0,
    "errors": [],
    "created_at": CREATED,
    "started_at": None,
    "finished_at": None,
    "actor": "key:ops-bot",
}

RUN = [
    request("A dry run", {**SELECTION, "dry_run": True}),
    request("The job, confirmed by the dry run", {**SELECTION, "confirmation": CONFIRMATION}),
    answer("The dry run", {"count": 1250, "sample": ["device-00001", "device-00002"], "confirmation": CONFIRMATION}),
    answer("The job, queued", JOB, 202),
    error_example(
        400,
        "validation_error",
        fields=[
            (
                "confirmation",
                "the selection matches 1250 devices: acting on more than one needs the confirmation of a dry run",
            )
        ],
    ),
]
CANCEL = [
    answer("The job, cancelled", {**JOB, "status": "cancelled", "finished_at": CREATED}, 202),
    error_example(409, "conflict", "The job has already finished (succeeded)."),
]
