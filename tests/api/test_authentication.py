import hashlib
import logging
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from devices.models import Device, DeviceEvent
from devmanager.api.models import SCOPES, ApiKey
from devmanager.api.services import api_key_revoke
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

DEVICES = f"{API}/devices"
KEY_SHAPE = re.compile(r"ak_[0-9a-f]{32}")
UNKNOWN_KEY = "ak_" + "0" * 32


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def create_key_with_command(*args) -> str:
    """Run create_api_key and return its stdout (the key is its last line)."""
    stdout, stderr = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue()


# --- The Authorization header --------------------------------------------------------------------------------------


def test_missing_authorization_invalid_auth(anon_client):
    response = anon_client.get(DEVICES)

    assert_error(response, 401, "invalid_auth")
    assert response["WWW-Authenticate"] == "Bearer"


def test_missing_authorization_write_invalid_auth(anon_client):
    response = anon_client.post(DEVICES, {"id": "d1"}, format="json")

    assert_error(response, 401, "invalid_auth")
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNzd29yZA==",
        "Token ak_" + "a" * 32,
        "ak_" + "a" * 32,
        "Bearer",
        "Bearer ",
        "",
    ],
)
def test_authorization_not_bearer_invalid_auth(anon_client, header):
    response = anon_client.get(DEVICES, HTTP_AUTHORIZATION=header)

    assert_error(response, 401, "invalid_auth")
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-key",
        "ak_" + "a" * 31,
        "ak_" + "a" * 33,
        "ak_" + "A" * 32,
        "ak_" + "g" * 32,
        "AK_" + "a" * 32,
        "xk_" + "a" * 32,
        "ak_" + "a" * 32 + " extra",
        "ak_" + "é" * 32,
    ],
)
def test_bearer_token_not_key_shaped_invalid_auth(token):
    response = bearer_client(token).get(DEVICES)

    assert_error(response, 401, "invalid_auth")


def test_unknown_key_invalid_apikey():
    response = bearer_client(UNKNOWN_KEY).get(DEVICES)

    assert_error(response, 401, "invalid_apikey")
    assert response["WWW-Authenticate"] == "Bearer"


def test_revoked_key_invalid_apikey(api_key):
    plaintext = api_key(name="revoked")
    api_key_revoke(key=ApiKey.objects.get(name="revoked"))

    response = bearer_client(plaintext).get(DEVICES)

    assert_error(response, 401, "invalid_apikey")


def test_revoked_key_write_refused_nothing_created(api_key):
    plaintext = api_key(name="revoked")
    api_key_revoke(key=ApiKey.objects.get(name="revoked"))

    response = bearer_client(plaintext).post(DEVICES, {"id": "d1"}, format="json")

    assert_error(response, 401, "invalid_apikey")
    assert not Device.objects.exists()


def test_expired_key_invalid_apikey(api_key):
    plaintext = api_key(expires_at=timezone.now() - timedelta(seconds=1))

    response = bearer_client(plaintext).get(DEVICES)

    assert_error(response, 401, "invalid_apikey")


def test_key_expiring_later_accepted(api_key):
    plaintext = api_key(expires_at=timezone.now() + timedelta(hours=1))

    response = bearer_client(plaintext).get(DEVICES)

    assert response.status_code == 200


def test_bearer_scheme_case_insensitive(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {api_key()}")

    assert client.get(DEVICES).status_code == 200


def test_valid_key_records_its_name_as_event_source(api_key):
    client = bearer_client(api_key(name="provisioning-service"))

    response = client.post(DEVICES, {"id": "d1"}, format="json")

    assert response.status_code == 201
    assert DeviceEvent.objects.get(device_id="d1").source == "provisioning-service"


# --- Scopes ----------------------------------------------------------------------------------------------------------


def test_read_scope_write_access_denied(client_with_scopes):
    response = client_with_scopes("devices:read").post(DEVICES, {"id": "d1"}, format="json")

    assert_error(response, 403, "access_denied")
    assert not Device.objects.exists()


def test_read_scope_delete_access_denied(client_with_scopes):
    DeviceFactory.create(id="d1")

    response = client_with_scopes("devices:read").delete(f"{DEVICES}/d1?force=true")

    assert_error(response, 403, "access_denied")
    assert Device.objects.filter(pk="d1").exists()


@pytest.mark.parametrize("scopes", [("groups:read",), ("groups:read", "groups:write")])
def test_groups_scopes_device_read_access_denied(client_with_scopes, scopes):
    response = client_with_scopes(*scopes).get(DEVICES)

    assert_error(response, 403, "access_denied")


def test_groups_scopes_stats_access_denied(client_with_scopes):
    response = client_with_scopes("groups:read", "groups:write").get(f"{API}/stats")

    assert_error(response, 403, "access_denied")


def test_read_scope_allows_reads(client_with_scopes):
    DeviceFactory.create(id="d1")
    client = client_with_scopes("devices:read")

    assert client.get(DEVICES).status_code == 200
    assert client.get(f"{DEVICES}/d1").status_code == 200
    assert client.get(f"{API}/stats").status_code == 200


def test_write_scope_implies_read(client_with_scopes):
    DeviceFactory.create(id="d1")
    client = client_with_scopes("devices:write")

    assert client.get(DEVICES).status_code == 200
    assert client.get(f"{DEVICES}/d1").status_code == 200


def test_write_scope_allows_writes(client_with_scopes):
    response = client_with_scopes("devices:write").post(DEVICES, {"id": "d1"}, format="json")

    assert response.status_code == 201
    assert Device.objects.filter(pk="d1").exists()


def test_key_without_scopes_access_denied(client_with_scopes):
    response = client_with_scopes().get(DEVICES)

    assert_error(response, 403, "access_denied")


def test_scope_refusal_names_missing_scope(client_with_scopes):
    response = client_with_scopes("devices:read").post(DEVICES, {"id": "d1"}, format="json")

    assert "devices:write" in assert_error(response, 403, "access_denied")["message"]


# --- Keys in the URL -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "x=ak_" + "0123456789abcdef" * 2,
        "api_key=ak_" + "0123456789abcdef" * 2,
        "page_size=5&x=ak_" + "0123456789abcdef" * 2,
        "filter=id[eq]a&filter=id[eq]ak_" + "0123456789abcdef" * 2,
    ],
)
def test_key_in_query_string_bad_request_without_auth(anon_client, query):
    response = anon_client.get(f"{DEVICES}?{query}")

    assert_error(response, 400, "bad_request")


