"""Benchmark of the quick start as a pooled client meets it: `scripts/serve` (or `scripts/develop`) started on a fresh
SQLite file, then `GET /healthz` and `GET /devices/{id}` each asked N times over one kept-alive connection and N
times over a new connection per request.

Printed: p50 and p99 of each, and the ratio kept-alive / new connection (the bar: within 2x).
Run it with: `python tests/bench/bench_serve.py [--script serve|develop] [--requests 300]`.
"""

import argparse
import http.client
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.quickstart import free_port, start_quickstart

API = "/api/devmanager/v1"


def get(connection: http.client.HTTPConnection, path: str, headers: dict) -> None:
    """One GET, its answer read whole, so that a kept-alive connection can carry the next."""
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path} answered {response.status}")


def timings(send, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        send()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--script", default="serve", choices=("serve", "develop"))
    parser.add_argument("--requests", type=int, default=300)
    arguments = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        process, key = start_quickstart(arguments.script, port, directory)
        try:
            headers = {"Authorization": f"Bearer {key}"}
            created = httpx.post(f"http://127.0.0.1:{port}{API}/devices", headers=headers, json={"id": "bench-1"})
            created.raise_for_status()
            print(f"scripts/{arguments.script}, {arguments.requests} requests each, SQLite")
            print(f"{'request':<20} {'kept-alive p50 / p99 ms':>24} {'new connection p50 / p99 ms':>28} {'ratio':>6}")
            for name, path in (("GET /healthz", "/healthz"), ("GET /devices/{id}", f"{API}/devices/bench-1")):
                pooled = http.client.HTTPConnection("127.0.0.1", port)
                kept = timings(lambda path=path, pooled=pooled: get(pooled, path, headers), arguments.requests)
                pooled.close()
                new = timings(
                    lambda path=path: get(http.client.HTTPConnection("127.0.0.1", port), path, headers),
                    arguments.requests,
                )
                ratio = statistics.median(kept) / statistics.median(new)
                print(
                    f"{name:<20} {statistics.median(kept):>13.1f} / {p99(kept):<8.1f} "
                    f"{statistics.median(new):>17.1f} / {p99(new):<8.1f} {ratio:>6.2f}"
                )
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
