"""What the benchmarks share: Django set up for a seeded PostgreSQL database, and the measuring harness.

Each scenario is requested through Django's test client (middleware, authentication, DRF, serialisation; no
socket). The SQL the endpoint ran on the device and group tables is captured once and replayed through a
separate psycopg connection, so "bare SQL" is what the database alone needs to answer.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "devmanager.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark")
os.environ["DEVMANAGER_REQUIRE_HTTPS"] = "false"
os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

import django

django.setup()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from devmanager.api.services import api_key_create  # noqa: E402

API = "/api/devmanager/v1"
DATA_TABLES = (
    "devices_device", "devices_devicetag", "devices_deviceevent", "groups_devicegroup", "events_event",
    "events_feedcounter",
)  # fmt: skip


def use_empty_database(suffix: str) -> str:
    """Point Django at a fresh database beside the configured one (`<name>_<suffix>`, dropped and made again) and
    migrate it; its URL (for the processes a benchmark starts)."""
    from django.core.management import call_command
    from django.db import connections

    settings = connection.settings_dict
    name = f"{settings['NAME']}_{suffix}"
    libpq = {"host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"]}
    with psycopg.connect(**libpq, password=settings["PASSWORD"], dbname=settings["NAME"], autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    connections.close_all()
    settings["NAME"] = name
    call_command("migrate", verbosity=0)
    return f"postgres://{settings['USER']}:{settings['PASSWORD'] or ''}@{settings['HOST']}:{settings['PORT']}/{name}"


SERVER_SETTINGS = ("shared_buffers", "max_wal_size")


def server_settings() -> str:
    """The PostgreSQL settings that bulk writes' figures depend on, to print beside them (docs/benchmarks.md states
    the set-up of each row)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", [list(SERVER_SETTINGS)])
        return ", ".join(f"{name} {value}" for name, value in cursor.fetchall())


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def list_url(path: str = "/devices", **params) -> str:
    filters = params.pop("filter", [])
    query = [("filter", item) for item in filters] + list(params.items())
    return f"{API}{path}?{urlencode(query)}" if query else f"{API}{path}"


class Bench:
    def __init__(self, iterations: int):
        self.iterations = iterations
        _, key = api_key_create(name="benchmark")
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        settings = connection.settings_dict
        self.raw = psycopg.connect(
            host=settings["HOST"], port=settings["PORT"], user=settings["USER"], password=settings["PASSWORD"],
            dbname=settings["NAME"], autocommit=True,
        )  # fmt: skip

    def request(self, url: str):
        response = self.client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
        return response

    def measure(self, name: str, url: str, iterations: int | None = None, reference: str | None = None) -> dict:
        """`reference`: hand-written SQL giving the same answer, timed as the bare SQL instead of the statements the
        endpoint ran (for an aggregation, whose statement is the endpoint's own)."""
        iterations = iterations or self.iterations
        with CaptureQueriesContext(connection) as captured:
            self.request(url)
        queries = [query["sql"] for query in captured.captured_queries]
        # A server-side cursor (DECLARE, from .iterator()) is not replayable on its own.
        statements = [sql for sql in queries if any(t in sql for t in DATA_TABLES) and not sql.startswith("DECLARE")]
        statements = [reference] if reference else statements
        for _ in range(2):  # warm caches for both paths
            self.request(url)
            self.run_sql(statements)
        endpoint, bare = [], []
        for _ in range(iterations):
            started = time.perf_counter()
            self.request(url)
            endpoint.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            self.run_sql(statements)
            bare.append((time.perf_counter() - started) * 1000)
        return {
            "name": name,
            "p50": statistics.median(endpoint),
            "p95": percentile(endpoint, 0.95),
            "sql_p50": statistics.median(bare),
            "queries": len(queries),
        }

    def run_sql(self, statements: list[str]) -> None:
        with self.raw.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
                cursor.fetchall()

    def bookmark_of_page(self, page: int, url: str) -> str:
        """Walk the list (`url` may carry its parameters) to the given page (1-based) and return the bookmark that
        opens it: each page after the first is asked for by its bookmark alone."""
        bookmark, path = "", url.partition("?")[0]
        for _ in range(page - 1):
            bookmark = self.request(f"{path}?{urlencode({'bookmark': bookmark})}" if bookmark else url).json()["next"]
        return bookmark


HEADER = f"{'scenario':40} {'p50 ms':>8} {'p95 ms':>8} {'SQL p50 ms':>11} {'ratio':>6} {'queries':>8}"


def print_row(row: dict) -> None:
    ratio = row["p50"] / row["sql_p50"] if row["sql_p50"] else float("nan")
    print(
        f"{row['name']:40} {row['p50']:8.2f} {row['p95']:8.2f} {row['sql_p50']:11.2f} {ratio:6.1f} {row['queries']:8d}"
    )


def run(bench: Bench, scenarios: list[tuple]) -> None:
    """Measure and print each (name, url[, reference SQL]); stats scenarios, being slow, run a fifth as many times."""
    print(HEADER)
    for name, url, *reference in scenarios:
        iterations = max(5, bench.iterations // 5) if "stats" in name else None
        print_row(bench.measure(name, url, iterations, *reference))


def arguments(description: str):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("The benchmark runs against PostgreSQL (set DATABASE_URL).")
    return args
