import logging
import uuid

import pytest
from django.test import Client

from devices import services
from devices.models import Device
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

DEVICES = f"{API}/devices"


def raise_runtime_error(**kwargs):
    raise RuntimeError("boom: secret internal detail")


@pytest.fixture
def crashing_create(monkeypatch):
    """Make `POST /devices` hit a bug."""
    monkeypatch.setattr(services, "device_create", raise_runtime_error)


@pytest.fixture
def raw_client(api_key):
    """A keyed Django client that answers a view's exception like production does, instead of re-raising it."""
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {api_key()}")


# --- X-Request-ID ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status_code"),
    [
        ("/healthz", 200),
        ("/readyz", 200),
        (DEVICES, 401),
        (f"{DEVICES}/no-such-device", 401),
        ("/no/such/url", 404),
        (f"{API}/no-such-resource", 404),
        ("/api/schema/", 200),
        ("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css", 200),
    ],
)
def test_request_id_on_every_response_without_key(anon_client, path, status_code):
    response = anon_client.get(path)

    assert response.status_code == status_code
    assert 0 < len(response["X-Request-ID"]) <= 32


@pytest.mark.parametrize(
    ("method", "path", "status_code"),
    [
        ("get", DEVICES, 200),
        ("get", f"{DEVICES}/d1", 200),
        ("get", f"{DEVICES}/missing", 404),
        ("get", f"{API}/stats", 200),
        ("post", DEVICES, 201),
        ("post", f"{DEVICES}/d1", 405),
        ("delete", f"{DEVICES}/d1/decommission", 204),
        ("get", f"{DEVICES}?page_size=0", 400),
    ],
)
def test_request_id_on_every_response_with_key(api_client, method, path, status_code):
    DeviceFactory.create(id="d1")

    response = getattr(api_client, method)(path, {"id": "d2"} if method == "post" else None, format="json")

    assert response.status_code == status_code
    assert 0 < len(response["X-Request-ID"]) <= 32


def test_request_id_differs_per_request(anon_client):
    ids = {anon_client.get("/healthz")["X-Request-ID"] for _ in range(20)}

    assert len(ids) == 20


def test_request_id_assigned_by_server_not_client(anon_client):
    response = anon_client.get("/healthz", HTTP_X_REQUEST_ID="client-chosen-id")

    assert response["X-Request-ID"] != "client-chosen-id"


def test_request_id_in_error_body_matches_header(anon_client):
    response = anon_client.get(DEVICES)

    assert response.json()["request_id"] == response["X-Request-ID"]


# --- Error bodies of unknown URLs, resources and methods -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/no/such/url", f"{API}/no-such-resource", f"{DEVICES}/d1/no-such-action", "/api/"])
def test_unknown_url_unrecognized_request(anon_client, path):
    response = anon_client.get(path)

    body = assert_error(response, 404, "unrecognized_request")
    assert body["fields"] == []
    assert response["Content-Type"] == "application/json"


def test_unknown_url_with_key_unrecognized_request(api_client):
    response = api_client.post(f"{API}/no-such-resource", {"x": 1}, format="json")

    assert_error(response, 404, "unrecognized_request")


def test_unknown_device_not_found(api_client):
    response = api_client.get(f"{DEVICES}/no-such-device")

    body = assert_error(response, 404, "not_found")
    assert body["fields"] == []


