"""DJANGO_LOG_FORMAT=json: one JSON object per log line, with the request ID and the access log's fields."""

import json
import os
import subprocess
import sys

import pytest

REQUEST = """
from django.test import Client
response = Client().get("/api/devmanager/v1/devices?filter=status[eq]:ACTIVE", HTTP_HOST="localhost")
print(response["X-Request-ID"])
"""


def run_request(log_format: str) -> tuple[str, list[str]]:
    """Make one unauthenticated request in a fresh process; return its request ID and the lines logged."""
    environment = {
        **os.environ,
        "DJANGO_SECRET_KEY": "x",
        "DJANGO_LOG_FORMAT": log_format,
        "DJANGO_LOG_LEVEL": "INFO",
        "DEVMANAGER_REQUIRE_HTTPS": "false",
        "DJANGO_ALLOWED_HOSTS": "localhost",
    }
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "manage.py", "shell", "--no-imports", "-c", REQUEST],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip(), result.stderr.strip().splitlines()


def test_json_log_lines_carry_request_id_and_access_fields():
    request_id, lines = run_request("json")

    records = [json.loads(line) for line in lines]
    access = next(record for record in records if record["logger"] == "devmanager.access")
    assert access["request_id"] == request_id
    assert access["method"] == "GET"
    assert access["path"] == "/api/devmanager/v1/devices?filter=status[eq]:ACTIVE"
    assert access["status"] == 401
    assert isinstance(access["duration_ms"], float)
    assert access["level"] == "INFO"
    assert access["time"].endswith("+00:00")


def test_text_log_lines_by_default():
    request_id, lines = run_request("text")

    assert any(f"[{request_id}] devmanager.access: GET" in line for line in lines)


@pytest.mark.parametrize("value", ["xml", "JSON "])
def test_unknown_log_format_refuses_to_start(value):
    environment = {**os.environ, "DJANGO_SECRET_KEY": "x", "DJANGO_LOG_FORMAT": value}

    result = subprocess.run([sys.executable, "manage.py", "check"], env=environment, capture_output=True, text=True)

    assert result.returncode != 0
    assert "DJANGO_LOG_FORMAT must be text or json" in result.stderr
