"""Benchmark of webhook delivery: `manage.py worker` (one process, as `scripts/production` starts it) delivering to
a local receiver over keep-alive HTTP.

1. Commit to delivery, idle worker: devices created one at a time (a commit each, 20 to 100 ms apart); for each,
   the time from its commit to its arrival at the receiver. p50, p95 and the worst.
2. Throughput: 5,000 events committed while the subscription is inactive (`seed_devices`, one COPY), then the
   subscription re-enabled; deliveries per second from then to the last arrival.
3. The same beside a second subscription whose endpoint never answers (each attempt waits the whole timeout):
   the healthy subscription's throughput should not change.

The devices made here (ids `bench-webhook-…`) are removed at the end, without events.
Run it with `scripts/bench`, or: `DATABASE_URL=postgres://... python tests/bench/bench_webhooks.py [--events N]`.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ["DEVMANAGER_WEBHOOK_ALLOW_PRIVATE"] = "true"
os.environ["DEVMANAGER_WEBHOOK_ALLOW_HTTP"] = "true"

import orjson
from django.core.management import call_command
from django.db import connection
from harness import percentile

from devices import services as device_services
from devices.models import Device
from webhooks import services
from webhooks.models import Subscription

ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A local endpoint answering 204 at once (or never, with `silent`), noting when each event arrived."""

    def __init__(self, silent: bool = False):
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if silent:
                    time.sleep(3600)
                event = orjson.loads(body)
                with receiver.lock:
                    receiver.arrivals[event["subject"]] = time.time()
                    receiver.lock.notify_all()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, subjects, timeout: float = 120.0) -> None:
        with self.lock:
            if not self.lock.wait_for(lambda: all(s in self.arrivals for s in subjects), timeout=timeout):
                missing = sum(s not in self.arrivals for s in subjects)
                raise SystemExit(f"{missing} event(s) never arrived")


def start_worker() -> subprocess.Popen:
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker"], cwd=ROOT, env={**os.environ, "DJANGO_LOG_LEVEL": "ERROR"},
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    worker.stdout.readline()
    return worker


def latency(receiver: Receiver, prefix: str, count: int) -> None:
    committed = {}
    for index in range(count):
        device_id = f"{prefix}lat-{index}"
        device_services.device_create(id=device_id, source="command:bench")
        committed[device_id] = time.time()
        time.sleep(random.uniform(0.02, 0.1))
    receiver.wait_for(committed)
    delays = [(receiver.arrivals[device_id] - at) * 1000 for device_id, at in committed.items()]
    print(
        f"commit to delivery, idle worker ({count} events): p50 {percentile(delays, 0.5):.1f} ms, "
        f"p95 {percentile(delays, 0.95):.1f} ms, worst {max(delays):.1f} ms"
    )


def throughput(receiver: Receiver, subscription: Subscription, prefix: str, count: int, label: str) -> None:
    services.subscription_update(subscription_id=subscription.pk, active=False)
    with open(os.devnull, "w") as quiet:
        call_command("seed_devices", count=count, prefix=prefix, stdout=quiet)
    subjects = list(Device.objects.filter(id__startswith=prefix).values_list("id", flat=True))
    started = time.time()
    services.subscription_update(subscription_id=subscription.pk, active=True)
    receiver.wait_for(subjects)
    took = max(receiver.arrivals[s] for s in subjects) - started
    print(f"throughput{label}: {len(subjects):,} events in {took:.2f} s, {len(subjects) / took:.0f} deliveries/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000, help="Events of each throughput run.")
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--iterations", type=int, help="(scripts/bench passes it; unused here)")
    options = parser.parse_args()
    prefix = f"bench-webhook-{uuid.uuid4().hex[:6]}-"
    receiver, silent = Receiver(), Receiver(silent=True)
    healthy = services.subscription_create(url=receiver.url, event_types=["device.created"])
    worker = start_worker()
    try:
        time.sleep(2)  # the worker's threads are up and idle
        latency(receiver, prefix, options.latency_events)
        throughput(receiver, healthy, f"{prefix}a-", options.events, "")
        failing = services.subscription_create(url=silent.url, event_types=["device.created"])
        throughput(receiver, healthy, f"{prefix}b-", options.events, " beside a subscription that never answers")
        failing.refresh_from_db()
        print(
            f"  (the silent endpoint meanwhile held one worker thread: {failing.failed_count} attempt(s) timed out, "
            f"each after DEVMANAGER_WEBHOOK_TIMEOUT)"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        Subscription.objects.filter(url__in=[receiver.url, silent.url]).delete()
        # The benchmark's own devices go without events: they were never part of the fleet measured elsewhere.
        Device.objects.filter(id__startswith=prefix).delete()
        connection.close()


if __name__ == "__main__":
    main()
