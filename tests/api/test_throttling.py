"""Per-key rate limits (DEVMANAGER_THROTTLE_RATE): 429 too_many_requests with Retry-After, off by default."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from devices.models import Device
from devmanager.api.throttling import ApiKeyRateThrottle
from tests.conftest import API, assert_error

pytestmark = pytest.mark.django_db

DATABASE_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": django_settings.THROTTLE_CACHES["database"],  # DEVMANAGER_THROTTLE_CACHE=database
}


@pytest.fixture
def rate(settings):
    settings.DEVMANAGER_THROTTLE_RATE = "3/minute"


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by hand."""
    now = [1_000_000.0]
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", lambda self: now[0])
    return now


def test_unlimited_by_default(api_client):
    for _ in range(50):
        assert api_client.get(f"{API}/devices").status_code == 200


def test_request_over_rate_too_many_requests(api_client, rate, clock):
    for _ in range(3):
        assert api_client.get(f"{API}/devices").status_code == 200

    response = api_client.get(f"{API}/devices")

    assert_error(response, 429, "too_many_requests")
    assert response["Retry-After"] == "60"
    assert response["X-Request-ID"] == response.json()["request_id"]


def test_retry_after_counts_down_to_oldest_request_leaving_window(api_client, rate, clock):
    for _ in range(3):
        api_client.get(f"{API}/devices")
        clock[0] += 10

    response = api_client.get(f"{API}/devices")

    assert response.status_code == 429
    assert response["Retry-After"] == "30"


def test_request_after_window_accepted_again(api_client, rate, clock):
    for _ in range(4):
        api_client.get(f"{API}/devices")

    clock[0] += 61

    assert api_client.get(f"{API}/devices").status_code == 200


def test_every_endpoint_draws_on_same_budget(api_client, rate, clock):
    api_client.get(f"{API}/devices")
    api_client.get(f"{API}/stats")
    api_client.get(f"{API}/device-groups")

    assert api_client.get(f"{API}/devices/anything").status_code == 429


def test_throttled_write_writes_nothing(api_client, rate, clock):
    for index in range(3):
        assert api_client.post(f"{API}/devices", {"id": f"dev-{index}"}, format="json").status_code == 201

    response = api_client.post(f"{API}/devices", {"id": "dev-3"}, format="json")

    assert_error(response, 429, "too_many_requests")
    assert not Device.objects.filter(pk="dev-3").exists()


def test_each_key_has_its_own_budget(api_client, api_key, rate, clock):
    for _ in range(4):
        api_client.get(f"{API}/devices")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key(name='other')}")

    assert other.get(f"{API}/devices").status_code == 200
    assert api_client.get(f"{API}/devices").status_code == 429


def test_staff_session_throttled_per_user(rate, clock):
    client = APIClient()
    client.force_login(get_user_model().objects.create_user(username="operator", password="pw-123456", is_staff=True))
    for _ in range(3):
        assert client.get(f"{API}/devices").status_code == 200

    assert_error(client.get(f"{API}/devices"), 429, "too_many_requests")


def test_unauthenticated_request_invalid_auth_not_throttled(anon_client, rate, clock):
    for _ in range(5):
        assert_error(anon_client.get(f"{API}/devices"), 401, "invalid_auth")


def test_probes_never_throttled(api_client, anon_client, rate, clock):
    for _ in range(5):
        api_client.get(f"{API}/devices")

    assert anon_client.get("/healthz").status_code == 200
    assert anon_client.get("/readyz").status_code == 200


def test_database_cache_shares_counts_between_processes(api_client, rate, clock, settings):
    settings.CACHES = DATABASE_CACHES
    call_command("createcachetable", verbosity=0)
    for _ in range(3):
        assert api_client.get(f"{API}/devices").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM devmanager_cache")
        assert cursor.fetchone()[0] == 1  # the key's request history, readable by every process

    assert api_client.get(f"{API}/devices").status_code == 429


def test_database_cache_keeps_every_keys_count_among_many_keys(api_client, rate, clock, settings):
    """Other keys' writes to the shared cache never delete a key's history: Django's default of 300 entries culls a
    third of the rows at each write past it, and a key whose row went was counted from zero again."""
    settings.CACHES = DATABASE_CACHES
    call_command("createcachetable", verbosity=0)
    expires = timezone.now() + timedelta(hours=1)
    with connection.cursor() as cursor:  # the histories of 1,000 other keys, all current
        cursor.executemany(
            "INSERT INTO devmanager_cache (cache_key, value, expires) VALUES (%s, %s, %s)",
            [(f":1:throttle_api_key_key:other-{number:04}", "gAVdlC4=", expires) for number in range(1000)],
        )
    for _ in range(2):
        assert api_client.get(f"{API}/devices").status_code == 200

    caches["throttle"].set("throttle_api_key_key:other-new", [], 60)  # another key's request is counted
    assert api_client.get(f"{API}/devices").status_code == 200

    assert_error(api_client.get(f"{API}/devices"), 429, "too_many_requests")


def test_local_cache_keeps_every_keys_count_among_many_keys(api_client, rate, clock, settings):
    """The same in a process's own cache, whose default of 300 entries evicts the least recently used third."""
    settings.CACHES = {**DATABASE_CACHES, "throttle": {**django_settings.THROTTLE_CACHES["local"], "LOCATION": "many"}}
    for _ in range(2):
        assert api_client.get(f"{API}/devices").status_code == 200

    for number in range(1000):  # other keys' requests are counted
        caches["throttle"].set(f"throttle_api_key_key:other-{number:04}", [], 60)
    assert api_client.get(f"{API}/devices").status_code == 200

    assert_error(api_client.get(f"{API}/devices"), 429, "too_many_requests")


def test_schema_declares_429_with_retry_after(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    answer = schema["paths"]["/api/devmanager/v1/devices"]["get"]["responses"]["429"]

    assert answer["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "X-Request-ID" in answer["headers"]


@pytest.mark.parametrize("value", ["fast", "10", "10/week", "0/minute", "-1/second", "10/"])
def test_malformed_rate_refuses_to_start(value):
    environment = {**os.environ, "DEVMANAGER_THROTTLE_RATE": value, "DJANGO_SECRET_KEY": "x"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=environment, capture_output=True, text=True, check=False
    )

    assert result.returncode != 0
    assert "DEVMANAGER_THROTTLE_RATE must look like 600/minute" in result.stderr


def test_unknown_throttle_cache_refuses_to_start():
    environment = {**os.environ, "DEVMANAGER_THROTTLE_CACHE": "redis", "DJANGO_SECRET_KEY": "x"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=environment, capture_output=True, text=True, check=False
    )

    assert result.returncode != 0
    assert "DEVMANAGER_THROTTLE_CACHE must be local or database" in result.stderr