def test_unknown_device_delete_not_found(api_client):
    response = api_client.delete(f"{DEVICES}/no-such-device")

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", f"{DEVICES}/x/events"),
        ("patch", f"{API}/stats"),
        ("post", f"{DEVICES}/x"),
        ("put", DEVICES),
        ("delete", DEVICES),
        ("post", f"{API}/stats"),
    ],
)
def test_wrong_method_method_not_supported(api_client, method, path):
    response = getattr(api_client, method)(path, {}, format="json")

    assert_error(response, 405, "method_not_supported")
    assert "GET" in response["Allow"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_wrong_method_on_probe_method_not_supported(anon_client, path):
    response = anon_client.post(path)

    assert_error(response, 405, "method_not_supported")
    assert "GET" in response["Allow"]


def test_wrong_method_leaves_device_alone(api_client):
    DeviceFactory.create(id="x", alias="before")

    api_client.post(f"{DEVICES}/x", {"alias": "after"}, format="json")

    assert Device.objects.get(pk="x").alias == "before"


# --- Bodies -----------------------------------------------------------------------------------------------------------


def test_body_over_limit_payload_too_large(api_client, settings):
    settings.DEVMANAGER_MAX_BODY_BYTES = 200
    body = {"id": "d1", "alias": "x" * 250}

    response = api_client.post(DEVICES, body, format="json")

    assert_error(response, 413, "payload_too_large")
    assert not Device.objects.exists()


def test_body_at_limit_accepted(api_client, settings):
    body = b'{"id": "d1", "alias": "' + b"x" * 100 + b'"}'
    settings.DEVMANAGER_MAX_BODY_BYTES = len(body)

    response = api_client.generic("POST", DEVICES, body, content_type="application/json")

    assert response.status_code == 201
    assert Device.objects.filter(pk="d1").exists()


def test_body_over_default_limit_payload_too_large(api_client):
    body = {"id": "d1", "metadata": {"blob": "x" * (1024 * 1024)}}

    response = api_client.post(DEVICES, body, format="json")

    assert_error(response, 413, "payload_too_large")
    assert not Device.objects.exists()


def test_content_length_not_a_number_bad_request(api_client):
    response = api_client.generic(
        "POST", DEVICES, b'{"id": "d1"}', content_type="application/json", CONTENT_LENGTH="twelve"
    )

    assert_error(response, 400, "bad_request")
    assert not Device.objects.exists()


def test_content_length_header_spelled_with_underscore_not_a_number_bad_request(api_client):
    # Found by tests/fuzz: a `Content_Length: x` header reaches the app as HTTP_CONTENT_LENGTH (through servers that
    # keep underscores), and the metrics middleware read it as Content-Length: a 500.
    response = api_client.generic(
        "POST", DEVICES, b'{"id": "d1"}', content_type="application/json", HTTP_CONTENT_LENGTH="LDd~Sa$yD="
    )

    assert_error(response, 400, "bad_request")
    assert not Device.objects.exists()


@pytest.mark.parametrize("body", [b"{", b'{"id": "d1",}', b"not json", b'{"id": NaN}', b"[" * 100_000, b"\xff\xfe"])
def test_malformed_json_bad_request(api_client, body):
    response = api_client.generic("POST", DEVICES, body, content_type="application/json")

    assert_error(response, 400, "bad_request")
    assert not Device.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
def test_wrong_content_type_bad_request(api_client, content_type):
    response = api_client.generic("POST", DEVICES, b'{"id": "d1"}', content_type=content_type)

    assert_error(response, 400, "bad_request")
    assert not Device.objects.exists()


# --- Bugs ----------------------------------------------------------------------------------------------------------


def test_unexpected_exception_internal_server_error(raw_client, crashing_create):
    response = raw_client.post(DEVICES, {"id": "d1"}, content_type="application/json")

    body = assert_error(response, 500, "internal_server_error")
    assert body["fields"] == []
    assert response["Content-Type"] == "application/json"
    for leak in ("Traceback", "RuntimeError", "secret internal detail", 'File "'):
        assert leak not in response.content.decode()


def test_unexpected_exception_no_stack_trace_with_debug(raw_client, crashing_create, settings):
    settings.DEBUG = True

    response = raw_client.post(DEVICES, {"id": "d1"}, content_type="application/json")

    assert_error(response, 500, "internal_server_error")
    for leak in ("Traceback", "RuntimeError", "secret internal detail", "<html", 'File "'):
        assert leak not in response.content.decode()


def test_unexpected_exception_logged_with_request_id(raw_client, crashing_create, request_log):
    response = raw_client.post(DEVICES, {"id": "d1"}, content_type="application/json")

    errors = [record for record in request_log.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, "the bug is logged once, with its traceback"
    assert errors[0].request_id == response["X-Request-ID"]
    assert errors[0].exc_info[0] is RuntimeError


# --- Logging -------------------------------------------------------------------------------------------------------


def test_log_lines_carry_request_id(api_client, caplog):
    caplog.set_level(logging.INFO)

    response = api_client.get(DEVICES)

    access = [record for record in caplog.records if record.name == "devmanager.access"]
    assert len(access) == 1
    assert access[0].request_id == response["X-Request-ID"]
    assert f"GET {DEVICES} 200" in access[0].getMessage()


def test_log_lines_inside_view_carry_request_id(api_client, caplog, monkeypatch):
    original = services.device_create

    def logging_create(**kwargs):
        logging.getLogger("devices.services").warning("creating %s", kwargs["id"])
        return original(**kwargs)

    monkeypatch.setattr(services, "device_create", logging_create)
    caplog.set_level(logging.INFO)

    response = api_client.post(DEVICES, {"id": "d1"}, format="json")

    assert response.status_code == 201
    request_records = [record for record in caplog.records if record.name in ("devices.services", "devmanager.access")]
    assert len(request_records) == 2
    assert {record.request_id for record in request_records} == {response["X-Request-ID"]}


def test_log_lines_of_error_carry_request_id(anon_client, caplog):
    caplog.set_level(logging.INFO)

    response = anon_client.get("/no/such/url")

    assert [record.request_id for record in caplog.records if record.name == "devmanager.access"] == [
        response["X-Request-ID"]
    ]


def test_log_lines_outside_request_have_placeholder_id(caplog):
    caplog.set_level(logging.INFO)

    logging.getLogger("devmanager.test").info("outside any request")

    assert caplog.records[-1].request_id == "-"


def test_log_lines_of_consecutive_requests_carry_their_own_id(anon_client, caplog):
    caplog.set_level(logging.INFO)

    first = anon_client.get("/healthz")
    second = anon_client.get("/healthz")

    access = [record.request_id for record in caplog.records if record.name == "devmanager.access"]
    assert access == [first["X-Request-ID"], second["X-Request-ID"]]


def test_console_log_format_shows_request_id(anon_client, console_output):
    response = anon_client.get("/healthz")

    assert f"[{response['X-Request-ID']}] devmanager.access: GET /healthz 200" in console_output.getvalue()


def test_console_log_of_bug_shows_request_id_on_every_line(raw_client, crashing_create, console_output):
    response = raw_client.post(DEVICES, {"id": "d1"}, content_type="application/json")

    output = console_output.getvalue()
    assert output.count(" django.request: ") == 1
    assert f"ERROR [{response['X-Request-ID']}] django.request: Internal Server Error: {DEVICES}" in output
    assert "RuntimeError: boom" in output  # the traceback goes to the log, never to the client
    assert "[-]" not in output


# --- Content negotiation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/html,application/xhtml+xml;q=0.9", "*/*"])
def test_any_accept_header_gets_json(api_client, accept):
    DeviceFactory.create(id="d1")

    response = api_client.get(f"{DEVICES}/d1", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["id"] == "d1"


@pytest.mark.parametrize(
    "accept",
    ["", ";;;", "application/json;q=abc", "application/json; indent=x", "*/*; indent=99999999999", "/", "a/b/c, ,"],
)
def test_malformed_accept_header_gets_json(api_client, accept):
    response = api_client.get(f"{API}/stats", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response.json()["total"] == 0


@pytest.mark.parametrize("accept", ["text/html", "application/xml"])
def test_any_accept_header_gets_json_error(api_client, accept):
    response = api_client.get(f"{DEVICES}/missing", HTTP_ACCEPT=accept)

    assert_error(response, 404, "not_found")
    assert response["Content-Type"] == "application/json"


def test_format_query_parameter_never_not_acceptable(api_client):
    response = api_client.get(f"{API}/stats?format=xml")

    assert response.status_code != 406
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\uDC00x"])
def test_lone_surrogate_escape_bad_request(api_client, escape):
    body = '{"id": "dev-s", "metadata": {"x": "' + escape + '"}}'

    response = api_client.post(f"{API}/devices", body, content_type="application/json")

    assert_error(response, 400, "bad_request")
    assert not Device.objects.filter(pk="dev-s").exists()


def test_paired_surrogate_escape_stored(api_client):
    body = '{"id": "dev-s", "metadata": {"x": "\\ud83d\\ude00"}}'

    response = api_client.post(f"{API}/devices", body, content_type="application/json")

    assert response.status_code == 201, response.content
    assert Device.objects.get(pk="dev-s").metadata == {"x": "\U0001f600"}


# --- Messages speak the API's words and never echo stored data ----------------------------------------------------

SECRET = "stored-secret-value-7f3a"
INTERNALS = ("<class", "Traceback", "DeviceGroup", "NetworkAdapter", "DoesNotExist", "dict", "str'", "int'")


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "test", "path": "/secret", "value": "guess"},
        {"op": "test", "path": "/nested", "value": {"k": 1}},
        {"op": "remove", "path": "/missing/deeper"},
        {"op": "replace", "path": "/missing", "value": 1},
        {"op": "add", "path": "/secret/0", "value": 1},
        {"op": "add", "path": "/count/x", "value": 1},
        {"op": "move", "from": "/missing", "path": "/x"},
        {"op": "copy", "from": "/secret", "path": "/nested/a/b"},
        {"op": "remove", "path": "/nested/list/9"},
    ],
)
def test_patch_conflicts_never_quote_the_metadata(api_client, operation):
    DeviceFactory(id="d-1", metadata={"secret": SECRET, "nested": {"list": [SECRET]}, "count": 3})

    response = api_client.patch(f"{DEVICES}/d-1/metadata", {"patches": [operation]}, format="json")

    body = assert_error(response, 409, "conflict")
    assert body["message"].startswith("patches[0]: ")
    assert SECRET not in body["message"]
    assert not any(internal in body["message"] for internal in INTERNALS), body["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{API}/device-groups", {"name": "g", "criteria": {"field": "tags"}}),
        (f"{DEVICES}", {"id": "x", "tags": "sensor"}),
        (f"{DEVICES}", [{"id": "x"}]),
        (f"{DEVICES}", "just text"),
        (f"{DEVICES}/d-1/idslot", {"status": "ACTIVE", "active_version": 1, "type": "X509", "versions": [1]}),
    ],
)
def test_type_errors_name_json_types_not_python_ones(api_client, path, body):
    DeviceFactory(id="d-1")

    response = (
        api_client.put(path, body, format="json") if "idslot" in path else api_client.post(path, body, format="json")
    )

    error = assert_error(response, 400, "validation_error")
    assert "must be " in error["message"]
    assert not any(internal in error["message"] for internal in INTERNALS), error["message"]


