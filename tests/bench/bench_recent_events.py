"""Benchmark of how a page of devices gets its recent events: the window-function query with plain rows that
`attach_recent_events` runs, against Django's `Prefetch` of a sliced queryset (the public API for it, Django 4.2+).

It writes 5,000 devices with 30 events each in a transaction that it rolls back, so any migrated database serves:
`DATABASE_URL=postgres://... python tests/bench/bench_recent_events.py [--iterations N]` (`scripts/bench` runs it).
"""

import random
import statistics
import time
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone
from harness import arguments

from devices.api.serializers import DeviceSerializer, device_representation
from devices.batch import devices_bulk_insert
from devices.models import Device, DeviceEvent
from devmanager.bulk import copy_rows
from transfer.management.commands.seed_devices import synthetic_device

DEVICES, EVENTS_EACH = 5000, 30


def populate() -> None:
    rng, now = random.Random(3), timezone.now()
    devices = [synthetic_device(rng, f"recent-{n:07d}", now) for n in range(DEVICES)]
    devices_bulk_insert(devices=devices, source="bench")
    events = [(device["id"], device["creation_timestamp"] + timedelta(seconds=n + 1), "METADATA-UPDATED",
               "Metadata replaced", "bench") for device in devices for n in range(EVENTS_EACH)]  # fmt: skip
    copy_rows(DeviceEvent, ["device_id", "timestamp", "type", "description", "source"], events)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE devices_device; ANALYZE devices_deviceevent")


def median_ms(function, iterations: int) -> float:
    function()
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    iterations = arguments(__doc__).iterations
    with transaction.atomic():
        populate()
        page = Device.objects.for_representation().filter(pk__startswith="recent-").order_by("creation_timestamp", "id")
        recent = DeviceEvent.objects.order_by("-timestamp")[:20]
        prefetched = page.prefetch_related(Prefetch("events", queryset=recent, to_attr="recent_events"))
        for size in (25, 1000):
            window = median_ms(lambda size=size: DeviceSerializer(page[:size], many=True).data, iterations)
            prefetch = median_ms(
                lambda size=size: [device_representation(device) for device in prefetched[:size]], iterations
            )
            print(f"page of {size:>4}: window query {window:7.1f} ms   Prefetch(sliced) {prefetch:7.1f} ms   "
                  f"({prefetch / window:.1f}x)")  # fmt: skip
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()
