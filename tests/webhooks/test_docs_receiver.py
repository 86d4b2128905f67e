"""The receiver of docs/webhooks.md, run as written: it verifies a real delivery, refuses a forged one, and handles
a repeated `webhook-id` once."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from devices import services as device_services
from webhooks import services
from webhooks.delivery import Clients
from webhooks.worker import serve

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def receiver_source() -> str:
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "serve_forever" in b]
    return block


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def forged_post(port: int) -> httpx.Response:
    """An unsigned POST, once the receiver listens."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", headers={"webhook-id": "x"})
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.1)


def test_the_documented_receiver_verifies_deliveries(local_destinations, tmp_path):
    port = free_port()
    subscription = services.subscription_create(url=f"http://127.0.0.1:{port}/")
    script = tmp_path / "receiver.py"
    script.write_text(receiver_source())
    environment = {**os.environ, "WEBHOOK_SECRET": subscription.secret, "PORT": str(port)}
    process = subprocess.Popen([sys.executable, str(script)], env=environment, stdout=subprocess.PIPE, text=True)
    try:
        assert forged_post(port).status_code == 401  # unsigned: refused
        device_services.device_create(id="d-1", source="key:t")
        with Clients() as client:
            serve(subscription.pk, client, threading.Event())
            services.subscription_replay(subscription_id=subscription.pk, after=subscription.position)
            serve(subscription.pk, client, threading.Event())  # the same webhook-id again: handled once
        subscription.refresh_from_db()
        assert subscription.delivered_count == 2
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert output.splitlines() == ["device.created d-1 None"]