def test_key_in_query_string_names_parameter(anon_client):
    response = anon_client.get(f"{DEVICES}?page_size=5&token=ak_{'ab' * 16}")

    body = assert_error(response, 400, "bad_request", field="token")
    assert "ak_" + "ab" * 16 not in response.content.decode()
    assert [item["name"] for item in body["fields"]] == ["token"]


def test_key_in_query_string_bad_request_with_valid_header(api_client, api_key):
    response = api_client.get(f"{DEVICES}?x={api_key(name='leaked')}")

    assert_error(response, 400, "bad_request")


def test_key_in_query_string_of_write_nothing_created(api_client):
    response = api_client.post(f"{DEVICES}?x=ak_{'ab' * 16}", {"id": "d1"}, format="json")

    assert_error(response, 400, "bad_request")
    assert not Device.objects.exists()


def test_key_in_query_string_of_unknown_url_bad_request(anon_client):
    response = anon_client.get(f"/no/such/page?x=ak_{'ab' * 16}")

    assert_error(response, 400, "bad_request")


@pytest.mark.parametrize("value", ["ak_" + "ab" * 15, "ak_" + "AB" * 16, "ak-" + "ab" * 16])
def test_query_value_not_key_shaped_not_refused(api_client, value):
    response = api_client.get(f"{API}/stats?filter=id[eq]:{value}")

    assert response.status_code == 200


def test_key_in_query_string_never_logged(anon_client, api_key, request_log, console_output):
    plaintext = api_key(name="leaked")

    anon_client.get(f"{DEVICES}?x={plaintext}")

    assert request_log.records  # the request was logged, just not its key
    assert all(plaintext not in record.getMessage() for record in request_log.records)
    assert plaintext not in request_log.text
    assert "devmanager.access: GET /api/devmanager/v1/devices?[REDACTED] 400" in console_output.getvalue()
    assert plaintext not in console_output.getvalue()


def test_key_in_query_string_never_reaches_any_handler(anon_client, api_key):
    """Redaction must not depend on handler order: a handler on the access logger itself sees no key either."""
    plaintext = api_key(name="leaked")
    seen = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger("devmanager.access")
    logger.addHandler(handler)
    try:
        anon_client.get(f"{DEVICES}?x={plaintext}&y=1")
    finally:
        logger.removeHandler(handler)

    assert seen
    assert all(plaintext not in message for message in seen)


def test_percent_encoded_key_in_query_string_refused_and_not_logged(anon_client, api_key, request_log):
    plaintext = api_key(name="leaked")
    encoded = "".join(f"%{ord(char):02x}" for char in plaintext)

    response = anon_client.get(f"{DEVICES}?x={encoded}")

    assert_error(response, 400, "bad_request")
    messages = [record.getMessage() for record in request_log.records]
    assert messages and all(plaintext not in message and encoded not in message for message in messages)


def test_valid_bearer_key_never_logged(api_key, request_log, console_output):
    plaintext = api_key()

    bearer_client(plaintext).get(DEVICES)

    assert plaintext not in request_log.text
    assert console_output.getvalue() and plaintext not in console_output.getvalue()


# --- Storage -------------------------------------------------------------------------------------------------------


