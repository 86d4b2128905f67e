import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from devmanager.api.models import SCOPES, ApiKey
from devmanager.api.services import api_key_create
from events.waiting import NOTIFIER

API = "/api/devmanager/v1"


@pytest.fixture(autouse=True)
def _plain_http_allowed(settings):
    """Tests talk plain HTTP unless a test turns DEVMANAGER_REQUIRE_HTTPS back on."""
    settings.DEVMANAGER_REQUIRE_HTTPS = False
    # Admin users' passwords are hashed in many tests: the production hasher would take most of the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counts must not leak from one test into another."""
    caches["default"].clear()
    caches["throttle"].clear()


@pytest.fixture(scope="session", autouse=True)
def _pooled_sessions_ended(request):
    """Behind PgBouncer (DATABASE_POOLER), the pooler keeps server sessions open on the test database, which would
    refuse to be dropped at the end: end them first (this fixture's teardown runs before the database's)."""
    from django.conf import settings

    if not settings.DATABASE_POOLER:
        yield
        return
    request.getfixturevalue("django_db_setup")
    yield
    from django.db import connection

    from devmanager.db import direct_connect

    with direct_connect(connection, autocommit=True, dbname="postgres") as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"]],
        )


@pytest.fixture
def api_key(db):
    """Make a key: `api_key(scopes=[...], name=..., dms=[...])` returns its plaintext. `expires_at` may lie in the
    past (an expired key), which the service refuses."""

    def make(scopes=SCOPES, name="test-key", expires_at=None, dms=None):
        key, plaintext = api_key_create(name=name, scopes=list(scopes), dms=dms)
        if expires_at is not None:
            ApiKey.objects.filter(pk=key.pk).update(expires_at=expires_at)
        return plaintext

    return make


def mark_key_used(client) -> None:
    """Record the client's key's use this minute now, so that a request measured next (for its SQL queries) does not
    record it: a key's first request of a minute writes `last_used_at` once."""
    assert client.options(f"{API}/devices").status_code == 200


def bearer_client(plaintext: str) -> APIClient:
    """A client sending this key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def api_client(api_key):
    """A client authenticated with a key holding every scope (named `test-key`)."""
    return bearer_client(api_key())


@pytest.fixture
def client_with_scopes(api_key):
    def make(*scopes):
        return bearer_client(api_key(scopes=scopes))

    return make


def assert_error(response, status_code: int, error_type: str, field: str | None = None):
    """The contract's error body, with the request ID of the response's header."""
    assert response.status_code == status_code, response.content
    body = response.json()
    assert body["object"] == "error"
    assert body["code"] == status_code
    assert body["type"] == error_type, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["fields"], list)
    assert body["request_id"] == response["X-Request-ID"]
    assert "Traceback" not in response.content.decode()
    if field is not None:
        names = [item["name"] for item in body["fields"]]
        assert field in names, body["fields"]
    return body


@pytest.fixture(autouse=True)
def _stop_feed_listener():
    """The listening connection of the feed's `wait=` ends with each test: the test database is dropped at the end."""
    yield
    NOTIFIER.stop()
