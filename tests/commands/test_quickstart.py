"""`scripts/serve`, the quick start: the production server (gunicorn) and the worker on an SQLite file of its own,
a key that works, connections kept alive, and Ctrl-C (SIGTERM to the group) stopping everything."""

import http.client
import os
import signal
import subprocess

import pytest
from django.conf import settings
from django.db import connection

from tests.quickstart import free_port, start_quickstart

# Its own SQLite file whatever the suite runs on: once, in the plain PostgreSQL run.
pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql" or bool(settings.DATABASE_POOLER), reason="run with the suite on PostgreSQL"
)


def test_the_quick_start_serves_like_production(tmp_path):
    port = free_port()
    process, key = start_quickstart("serve", port, str(tmp_path))
    try:
        pooled = http.client.HTTPConnection("127.0.0.1", port)
        answers, sockets = [], set()
        for path in ("/healthz", "/api/devmanager/v1/devices", "/static/rest_framework/css/default.css"):
            pooled.request("GET", path, headers={"Authorization": f"Bearer {key}"})
            response = pooled.getresponse()
            response.read()
            answers.append(response.status)
            sockets.add(id(pooled.sock))
            assert not response.will_close  # the connection stays open for the next request

        assert answers == [200, 200, 200]  # the printed key works; static files are served (whitenoise)
        assert len(sockets) == 1  # all three over one connection
        assert "gunicorn" in children(process.pid) and "manage.py worker" in children(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True).returncode == 1  # none left


def children(pid: int) -> str:
    """The command lines of the process group's members."""
    listed = subprocess.run(["ps", "-o", "args=", "-g", str(pid)], capture_output=True, text=True)
    return listed.stdout
