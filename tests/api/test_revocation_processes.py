"""A revoked key is refused at once by every app server process (contract, section 10): two gunicorn workers on
the test database; the key revoked through one, the next request through the other is 401."""

import http.client
import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from devmanager.api.models import ApiKey
from tests.conftest import API

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the servers read what the test wrote: committed
    pytest.mark.skipif(connection.vendor != "postgresql", reason="app servers share a PostgreSQL database"),
]


@pytest.fixture
def two_workers():
    """gunicorn with two worker processes on the test database, on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = connection.settings_dict
    url = f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:{database['PORT']}/"
    env = {
        **os.environ,
        "DEVMANAGER_BIND": f"127.0.0.1:{port}",
        "DEVMANAGER_WORKERS": "2",
        "DEVMANAGER_THREADS": "1",
        "DEVMANAGER_REQUIRE_HTTPS": "false",
        "DJANGO_SECRET_KEY": "test",
        "DATABASE_URL": url + database["NAME"],
    }
    command = [sys.executable, "-m", "gunicorn", "--config", "devmanager/gunicorn.conf.py", "tests.served_by"]
    server = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def call(port: int, method: str, path: str, key: str) -> tuple[int, str]:
    """One request on a connection of its own: (status, the process that answered)."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        client.request(method, API + path, headers={"Authorization": f"Bearer {key}", "Connection": "close"})
        response = client.getresponse()
        response.read()
        return response.status, response.getheader("X-Served-By")
    finally:
        client.close()


def test_a_key_revoked_through_one_server_process_is_refused_by_the_other(two_workers, api_key):
    key, operator = api_key(name="soon-revoked"), api_key(name="operator")
    processes = set()
    deadline = time.monotonic() + 30
    while len(processes) < 2:  # the key in use in both processes
        status, process = call(two_workers, "GET", "/devices", key)
        assert status == 200
        processes.add(process)
        assert time.monotonic() < deadline, "one process answered every request"

    status, revoker = call(two_workers, "DELETE", f"/api-keys/{ApiKey.objects.get(name='soon-revoked').pk}", operator)
    assert status == 204
    answers = []
    while not any(process != revoker for _, process in answers):  # until the other process has answered
        answers.append(call(two_workers, "GET", "/devices", key))
        assert time.monotonic() < deadline + 30, answers

    assert {status for status, _ in answers} == {401}
