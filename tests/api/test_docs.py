import json
import re
from html.parser import HTMLParser

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from jsonschema import Draft7Validator

from tests.conftest import API, assert_error

pytestmark = pytest.mark.django_db

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
DOC_PAGES = ["/api/docs/", "/api/redoc/"]
ERROR_REF = "#/components/schemas/Error"


class ReferenceCollector(HTMLParser):
    """Every URL a page makes the browser fetch: `src` and `href` attributes, and ReDoc's `spec-url`."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.urls.append(value)


def referenced_urls(html: str) -> list[str]:
    collector = ReferenceCollector()
    collector.feed(html)
    return collector.urls


def page_html(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response.content.decode()


def doc_page_urls(client) -> list[str]:
    return [url for path in DOC_PAGES for url in referenced_urls(page_html(client, path))]


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def schema(anon_client) -> dict:
    response = anon_client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation


# --- Probes ----------------------------------------------------------------------------------------------------------


def test_healthz_answers_without_key(anon_client):
    response = anon_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_without_key(anon_client):
    response = anon_client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "databases": {"default": {"role": "primary", "state": "ok"}},
    }


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_head(anon_client, path):
    assert anon_client.head(path).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_ignore_bad_authorization(anon_client, path):
    assert anon_client.get(path, HTTP_AUTHORIZATION="Bearer not-a-key").status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/api/schema/", *DOC_PAGES])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_are_405_in_the_error_body(path, method):
    # As a browser or a script posts: with CSRF checks on, which must not turn the 405 into a 403.
    client = Client(enforce_csrf_checks=True)

    response = getattr(client, method)(path, "{}", content_type="application/json")

    assert_error(response, 405, "method_not_supported")
    assert response["Content-Type"] == "application/json"
    assert "GET" in response["Allow"]


# --- The OpenAPI document -------------------------------------------------------------------------------------------


def test_schema_answers_without_key(anon_client):
    response = anon_client.get("/api/schema/")

    assert response.status_code == 200
    assert response["X-Request-ID"]


def test_schema_is_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]
    assert schema["info"]["version"]


@pytest.mark.parametrize(("query", "accept"), [("?format=json", None), ("", "application/json")])
def test_schema_served_as_json_on_request(anon_client, query, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}

    response = anon_client.get(f"/api/schema/{query}", **headers)

    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    assert json.loads(response.content)["openapi"].startswith("3.")


@pytest.mark.parametrize("accept", ["text/html", "application/xml", ";;;", "application/json;q=abc"])
def test_schema_served_whatever_accept_says(anon_client, accept):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")


def test_schema_paths_are_absolute_api_paths(schema):
    paths = list(schema["paths"])

    assert f"{API}/devices" in paths
    assert f"{API}/devices/{{device_id}}" in paths
    assert all(path.startswith(f"{API}/") for path in paths), paths


def test_schema_declares_bearer_security_scheme(schema):
    schemes = schema["components"]["securitySchemes"]

    assert [(scheme["type"], scheme.get("scheme")) for scheme in schemes.values()].count(("http", "bearer")) == 1


def test_schema_every_operation_requires_bearer_or_session(schema):
    schemes = schema["components"]["securitySchemes"]
    bearer_name = next(name for name, scheme in schemes.items() if scheme.get("scheme") == "bearer")

    for name, operation in operations(schema):
        assert {bearer_name: []} in operation.get("security", schema.get("security", [])), name


def test_schema_every_response_declares_request_id_header(schema):
    for name, operation in operations(schema):
        for code, response in operation["responses"].items():
            header = response.get("headers", {}).get("X-Request-ID")
            assert header is not None, f"{name} {code}"
            assert header["required"] is True, f"{name} {code}"
            assert header["schema"]["maxLength"] == 32


@pytest.mark.parametrize("code", ["400", "401", "403", "414", "500"])
def test_schema_every_operation_declares_error_answer(schema, code):
    for name, operation in operations(schema):
        response = operation["responses"].get(code)
        assert response is not None, f"{name} lacks {code}"
        assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, name


def test_schema_every_401_declares_www_authenticate(schema):
    for name, operation in operations(schema):
        assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True, name


@pytest.mark.parametrize("path", [f"{API}/devices/{{device_id}}", f"{API}/device-groups/{{group_id}}"])
def test_schema_reads_of_a_resource_declare_etag_and_not_modified(schema, path):
    operation = schema["paths"][path]["get"]

    assert operation["responses"]["200"]["headers"]["ETag"]["required"] is True
    assert operation["responses"]["304"]["headers"]["ETag"]["required"] is True
    assert "content" not in operation["responses"]["304"]
    assert "If-None-Match" in [parameter["name"] for parameter in operation["parameters"]]


@pytest.mark.parametrize("path", [f"{API}/devices", f"{API}/device-groups"])
def test_schema_creations_declare_location_and_etag(schema, path):
    headers = schema["paths"][path]["post"]["responses"]["201"]["headers"]

    assert headers["Location"]["required"] is True and headers["ETag"]["required"] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [("put", f"{API}/devices/{{device_id}}/idslot"), ("put", f"{API}/devices/{{device_id}}/metadata"),
     ("patch", f"{API}/devices/{{device_id}}/metadata"), ("put", f"{API}/device-groups/{{group_id}}")],
)  # fmt: skip
def test_schema_writes_answering_the_resource_declare_its_etag(schema, method, path):
    assert schema["paths"][path][method]["responses"]["200"]["headers"]["ETag"]["required"] is True


def test_schema_operations_on_a_resource_declare_not_found(schema):
    for name, operation in operations(schema):
        if "{" in name:
            assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}


def test_schema_operations_taking_if_match_declare_precondition_failed(schema):
    # Found by tests/fuzz: the adapter routes honoured If-Match but did not document their 412.
    for name, operation in operations(schema):
        if any(parameter["name"] == "If-Match" for parameter in operation.get("parameters", [])):
            assert operation["responses"]["412"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, name


def test_schema_every_operation_has_a_unique_camel_case_operation_id(schema):
    ids = [operation["operationId"] for _, operation in operations(schema)]

    assert [name for name in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z]*)+", name)] == []
    assert len(set(ids)) == len(ids)
    assert {"listDevices", "getDevice", "createDevice", "updateDevice", "deleteDevice", "updateDeviceMetadata",
            "listDeviceGroupMembers", "listDeviceEvents"} <= set(ids)  # fmt: skip


def test_schema_names_each_path_parameter_after_what_it_names(schema):
    """The same thing has the same parameter name in every path, so that generated signatures agree."""
    names = {"devices": "device_id", "device-groups": "group_id", "network-adapters": "adapter_id", "dms": "dms_id",
             "device-actions": "job_id", "webhooks": "webhook_id", "api-keys": "key_id"}  # fmt: skip
    for path in schema["paths"]:
        for collection, parameter in re.findall(r"([\w-]+)/\{(\w+)\}", path):
            assert parameter == names[collection], path


def answer_examples(operation: dict, success: bool) -> list:
    """The examples of an operation's successful (2xx) or failed answers."""
    return [
        example
        for code, response in operation["responses"].items()
        if code.startswith("2") == success
        for media_type in response.get("content", {}).values()
        for example in media_type.get("examples", {}).values()
    ]


