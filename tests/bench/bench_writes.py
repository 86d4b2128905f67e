"""Benchmark of single-device writes through the whole Django stack: create, metadata replace, identity slot
update and delete, each p50/p95 (each write is its own transaction, committed).

Run it with `scripts/bench`, or directly against a seeded database:
`DATABASE_URL=postgres://... python tests/bench/bench_writes.py [--iterations N]`. It creates and deletes its own
devices (ids `bench-write-…`), leaving the database as it found it but for the feed's events.
"""

import statistics
import time
import uuid

from harness import API, Bench, arguments, percentile

HEADER = f"{'write':32} {'p50 ms':>8} {'p95 ms':>8}"


def timed(request, url: str, body=None) -> float:
    """Milliseconds `request(url, body)` took; stops the run on an error answer."""
    started = time.perf_counter()
    response = request(url, body, content_type="application/json") if body is not None else request(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code >= 300:
        raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    client = Bench(args.iterations).client
    times: dict[str, list[float]] = {"POST /devices": [], "PUT metadata": [], "PUT idslot": [], "DELETE (force)": []}
    run = uuid.uuid4().hex[:6]
    slot = {"status": "ACTIVE", "active_version": 1, "type": "X509", "expiration_date": "2030-01-01T00:00:00Z"}
    for index in range(args.iterations):
        device = f"{API}/devices/bench-write-{run}-{index}"
        created = {"id": f"bench-write-{run}-{index}", "tags": ["sensor"], "metadata": {"location": "a", "n": index}}
        times["POST /devices"].append(timed(client.post, f"{API}/devices", created))
        times["PUT metadata"].append(timed(client.put, f"{device}/metadata", {"metadata": {"n": -index - 1}}))
        times["PUT idslot"].append(timed(client.put, f"{device}/idslot", slot))
        times["DELETE (force)"].append(timed(client.delete, f"{device}?force=true"))
    print(f"iterations per write: {args.iterations}   database: PostgreSQL")
    print(HEADER)
    for name, values in times.items():
        print(f"{name:32} {statistics.median(values):8.2f} {percentile(values, 0.95):8.2f}")


if __name__ == "__main__":
    main()
