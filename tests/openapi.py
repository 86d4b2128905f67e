"""Answers checked against the OpenAPI document the app serves, with schemathesis' own checks.

The fuzz run (tests/fuzz) applies these checks to generated requests; `assert_conforms` applies them to one answer
of the test client, so a regression test pins what the fuzzer once found."""

import functools
import re

import requests
import schemathesis
import yaml
from django.test import Client, override_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)


@schemathesis.check
def request_id_header(ctx, response, case):
    """The contract: every answer, success or error, carries X-Request-ID (at most 32 characters)."""
    values = response.headers.get("x-request-id")
    if not values or not 0 < len(values[0]) <= 32:
        raise AssertionError(f"X-Request-ID missing or malformed: {values!r}")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    request_id_header,
]


@functools.cache
def served_schema() -> schemathesis.BaseSchema:
    """The document at /api/schema/ (the same for every test: it depends on the code, not on the data)."""
    with override_settings(DEVMANAGER_REQUIRE_HTTPS=False):
        response = Client().get("/api/schema/")
    assert response.status_code == 200, response.content
    return schemathesis.openapi.from_dict(yaml.safe_load(response.content))


def assert_conforms(response, path_template: str) -> None:
    """The test client's `response` to the operation at `path_template` is documented: status code, content type,
    body (the error body included) and headers, with X-Request-ID."""
    method, path = response.request["REQUEST_METHOD"], response.request["PATH_INFO"]
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path_template))
    parameters = re.fullmatch(pattern, path)
    assert parameters is not None, f"{path} is not an instance of {path_template}"
    answer = schemathesis.Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.items()},
        content=response.content,
        request=requests.Request(method, f"http://testserver{path}").prepare(),
        elapsed=0.0,
        verify=True,
    )
    case = served_schema()[path_template][method].Case(path_parameters=parameters.groupdict())
    case.validate_response(answer, checks=CHECKS)