def test_missing_group_404_names_no_model(api_client):
    body = assert_error(api_client.get(f"{API}/device-groups/{uuid.uuid4()}"), 404, "not_found")

    assert "DeviceGroup" not in body["message"]
    assert "device group" in body["message"]


def test_body_not_utf8_is_400_without_codec_internals(api_client):
    response = api_client.post(DEVICES, b'{"id": "\xff"}', content_type="application/json")

    body = assert_error(response, 400, "bad_request")
    assert "codec" not in body["message"] and "utf-8" in body["message"]


@pytest.mark.parametrize(
    "path",
    ["/devices/dms/a%00b", "/devices/a%00b", "/devices/a%00b/events", "/devices/a%00b/device-groups",
     "/devices/a%00b/network-adapters", "/device-groups/a%00b/devices"],
)  # fmt: skip
def test_path_with_nul_names_nothing(api_client, path):
    # Found by hand: /devices/dms/a%00b was a 500 on PostgreSQL, which cannot compare text with U+0000.
    assert_error(api_client.get(f"{API}{path}"), 404, "not_found")


def test_404_quotes_at_most_100_characters_of_the_path(api_client):
    body = assert_error(api_client.get(f"{DEVICES}/{'x' * 5000}"), 404, "not_found")

    assert len(body["message"]) < 150