def test_key_stored_only_hashed(api_key):
    plaintext = api_key(name="stored")

    row = ApiKey.objects.filter(name="stored").values().get()

    assert all(plaintext not in str(value) for value in row.values())
    assert row["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext.startswith(row["prefix"]) and len(row["prefix"]) < len(plaintext) // 2


def test_keys_are_unique(api_key):
    assert len({api_key() for _ in range(5)}) == 5
    assert ApiKey.objects.values("key_hash").distinct().count() == 5


# --- Staff session (the admin's login) -----------------------------------------------------------------------------


@pytest.fixture
def make_user(db):
    def make(*, is_staff: bool, username: str = "operator"):
        return get_user_model().objects.create_user(username=username, password="unused-pw-123", is_staff=is_staff)

    return make


def test_staff_session_can_read(make_user):
    client = APIClient()
    client.force_login(make_user(is_staff=True))

    response = client.get(DEVICES)

    assert response.status_code == 200
    assert response.json()["list"] == []


def test_staff_session_with_plain_django_client_can_read(client, make_user):
    DeviceFactory.create(id="d1")
    client.force_login(make_user(is_staff=True))

    response = client.get(f"{DEVICES}/d1")

    assert response.status_code == 200
    assert response.json()["id"] == "d1"


def test_staff_session_write_records_username_as_source(make_user):
    client = APIClient()
    client.force_login(make_user(is_staff=True, username="alice"))

    response = client.post(DEVICES, {"id": "d1"}, format="json")

    assert response.status_code == 201
    assert DeviceEvent.objects.get(device_id="d1").source == "alice"


def test_staff_session_write_without_csrf_token_refused(make_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user(is_staff=True))

    response = client.post(DEVICES, {"id": "d1"}, format="json")

    assert_error(response, 403, "access_denied")
    assert not Device.objects.exists()


def test_non_staff_session_invalid_auth(make_user):
    client = APIClient()
    client.force_login(make_user(is_staff=False))

    response = client.get(DEVICES)

    assert_error(response, 401, "invalid_auth")


def test_inactive_staff_session_invalid_auth(make_user):
    user = make_user(is_staff=True)
    client = APIClient()
    client.force_login(user)
    user.is_active = False
    user.save()

    response = client.get(DEVICES)

    assert_error(response, 401, "invalid_auth")


def test_staff_session_with_bad_bearer_header_invalid_auth(make_user):
    """An Authorization header that is present is judged on its own; the session does not rescue it."""
    client = bearer_client("not-a-key")
    client.force_login(make_user(is_staff=True))

    response = client.get(DEVICES)

    assert_error(response, 401, "invalid_auth")


# --- create_api_key --------------------------------------------------------------------------------------------------


def test_create_api_key_prints_key_alone_on_last_line():
    stdout = create_key_with_command("ci-pipeline")

    last_line = stdout.rstrip("\n").splitlines()[-1]
    assert KEY_SHAPE.fullmatch(last_line)
    assert ApiKey.objects.get(key_hash=hashlib.sha256(last_line.encode()).hexdigest()).name == "ci-pipeline"


def test_create_api_key_every_scope_but_keys_write_by_default():
    create_key_with_command("ci-pipeline")

    assert ApiKey.objects.get(name="ci-pipeline").scopes == [scope for scope in SCOPES if scope != "keys:write"]


def test_create_api_key_repeated_scope_option():
    create_key_with_command("reader", "--scope", "devices:read", "--scope", "groups:write")

    assert ApiKey.objects.get(name="reader").scopes == ["devices:read", "groups:write"]


def test_create_api_key_printed_key_works_against_api():
    plaintext = create_key_with_command("reader", "--scope", "devices:read").splitlines()[-1]
    client = bearer_client(plaintext)

    assert client.get(DEVICES).status_code == 200
    assert_error(client.post(DEVICES, {"id": "d1"}, format="json"), 403, "access_denied")


def test_create_api_key_expiry_option():
    create_key_with_command("temporary", "--expires-in-days", "7")

    expires_at = ApiKey.objects.get(name="temporary").expires_at
    assert timedelta(days=6, hours=23) < expires_at - timezone.now() <= timedelta(days=7)


def test_create_api_key_unknown_scope_command_error():
    with pytest.raises(CommandError):
        create_key_with_command("bad", "--scope", "devices:admin")

    assert not ApiKey.objects.exists()


def test_create_api_key_blank_name_command_error():
    with pytest.raises(CommandError):
        create_key_with_command("   ")

    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("days", ["0", "-3"])
def test_create_api_key_non_positive_expiry_command_error(days):
    with pytest.raises(CommandError):
        create_key_with_command("bad", "--expires-in-days", days)

    assert not ApiKey.objects.exists()


def test_revocation_applies_to_a_key_already_in_use(api_key):
    from devmanager.api.models import ApiKey
    from devmanager.api.services import api_key_revoke

    plaintext = api_key(name="soon-revoked")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert client.get(f"{API}/devices").status_code == 200  # the key is in use

    api_key_revoke(key=ApiKey.objects.get(name="soon-revoked"))

    assert_error(client.get(f"{API}/devices"), 401, "invalid_apikey")
