"""`python manage.py worker` as a process of its own, for the tests that run one against the test database
(PostgreSQL: the processes share it)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def worker_process(**environment: str) -> subprocess.Popen:
    """A worker on the test database, with these settings (`DEVMANAGER_…=value`) beside the test run's own; returned
    once it says it runs (its signal handlers are in place). Its log goes to the test's stderr."""
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}:{settings['PASSWORD'] or ''}@{settings['HOST']}:{settings['PORT']}/"
    environment = {**os.environ, "DATABASE_URL": url + settings["NAME"], "DJANGO_SECRET_KEY": "x", **environment}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker"], cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True
    )
    assert "Worker running" in worker.stdout.readline()
    return worker


def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
