"""Running API calls from several threads at once, for the PostgreSQL concurrency tests."""

import threading

from django.db import connections
from rest_framework.test import APIClient


def run_concurrently(work, plaintext: str, threads: int) -> list[BaseException]:
    """Run `work(client, thread_index)` in threads released together, each with its own client and database
    connection (closed at the end); the exceptions they raised."""
    barrier = threading.Barrier(threads)
    errors = []

    def thread_main(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        try:
            barrier.wait(timeout=30)
            work(client, index)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=thread_main, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers), "a thread hung"
    return errors
