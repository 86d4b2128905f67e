"""No event is ever skipped (contract, section 7), on PostgreSQL with writers committing concurrently: writer threads
hold their transactions open for random times, before and after recording their events, so that transactions
commit in another order than they began; a reader walks the feed with `next` meanwhile. It must see every event
exactly once, in position order."""

import random
import threading
import time

import pytest
from django.db import connection, connections, transaction

from devices import services
from events.models import Event
from tests.concurrency import run_concurrently
from tests.conftest import API

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"),
]

WRITERS = 8
DEVICES_PER_WRITER = 12


def write_slowly(client, index: int) -> None:
    rng = random.Random(index)
    for number in range(DEVICES_PER_WRITER):
        with transaction.atomic():
            time.sleep(rng.uniform(0, 0.02))  # began, not yet recorded
            services.device_create(id=f"w{index}-{number}", source="test", metadata={"n": number})
            services.device_replace_metadata(
                device_id=f"w{index}-{number}", metadata={"n": number + 1000}, source="test"
            )
            time.sleep(rng.uniform(0, 0.01))  # recorded, not yet committed


def test_a_reader_walking_the_feed_sees_every_event_once_in_order(api_key):
    plaintext = api_key()
    seen: list[int] = []
    done = threading.Event()
    reader_errors: list[BaseException] = []

    def read() -> None:
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        try:
            page = client.get(f"{API}/events", {"page_size": 7}).json()
            while True:
                seen.extend(int(event["id"]) for event in page["list"])
                finished = done.is_set()  # read before the page: a page after it holds everything
                page = client.get(f"{API}/events", {"bookmark": page["next"]}).json()
                if finished and not page["list"]:
                    return
        except BaseException as exc:
            reader_errors.append(exc)
        finally:
            connections.close_all()

    reader = threading.Thread(target=read)
    reader.start()
    errors = run_concurrently(write_slowly, plaintext, threads=WRITERS)
    done.set()
    reader.join(timeout=120)

    assert not errors and not reader_errors, errors + reader_errors
    stored = list(Event.objects.order_by("position").values_list("position", flat=True))
    assert len(stored) == WRITERS * DEVICES_PER_WRITER * 2
    assert seen == stored  # each once, in order, none skipped
    assert stored == list(range(stored[0], stored[0] + len(stored)))  # no holes either


def test_a_transaction_rolled_back_after_recording_leaves_no_hole():
    services.device_create(id="first", source="test")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.device_create(id="rolled-back", source="test")
        raise RuntimeError("roll back")
    services.device_create(id="kept", source="test")

    positions = dict(Event.objects.values_list("subject", "position"))
    assert set(positions) == {"first", "kept"}
    assert positions["kept"] == positions["first"] + 1  # the rolled-back position is handed out again
