"""Examples of the device group operations' bodies and answers, for the OpenAPI document."""

from devices.api.examples import CREATED, UPDATED, answer, request
from devmanager.api.schema import error_example

GROUP_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
PARENT_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CRITERIA = [{"field": "tags", "operand": "contains", "value": "temperature"}]
GROUP = {
    "id": GROUP_ID,
    "name": "Temperature sensors",
    "description": "",
    "parent_id": PARENT_ID,
    "criteria": CRITERIA,
    "q": "",
    "inherited_criteria": [{"field": "tags", "operand": "contains", "value": "production"}],
    "inherited_q": [],
    "created_at": CREATED,
    "updated_at": CREATED,
}

CREATE = [
    request("A child group", {"name": "Temperature sensors", "parent_id": PARENT_ID, "criteria": CRITERIA}),
    answer("The new group", GROUP, 201),
    error_example(400, "validation_error", fields=[("parent_id", f"no device group {PARENT_ID}")]),
    error_example(409, "conflict", "A sibling group is already named 'Temperature sensors'."),
]
UPDATE = [
    request("Rename and make it a root", {"name": "All temperature sensors", "parent_id": None}),
    answer(
        "The group",
        {
            **GROUP,
            "name": "All temperature sensors",
            "parent_id": None,
            "inherited_criteria": [],
            "updated_at": UPDATED,
        },
    ),
    error_example(
        400, "validation_error", fields=[("parent_id", "a group cannot move under itself or one of its descendants")]
    ),
    error_example(412, "precondition_failed", "If-Match does not match the current ETag."),
]
DELETE = [
    error_example(404, "not_found", f"No device group '{GROUP_ID}'."),
    error_example(412, "precondition_failed", "If-Match does not match the current ETag."),
]
