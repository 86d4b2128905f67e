"""The quick start (`scripts/serve`, `scripts/develop`) as a process of its own, on an SQLite file of its own: for
tests/commands/test_quickstart.py and tests/bench/bench_serve.py."""

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_quickstart(script: str, port: int, directory: str) -> tuple[subprocess.Popen, str]:
    """`scripts/<script>` on `directory`'s SQLite file and `port`, in a process group of its own (stop it with
    `os.killpg`); its process and the API key it printed, once it answers."""
    environment = {
        **os.environ, "PORT": str(port), "DATABASE_URL": f"sqlite:///{directory}/quickstart.sqlite3",
        "DJANGO_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    environment.pop("DJANGO_SECRET_KEY", None)
    log = open(f"{directory}/server.log", "w+")  # noqa: SIM115 (read while the process writes it)
    process = subprocess.Popen(
        [str(ROOT / "scripts" / script)], cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        log.seek(0)
        printed = re.search(r"API key:\s+(ak_[0-9a-f]+)", log.read())
        if printed:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
                return process, printed.group(1)
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    log.seek(0)
    raise AssertionError(f"scripts/{script} did not start:\n{log.read()}")
