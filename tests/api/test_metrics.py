"""/metrics: Prometheus' text format behind DEVMANAGER_METRICS_TOKEN (open without one in debug mode only), never
behind HTTPS."""

import pytest

from tests.conftest import API, assert_error

pytestmark = pytest.mark.django_db


TOKEN = "s3cret-scrape-token"


def test_metrics_count_api_requests(anon_client, api_client, settings):
    settings.DEVMANAGER_METRICS_TOKEN = TOKEN
    for _ in range(3):
        api_client.get(f"{API}/devices")

    response = anon_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    requests_line = next(
        line
        for line in body.splitlines()
        if line.startswith("django_http_requests_total_by_view_transport_method_total{")
        and 'view="device-list"' in line
        and 'method="GET"' in line
    )
    assert float(requests_line.rsplit(" ", 1)[1]) >= 3
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in body
    assert 'django_http_responses_total_by_status_total{status="200"}' in body
    assert "X-Request-ID" in response


def test_metrics_with_token_refuse_missing_token(anon_client, settings):
    settings.DEVMANAGER_METRICS_TOKEN = "s3cret-scrape-token"

    assert_error(anon_client.get("/metrics"), 401, "invalid_auth")
    assert_error(anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong"), 401, "invalid_auth")


def test_metrics_with_token_served_for_token(anon_client, settings):
    settings.DEVMANAGER_METRICS_TOKEN = "s3cret-scrape-token"

    response = anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")

    assert response.status_code == 200
    assert b"django_http_requests_before_middlewares_total" in response.content


def test_metrics_served_over_plain_http_when_https_required(anon_client, settings):
    settings.DEVMANAGER_REQUIRE_HTTPS = True
    settings.DEVMANAGER_METRICS_TOKEN = TOKEN

    assert anon_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_metrics_without_a_token_are_off_unless_debug(anon_client, settings):
    settings.DEVMANAGER_METRICS_TOKEN = ""

    body = assert_error(anon_client.get("/metrics"), 403, "access_denied")
    assert "DEVMANAGER_METRICS_TOKEN" in body["message"]
    settings.DEBUG = True
    assert anon_client.get("/metrics").status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_metrics_wrong_method_method_not_supported(anon_client, method):
    assert_error(getattr(anon_client, method)("/metrics"), 405, "method_not_supported")
