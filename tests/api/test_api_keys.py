"""`/api-keys` (contract, section 10): keys made, listed and revoked through the API, never beyond the calling key."""

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from devmanager.api.models import DEFAULT_SCOPES, SCOPES, ApiKey
from devmanager.timestamps import format_timestamp
from tests.conftest import API, assert_error
from tests.openapi import assert_conforms

pytestmark = pytest.mark.django_db

KEYS = f"{API}/api-keys"
KEY_SHAPE = re.compile(r"ak_[0-9a-f]{32}")
TIMESTAMP_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
KEY_FIELDS = {"id", "name", "prefix", "scopes", "dms", "created_at", "expires_at", "revoked_at", "last_used_at"}


def bearer_client(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def create(client, **body) -> dict:
    response = client.post(KEYS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def key_id(name: str) -> int:
    return ApiKey.objects.get(name=name).pk


def in_days(days: float) -> datetime:
    return timezone.now() + timedelta(days=days)


@pytest.fixture
def staff_client(django_user_model):
    client = APIClient()
    client.force_login(django_user_model.objects.create_user("operator", password="pw-123456", is_staff=True))
    return client


@pytest.fixture
def clock(monkeypatch):
    """`timezone.now()` reads `clock[0]`."""
    now = [datetime(2026, 3, 9, 10, 0, 20, tzinfo=UTC)]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return now


# --- Creating -----------------------------------------------------------------------------------------------------


def test_create_answers_the_key_once_with_a_location(api_client):
    response = api_client.post(KEYS, {"name": " ci ", "scopes": ["devices:read"]}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == KEY_FIELDS | {"key"}
    assert KEY_SHAPE.fullmatch(body["key"]) and body["prefix"] == body["key"][:8]
    assert body["name"] == "ci" and body["scopes"] == ["devices:read"] and body["dms"] is None
    assert body["expires_at"] is None and body["revoked_at"] is None and body["last_used_at"] is None
    assert TIMESTAMP_SHAPE.fullmatch(body["created_at"])
    assert response["Location"] == f"http://testserver{KEYS}/{body['id']}"
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.key_hash == hashlib.sha256(body["key"].encode()).hexdigest()
    shown = api_client.get(response["Location"]).json()
    assert shown == {name: value for name, value in body.items() if name != "key"}
    listed = api_client.get(KEYS).json()["list"]
    assert body["id"] in [item["id"] for item in listed] and all("key" not in item for item in listed)
    assert body["key"] not in api_client.get(KEYS).content.decode()


def test_answers_conform_to_the_openapi_document(api_client):
    created = api_client.post(KEYS, {"name": "k", "dms": ["a"], "expires_at": "2099-01-01T00:00:00Z"}, format="json")
    item = f"{KEYS}/{created.json()['id']}"

    assert_conforms(created, KEYS)
    assert_conforms(api_client.get(KEYS), KEYS)
    assert_conforms(api_client.get(item), f"{KEYS}/{{key_id}}")
    assert_conforms(api_client.delete(item), f"{KEYS}/{{key_id}}")
    assert_conforms(api_client.post(KEYS, {"name": ""}, format="json"), KEYS)


def test_a_created_key_works_with_exactly_its_scopes(api_client):
    client = bearer_client(create(api_client, name="reader", scopes=["groups:read", "webhooks:write"])["key"])

    assert client.get(f"{API}/device-groups").status_code == 200
    assert client.get(f"{API}/webhooks").status_code == 200  # :write implies :read
    assert_error(client.post(f"{API}/device-groups", {"id": "g"}, format="json"), 403, "access_denied")
    assert_error(client.get(f"{API}/devices"), 403, "access_denied")
    assert_error(client.get(KEYS), 403, "access_denied")


def test_create_defaults_to_every_scope_but_keys_write_every_device_and_no_expiry(api_client):
    body = create(api_client, name="default")

    assert body["scopes"] == list(DEFAULT_SCOPES) and "keys:write" not in body["scopes"]
    assert body["dms"] is None and body["expires_at"] is None
    assert ApiKey.objects.get(pk=body["id"]).scopes == list(DEFAULT_SCOPES)


def test_create_with_dms_and_an_expiry(api_client):
    expires_at = in_days(30)

    body = create(api_client, name="partner", scopes=[], dms=["b", "a", "b"], expires_at=format_timestamp(expires_at))

    assert body["scopes"] == [] and body["dms"] == ["a", "b"]
    assert body["expires_at"] == format_timestamp(expires_at)
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.dms == ["a", "b"] and stored.expires_at == expires_at


def test_create_takes_null_dms_and_expiry_as_absent(api_client):
    body = create(api_client, name="wide", dms=None, expires_at=None)

    assert body["dms"] is None and body["expires_at"] is None


def test_create_takes_an_expiry_with_an_offset(api_client):
    body = create(api_client, name="offset", expires_at="2099-01-01T12:00:00+02:00")

    assert body["expires_at"] == "2099-01-01T10:00:00.000000Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "k", "scopes": ["devices:delete"]}, "scopes[0]"),
        ({"name": "k", "scopes": ["keys:read"]}, "scopes[0]"),
        ({"name": "k", "scopes": "devices:read"}, "scopes"),
        ({"name": "k", "scopes": [5]}, "scopes[0]"),
        ({"name": "k", "scopes": None}, "scopes"),
        ({"name": "k", "dms": []}, "dms"),
        ({"name": "k", "dms": "a"}, "dms"),
        ({"name": "k", "dms": [""]}, "dms[0]"),
        ({"name": "k", "dms": [5]}, "dms[0]"),
        ({"name": "k", "dms": ["a", None]}, "dms[1]"),
        ({"name": "k", "dms": ["a/b"]}, "dms[0]"),
        ({"name": "k", "dms": [".."]}, "dms[0]"),
        ({"name": "k", "dms": ["a\x00"]}, "dms[0]"),
        ({"name": "k", "dms": ["a\nb"]}, "dms[0]"),
        ({"name": "k", "dms": ["x" * 256]}, "dms[0]"),
        ({"name": "k", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "k", "expires_at": "2099-01-01"}, "expires_at"),
        ({"name": "k", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "k", "expires_at": 4102444800}, "expires_at"),
        ({"name": "k", "key": "ak_" + "0" * 32}, "key"),
        ({"name": "k", "prefix": "ak_00000"}, "prefix"),
        ({"name": "k", "revoked_at": None}, "revoked_at"),
        ({"name": 5, "extra": 1}, "extra"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(api_client, body, field):
    response = api_client.post(KEYS, body, format="json")

    assert_error(response, 400, "validation_error", field)
    assert ApiKey.objects.count() == 1  # the caller's


def test_a_body_that_is_not_an_object_is_a_400(api_client):
    response = api_client.post(KEYS, ["name"], format="json")

    assert_error(response, 400, "validation_error", "body")


# --- No key hands out more than it holds ----------------------------------------------------------------------------


def test_a_key_cannot_grant_a_scope_it_lacks(api_key):
    client = bearer_client(api_key(scopes=["keys:write", "devices:read"]))

    response = client.post(KEYS, {"name": "k", "scopes": ["devices:read", "devices:write"]}, format="json")

    body = assert_error(response, 403, "access_denied", "scopes")
    assert "devices:write" in body["message"]
    assert not ApiKey.objects.filter(name="k").exists()


def test_a_key_with_fewer_scopes_cannot_take_the_default_scopes(api_key):
    client = bearer_client(api_key(scopes=["keys:write", "devices:read"]))

    assert_error(client.post(KEYS, {"name": "k"}, format="json"), 403, "access_denied", "scopes")


def test_a_key_grants_the_read_its_write_implies_and_keys_write_itself(api_key):
    client = bearer_client(api_key(scopes=["keys:write", "devices:write"]))

    body = create(client, name="k", scopes=["devices:read", "keys:write"])

    assert body["scopes"] == ["devices:read", "keys:write"]


@pytest.mark.parametrize("dms", [None, ["a", "c"], ["c"]])
def test_a_dms_restricted_key_cannot_grant_other_dms(api_key, dms):
    client = bearer_client(api_key(scopes=SCOPES, dms=["a", "b"]))

    response = client.post(KEYS, {"name": "k", "dms": dms}, format="json")

    assert_error(response, 403, "access_denied", "dms")
    assert not ApiKey.objects.filter(name="k").exists()


def test_a_dms_restricted_key_must_name_dms_when_dms_are_absent(api_key):
    client = bearer_client(api_key(scopes=SCOPES, dms=["a"]))

    assert_error(client.post(KEYS, {"name": "k"}, format="json"), 403, "access_denied", "dms")


def test_a_dms_restricted_key_grants_some_of_its_dms(api_key):
    client = bearer_client(api_key(scopes=SCOPES, dms=["a", "b"]))

    assert create(client, name="k", dms=["b"])["dms"] == ["b"]


@pytest.mark.parametrize("expires_at", [None, "in two days"])
def test_an_expiring_key_cannot_grant_a_longer_lived_key(api_key, expires_at):
    client = bearer_client(api_key(scopes=SCOPES, expires_at=in_days(1)))
    expiry = None if expires_at is None else format_timestamp(in_days(2))

    response = client.post(KEYS, {"name": "k", "expires_at": expiry}, format="json")

    assert_error(response, 403, "access_denied", "expires_at")
    assert not ApiKey.objects.filter(name="k").exists()


def test_an_expiring_key_grants_a_shorter_lived_key(api_key):
    client = bearer_client(api_key(scopes=SCOPES, expires_at=in_days(1)))

    assert create(client, name="k", expires_at=format_timestamp(in_days(0.5)))["expires_at"] is not None


def test_validation_comes_before_the_escalation_check(api_key):
    client = bearer_client(api_key(scopes=["keys:write"]))

    response = client.post(KEYS, {"name": "k", "scopes": ["devices:read"], "dms": ["a/b"]}, format="json")

    assert_error(response, 400, "validation_error", "dms[0]")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("get", "", None), ("get", "/{id}", None), ("post", "", {"name": "k", "scopes": []}), ("delete", "/{id}", None)],
)
def test_every_method_needs_keys_write(api_key, method, path, body):
    client = bearer_client(api_key(scopes=DEFAULT_SCOPES, name="no-keys-write"))
    own_id = key_id("no-keys-write")

    response = getattr(client, method)(KEYS + path.format(id=own_id), body, format="json")

    assert_error(response, 403, "access_denied")
    assert "keys:write" in response.json()["message"]
    assert ApiKey.objects.count() == 1 and ApiKey.objects.get().revoked_at is None


def test_without_credentials_invalid_auth(anon_client):
    assert_error(anon_client.get(KEYS), 401, "invalid_auth")


# --- Listing and reading --------------------------------------------------------------------------------------------


def test_list_is_newest_first_and_pages_with_bookmarks(api_client, api_key):
    for index in range(4):
        api_key(name=f"k{index}")
    expected = list(ApiKey.objects.order_by("-created_at", "-pk").values_list("pk", flat=True))

    seen, page = [], api_client.get(KEYS, {"page_size": 2}).json()
    while True:
        assert set(page) == {"next", "list"} and len(page["list"]) <= 2
        seen += [item["id"] for item in page["list"]]
        if not page["next"]:
            break
        page = api_client.get(KEYS, {"bookmark": page["next"]}).json()

    assert seen == expected and len(seen) == 5


def test_list_sorts_oldest_first_on_request(api_client, api_key):
    api_key(name="later")

    listed = api_client.get(KEYS, {"sort_by": "created_at", "sort_mode": "asc", "include": "total_count"}).json()

    assert [item["name"] for item in listed["list"]] == ["test-key", "later"] and listed["total"] == 2


@pytest.mark.parametrize("params", [{"sort_by": "name"}, {"page_size": "0"}, {"Filter": "x"}, {"bookmark": "forged"}])
def test_list_refuses_bad_parameters(api_client, params):
    assert_error(api_client.get(KEYS, params), 400, "validation_error", next(iter(params)))


def test_list_page_costs_fixed_queries(api_key, django_assert_max_num_queries):
    client = bearer_client(api_key(scopes=["keys:write", "devices:read"], name="narrow"))
    for index in range(30):
        api_key(scopes=["devices:read"], name=f"k{index}")
    client.get(KEYS)  # last_used_at written for this minute

    with django_assert_max_num_queries(4):  # the key (and its last use), the keys it covers, the page
        response = client.get(KEYS, {"page_size": 1000})

    assert len(response.json()["list"]) == 31


def test_get_answers_the_key_object_without_secrets(api_client, api_key):
    api_key(name="other", scopes=["devices:read"], dms=["a"], expires_at=in_days(3))
    stored = ApiKey.objects.get(name="other")

    body = api_client.get(f"{KEYS}/{stored.pk}").json()

    assert body == {
        "id": stored.pk,
        "name": "other",
        "prefix": stored.prefix,
        "scopes": ["devices:read"],
        "dms": ["a"],
        "created_at": format_timestamp(stored.created_at),
        "expires_at": format_timestamp(stored.expires_at),
        "revoked_at": None,
        "last_used_at": None,
    }


@pytest.mark.parametrize("path", ["/999999", "/abc", "/1.0", "/-1", "/" + "9" * 30, "/%C2%B2"])
def test_get_of_no_key_is_404(api_client, path):
    assert_error(api_client.get(KEYS + path), 404, "not_found")


def test_patch_and_put_are_not_supported(api_client):
    own = key_id("test-key")

    assert_error(api_client.patch(f"{KEYS}/{own}", {"name": "x"}, format="json"), 405, "method_not_supported")
    assert_error(api_client.put(f"{KEYS}/{own}", {"name": "x"}, format="json"), 405, "method_not_supported")


# --- Revoking -------------------------------------------------------------------------------------------------------


def test_revoke_refuses_the_key_at_once_and_is_idempotent(api_client, api_key):
    revoked_client = bearer_client(api_key(name="doomed", scopes=["devices:read"]))
    assert revoked_client.get(f"{API}/devices").status_code == 200
    doomed = key_id("doomed")

    response = api_client.delete(f"{KEYS}/{doomed}")

    assert response.status_code == 204 and response.content == b""
    revoked_at = ApiKey.objects.get(pk=doomed).revoked_at
    assert revoked_at is not None
    assert api_client.get(f"{KEYS}/{doomed}").json()["revoked_at"] == format_timestamp(revoked_at)
    assert_error(revoked_client.get(f"{API}/devices"), 401, "invalid_apikey")
    assert api_client.delete(f"{KEYS}/{doomed}").status_code == 204
    assert ApiKey.objects.get(pk=doomed).revoked_at == revoked_at  # the first revocation's time is kept


def test_a_key_may_revoke_itself(api_client):
    assert api_client.delete(f"{KEYS}/{key_id('test-key')}").status_code == 204

    assert_error(api_client.get(KEYS), 401, "invalid_apikey")


def test_delete_of_no_key_is_404(api_client):
    assert_error(api_client.delete(f"{KEYS}/999999"), 404, "not_found")


# --- A key sees and revokes only the keys within it -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "wider"),
    [
        ({"scopes": ["keys:write", "devices:read"]}, {"scopes": ["keys:write", "devices:write"]}),
        ({"scopes": SCOPES, "dms": ["a"]}, {"scopes": ["devices:read"]}),
        ({"scopes": SCOPES, "dms": ["a"]}, {"scopes": ["devices:read"], "dms": ["a", "b"]}),
        ({"scopes": SCOPES, "expires_at": "tomorrow"}, {"scopes": ["devices:read"]}),
        ({"scopes": SCOPES, "expires_at": "tomorrow"}, {"scopes": ["devices:read"], "expires_at": "in two days"}),
    ],
)
def test_a_key_cannot_see_or_revoke_a_wider_key(api_key, caller, wider):
    expiries = {"tomorrow": in_days(1), "in two days": in_days(2)}
    client = bearer_client(api_key(name="partner", **{**caller, "expires_at": expiries.get(caller.get("expires_at"))}))
    api_key(name="operator", **{**wider, "expires_at": expiries.get(wider.get("expires_at"))})
    operator = key_id("operator")

    assert_error(client.get(f"{KEYS}/{operator}"), 404, "not_found")
    assert_error(client.delete(f"{KEYS}/{operator}"), 404, "not_found")
    assert [item["name"] for item in client.get(KEYS).json()["list"]] == ["partner"]
    assert ApiKey.objects.get(pk=operator).revoked_at is None


def test_a_restricted_key_sees_and_revokes_the_keys_within_it(api_key):
    client = bearer_client(api_key(name="partner", scopes=SCOPES, dms=["a", "b"], expires_at=in_days(2)))
    api_key(name="inside", scopes=["devices:read"], dms=["b"], expires_at=in_days(1))
    api_key(name="outside-dms", scopes=["devices:read"], dms=["c"], expires_at=in_days(1))
    api_key(name="outside-life", scopes=["devices:read"], dms=["a"])
    made = create(client, name="made", scopes=["devices:read"], dms=["a"], expires_at=format_timestamp(in_days(1)))

    listed = client.get(KEYS).json()["list"]

    assert [item["name"] for item in listed] == ["made", "inside", "partner"]
    assert client.delete(f"{KEYS}/{key_id('inside')}").status_code == 204
    assert client.delete(f"{KEYS}/{made['id']}").status_code == 204


def test_a_staff_session_sees_every_key_and_grants_anything(staff_client, api_key):
    api_key(name="partner", scopes=["keys:write"], dms=["a"], expires_at=in_days(1))

    body = create(staff_client, name="operator", scopes=list(SCOPES))

    assert body["scopes"] == list(SCOPES) and body["dms"] is None and body["expires_at"] is None
    assert [item["name"] for item in staff_client.get(KEYS).json()["list"]] == ["operator", "partner"]
    assert staff_client.get(f"{KEYS}/{key_id('partner')}").status_code == 200
    assert staff_client.delete(f"{KEYS}/{key_id('partner')}").status_code == 204
    assert ApiKey.objects.get(name="partner").revoked_at is not None


# --- Last use ------------------------------------------------------------------------------------------------------


def updates(queries) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if query["sql"].lstrip().upper().startswith("UPDATE")]


def test_last_used_at_is_the_minute_of_use_written_once_a_minute(api_client, clock):
    own = f"{KEYS}/{key_id('test-key')}"

    assert api_client.get(own).json()["last_used_at"] == "2026-03-09T10:00:00.000000Z"
    assert ApiKey.objects.get(name="test-key").last_used_at == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)

    clock[0] = datetime(2026, 3, 9, 10, 0, 59, tzinfo=UTC)
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(own).json()["last_used_at"] == "2026-03-09T10:00:00.000000Z"
    assert updates(queries) == []

    clock[0] = datetime(2026, 3, 9, 10, 1, 0, 1, tzinfo=UTC)
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(own).json()["last_used_at"] == "2026-03-09T10:01:00.000000Z"
    assert len(updates(queries)) == 1