def test_schema_every_write_has_examples_and_states_its_rules(schema):
    for name, operation in operations(schema):
        if name.split()[0] not in ("POST", "PUT", "PATCH", "DELETE"):
            continue
        assert ":write`" in operation["description"], name  # the scope it needs
        for media_type in operation.get("requestBody", {}).get("content", {}).values():
            assert media_type.get("examples"), f"{name}: no example body"
        # A DELETE answers no body when it succeeds: its example is the error its rules make likely.
        assert answer_examples(operation, success=True) or name.startswith("DELETE"), f"{name}: no example answer"
        assert answer_examples(operation, success=False), f"{name}: no example of an error"


def as_json_schema(node):
    """An OpenAPI 3.0 schema as JSON Schema: `nullable: true` becomes a choice of the schema or null."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_json_schema(value) for key, value in node.items()}
    return {"anyOf": [converted, {"type": "null"}]} if converted.pop("nullable", False) else converted


def example_errors(schema: dict, media_type: dict, value) -> list[str]:
    """Where the value breaks the media type's schema (its references read in the document's components)."""
    validator = Draft7Validator(
        {**as_json_schema(media_type["schema"]), "components": as_json_schema(schema["components"])}
    )
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(value)]


def test_schema_every_example_is_valid_for_its_schema(schema):
    checked = 0
    for name, operation in operations(schema):
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(code, answer) for code, answer in operation["responses"].items()]
        for where, body in bodies:
            for media_type in body.get("content", {}).values():
                for title, example in media_type.get("examples", {}).items():
                    errors = example_errors(schema, media_type, example["value"])
                    assert not errors, f"{name}, {where}, example {title!r}: {errors}"
                    checked += 1

    assert checked >= 60  # the request and answer examples of every write, and more


def test_the_example_check_finds_a_wrong_example(schema):
    media_type = schema["paths"][f"{API}/devices"]["post"]["requestBody"]["content"]["application/json"]

    assert example_errors(schema, media_type, {"id": "d-1", "tags": "not-a-list"})
    assert example_errors(schema, media_type, {"id": "d-1"}) == []


def test_schema_stats_declares_filter_parameter(schema):
    # Found while fuzzing: /stats honours `filter`, but the document did not say so, so no client could know.
    parameters = {parameter["name"]: parameter for parameter in schema["paths"][f"{API}/stats"]["get"]["parameters"]}

    assert parameters["filter"]["in"] == "query"
    assert parameters["filter"]["schema"] == {"type": "array", "items": {"type": "string"}}


def test_schema_error_component_matches_error_body(schema):
    error = schema["components"]["schemas"]["Error"]

    assert set(error["required"]) == {"object", "code", "type", "message", "fields", "request_id"}
    assert error["properties"]["fields"]["type"] == "array"


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert yaml.safe_load((tmp_path / "schema.yaml").read_text())["openapi"].startswith("3.")


# --- Swagger UI and ReDoc --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOC_PAGES)
def test_doc_page_answers_without_key(anon_client, path):
    response = anon_client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert response["X-Request-ID"]


@pytest.mark.parametrize("path", DOC_PAGES)
def test_doc_page_references_no_external_host(anon_client, path):
    html = page_html(anon_client, path)

    external = [url for url in re.findall(r"(?:https?:)?//[^\s\"'<>)]+", html) if "//testserver" not in url]
    assert external == []
    assert "fonts.googleapis" not in html
    assert "fonts.gstatic" not in html


@pytest.mark.parametrize("path", DOC_PAGES)
def test_doc_page_references_only_local_paths(anon_client, path):
    urls = referenced_urls(page_html(anon_client, path))

    assert urls
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls


def test_redoc_page_loads_its_script_and_schema(anon_client):
    urls = referenced_urls(page_html(anon_client, "/api/redoc/"))

    assert "/api/schema/" in urls
    assert any(url.endswith("redoc.standalone.js") for url in urls)


def test_swagger_page_loads_its_bundle_and_styles(anon_client):
    html = page_html(anon_client, "/api/docs/")
    urls = referenced_urls(html)

    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    assert any(url.endswith("swagger-ui.css") for url in urls)
    assert '"/api/schema/"' in html


@pytest.mark.parametrize("path", DOC_PAGES)
def test_doc_page_assets_served_locally(anon_client, path):
    for url in referenced_urls(page_html(anon_client, path)):
        response = anon_client.get(url)

        assert response.status_code == 200, url
        assert body_of(response), url


def test_doc_assets_have_their_content_types(anon_client):
    urls = [url for url in doc_page_urls(anon_client) if url.startswith("/static/")]
    types = {url.rsplit(".", 1)[-1]: anon_client.get(url)["Content-Type"] for url in urls}

    assert types["js"].startswith("text/javascript") or types["js"].startswith("application/javascript")
    assert types["css"].startswith("text/css")


def test_doc_assets_pull_in_no_web_fonts(anon_client):
    """The stylesheets and scripts the pages load do not fetch fonts from the internet either."""
    for url in doc_page_urls(anon_client):
        content = body_of(anon_client.get(url))

        assert b"fonts.googleapis" not in content, url
        assert b"fonts.gstatic" not in content, url


@pytest.mark.parametrize(
    ("path", "parameters"),
    [
        ("/api/devmanager/v1/devices", {"filter", "q", "search"}),
        ("/api/devmanager/v1/devices/dms/{dms_id}", {"filter", "q", "search"}),
        ("/api/devmanager/v1/device-groups/{group_id}/devices", {"filter", "q", "search"}),
        ("/api/devmanager/v1/stats", {"filter", "q", "group_by", "limit"}),
        ("/api/devmanager/v1/device-groups/{group_id}/stats", {"filter", "q", "group_by", "limit"}),
    ],
)
def test_schema_declares_q_and_group_by_where_they_are_taken(schema, path, parameters):
    declared = {parameter["name"] for parameter in schema["paths"][path]["get"]["parameters"]}

    assert parameters <= declared


def test_schema_declares_the_group_by_answer(schema):
    responses = schema["paths"]["/api/devmanager/v1/stats"]["get"]["responses"]["200"]["content"]
    answer = responses["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    shapes = [shape["$ref"].rsplit("/", 1)[1] for shape in schema["components"]["schemas"][answer]["oneOf"]]

    assert {"total", "group_by", "buckets", "other"} <= set(schema["components"]["schemas"][shapes[1]]["properties"])


def test_schema_every_operation_states_the_scopes_its_view_checks():
    # The description names each scope `HasScope` asks of a key for the operation: hand-written ones (the writes)
    # are checked against the permission itself; the others get a line made from it (devmanager/api/schema.py).
    from types import SimpleNamespace

    from drf_spectacular.generators import SchemaGenerator

    from devmanager.api.permissions import required_scopes

    generator = SchemaGenerator()
    schema = generator.get_schema(request=None, public=True)
    checked = 0
    for path, _, method, callback in generator.endpoints:
        view = generator.create_view(callback, method)
        if getattr(view, "scope_resource", None) is None:
            continue
        description = schema["paths"][path][method.lower()].get("description", "")
        for scope in required_scopes(SimpleNamespace(method=method), view):
            assert f"`{scope}`" in description, f"{method} {path} does not name {scope}"
        checked += 1
    assert checked >= 40
