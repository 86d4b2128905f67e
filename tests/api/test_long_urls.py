"""Request lines over DEVMANAGER_MAX_URL_BYTES: 414 uri_too_long in the contract's body, from the app itself, with
gunicorn (as scripts/production runs it) passing such lines through instead of answering its own HTML page."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.conftest import API, assert_error

pytestmark = pytest.mark.django_db


def test_request_line_over_the_limit_is_414(api_client):
    response = api_client.get(f"{API}/devices", {"filter": ["id[eq]:" + "x" * 1000] * 20})

    assert_error(response, 414, "uri_too_long")
    assert response["Content-Type"] == "application/json"


def test_request_line_within_the_limit_reaches_the_api(api_client):
    response = api_client.get(f"{API}/devices", {"filter": ["id[eq]:" + "x" * 1000] * 10})

    assert response.status_code == 200


def test_limit_follows_the_setting(api_client, settings):
    settings.DEVMANAGER_MAX_URL_BYTES = 100

    assert_error(api_client.get(f"{API}/devices", {"filter": "id[eq]:" + "x" * 80}), 414, "uri_too_long")
    assert api_client.get(f"{API}/devices", {"filter": "id[eq]:x"}).status_code == 200


def test_unknown_url_over_the_limit_is_414_too(anon_client):
    assert_error(anon_client.get("/no/such/page?" + "q=" + "x" * 20_000), 414, "uri_too_long")


# --- Behind gunicorn -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gunicorn_port(tmp_path_factory):
    """gunicorn with devmanager/gunicorn.conf.py (one worker) on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DEVMANAGER_BIND": f"127.0.0.1:{port}",
        "DEVMANAGER_WORKERS": "1",
        "DJANGO_SECRET_KEY": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('gunicorn')}/unused.sqlite3",
    }
    command = [sys.executable, "-m", "gunicorn", "--config", "devmanager/gunicorn.conf.py", "devmanager.wsgi"]
    server = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def get(port: int, target: str) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("length", [5_000, 9_000, 16_000])
def test_gunicorn_passes_long_request_lines_to_the_app(gunicorn_port, length):
    # gunicorn's default (4,094 bytes) answered an HTML 414 here; /healthz reads no database.
    status, _, _ = get(gunicorn_port, "/healthz?pad=" + "x" * length)

    assert status == 200


@pytest.mark.parametrize("length", [17_000, 100_000])
def test_gunicorn_request_line_over_the_limit_gets_the_error_body(gunicorn_port, length):
    status, content_type, body = get(gunicorn_port, "/healthz?pad=" + "x" * length)

    assert (status, content_type) == (414, "application/json")
    assert json.loads(body)["type"] == "uri_too_long"


def test_a_long_request_line_is_logged_shortened(anon_client, caplog):
    with caplog.at_level("INFO", logger="devmanager.access"):
        anon_client.get("/healthz?pad=" + "x" * 100_000)

    [record] = [record for record in caplog.records if record.name == "devmanager.access"]
    assert len(record.getMessage()) < 2_200
    assert record.path.endswith("...[100013]")
