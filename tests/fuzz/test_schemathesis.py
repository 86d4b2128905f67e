"""Schemathesis over our own OpenAPI document (issue #8): every operation, with a key holding every scope.

Each answer must not be a 500, must match the document (status code, content type, body, headers; the error body
included) and must carry `X-Request-ID`. A few devices, groups and adapters are seeded, and path parameters name
them half of the time (the device ones in every path form: id, `imei:`, `deveui:`, `urn:dev:...`), so the fuzzer
reaches the handlers behind the 404s; lists also get well-formed filters (strategies.py) and real bookmarks. Each
generated request runs in a savepoint rolled back afterwards, so every request sees the same seeded data.

CI runs a bounded, derandomized (so repeatable) exploration. A longer one, with other inputs for every seed:
`FUZZ_SEED=$RANDOM FUZZ_MAX_EXAMPLES=1000 scripts/test tests/fuzz -q` (the same seed replays the same run).
"""

import os
import uuid
from contextlib import contextmanager

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from django.test import override_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from devices import services as device_services
from devices.filters import DEVICE_FILTER_FIELDS, EVENT_FILTER_FIELDS
from devices.models import Device
from events.filters import FEED_FILTER_FIELDS
from groups.filters import GROUP_FILTER_FIELDS
from tests.conftest import API
from tests.factories import DeviceFactory, DeviceGroupFactory, NetworkAdapterFactory
from tests.openapi import CHECKS

from .strategies import filter_lists, hostile_body

# Generated requests per operation, on top of the examples and the coverage phase's deterministic cases.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
SEED = int(os.environ["FUZZ_SEED"]) if os.environ.get("FUZZ_SEED") else None

APP = WSGIHandler()

# Loaded through the app, as clients see it; the autouse fixtures that turn HTTPS off do not run at import time.
with override_settings(DEVMANAGER_REQUIRE_HTTPS=False):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", APP, config=schemathesis.Config(seed=SEED))

# --- Seeded data ------------------------------------------------------------------------------------------------------

SENSOR = "fuzz-sensor"
ACTIVE = "fuzz-active"
DECOMMISSIONED = "fuzz-decommissioned"
IMEI = "356938035643809"
DEV_EUI = "70b3d5e75e001234"
DVN_UUID = "0b6c1f0e-6f1a-4a55-9a7e-3c2b8d1e4f50"
ROOT_GROUP = uuid.UUID("5d1f2a3b-0000-4000-8000-000000000001")
CHILD_GROUP = uuid.UUID("5d1f2a3b-0000-4000-8000-000000000002")
EMPTY_ROOT_GROUP = uuid.UUID("5d1f2a3b-0000-4000-8000-000000000003")
ADAPTERS = [
    uuid.UUID("ada97e40-0000-4000-8000-000000000001"),
    uuid.UUID("ada97e40-0000-4000-8000-000000000002"),
    uuid.UUID("ada97e40-0000-4000-8000-000000000003"),
]

# The values a path parameter may take besides the generated ones, by parameter name (the same name everywhere).
DEVICE_REFERENCES = [
    SENSOR,
    ACTIVE,
    DECOMMISSIONED,
    f"imei:{IMEI}",
    f"urn:dev:imei:{IMEI}:",
    f"deveui:{DEV_EUI.upper()}",
    f"urn:dev:deveui:{DEV_EUI}",
    f"dvnuuid:{DVN_UUID}",
]
GROUP_REFERENCES = [str(ROOT_GROUP), str(CHILD_GROUP), str(EMPTY_ROOT_GROUP)]
SEEDED_VALUES = {
    "device_id": DEVICE_REFERENCES,
    "group_id": GROUP_REFERENCES,
    "adapter_id": [str(adapter) for adapter in ADAPTERS],
    "dms_id": ["dms-production", "dms-fuzz"],
}


# The members of a body that hold arbitrary JSON, by operation (method, path suffix).
JSON_MEMBERS = {
    ("POST", "/devices"): ["metadata"],
    ("PUT", "/metadata"): ["metadata", "patches"],
    ("PATCH", "/metadata"): ["patches"],
    ("PUT", "/idslot"): ["versions"],
}

# Lists whose first page (of one item) has a next page; `fuzz_environment` puts their bookmarks in BOOKMARKS.
BOOKMARKED_LISTS = [
    "/devices?page_size=1",
    "/devices?page_size=1&sort_by=alias&sort_mode=desc&filter=status[ne]:REVOKED",
    "/devices/dms/dms-production?page_size=1",
    f"/devices/{ACTIVE}/events?page_size=1&filter=type[ne]:DECOMMISSIONED",
    "/device-groups?page_size=1&sort_by=name",
    f"/device-groups/{ROOT_GROUP}/devices?page_size=1",
]
BOOKMARKS: list[str] = []


def filter_fields(path: str) -> dict:
    """The filter language fields of a list (or of /stats)."""
    if path.endswith("/v1/events"):
        return FEED_FILTER_FIELDS
    if path.endswith("/events"):
        return EVENT_FILTER_FIELDS
    if path.endswith("/device-groups"):
        return GROUP_FILTER_FIELDS
    return DEVICE_FILTER_FIELDS


def issue_bookmarks(authorization: str) -> list[str]:
    client = APIClient(HTTP_AUTHORIZATION=authorization)
    bookmarks = {url: client.get(f"{API}{url}").json()["next"] for url in BOOKMARKED_LISTS}
    assert all(bookmarks.values()), [url for url, bookmark in bookmarks.items() if not bookmark]
    return list(bookmarks.values())


@pytest.fixture
def seeded(db):
    """Devices in three states, a small group tree and one adapter of each type, with fixed ids."""
    DeviceFactory(id="fuzz-spare", alias="spare", tags=["sensor"])
    DeviceFactory(id=SENSOR, tags=["sensor", "temperature"], metadata={"location": "warehouse-a", "temp": 21})
    DeviceFactory(id=ACTIVE, tags=["gateway"], dms_owner="dms-fuzz", metadata={"sensors": [{"type": "temp"}]})
    DeviceFactory(id=DECOMMISSIONED, tags=[], metadata={})
    device_services.device_set_identity_slot(
        device_id=ACTIVE, source="fuzz", status="ACTIVE", active_version=1, type="X509", versions={"1": "pem"}
    )
    device_services.device_decommission(device_id=DECOMMISSIONED, source="fuzz")
    root = DeviceGroupFactory(id=ROOT_GROUP, criteria=[{"field": "tags", "operand": "contains", "value": "sensor"}])
    DeviceGroupFactory(
        id=CHILD_GROUP, parent=root, criteria=[{"field": "status", "operand": "eq", "value": "NO_IDENTITY"}]
    )
    DeviceGroupFactory(id=EMPTY_ROOT_GROUP)
    sensor = Device.objects.get(pk=SENSOR)
    active = Device.objects.get(pk=ACTIVE)
    NetworkAdapterFactory(id=ADAPTERS[0], device=sensor, type="cellular", imei=IMEI, msisdn="+491701234567")
    NetworkAdapterFactory(id=ADAPTERS[1], device=sensor, type="lora", dev_eui=DEV_EUI, activation="OTAA")
    NetworkAdapterFactory(id=ADAPTERS[2], device=active, type="generic", dvn_uuid=DVN_UUID)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half of the time, a path parameter names a seeded object instead of a generated string."""
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {
            name: st.one_of(st.sampled_from(SEEDED_VALUES[name]), st.just(value))
            if name in SEEDED_VALUES
            else st.just(value)
            for name, value in path_parameters.items()
        }
    )


@schema.hook
def flatmap_query(context, query):
    """Lists often get well-formed filters, or a real bookmark (of this list or another) with or without the rest."""
    names = {parameter.name for parameter in context.operation.query}
    query = dict(query or {})
    if str(query.get("wait", "")).isdigit():  # a valid wait holds the request up to 30 s: one second is enough
        query["wait"] = str(min(int(query["wait"]), 1))
    choices = [st.just(query)]
    if "filter" in names:
        filters = filter_lists(filter_fields(context.operation.path))
        # Alone too: a generated page_size or bookmark is nearly always invalid, and refused before the filters.
        choices.append(filters.map(lambda expressions: {**query, "filter": expressions}))
        choices.append(filters.map(lambda expressions: {"filter": expressions}))
    if "bookmark" in names:
        # Drawn by position: the pool is refilled for each test, after the strategies are built.
        index = st.integers(0, len(BOOKMARKED_LISTS) - 1)
        choices.append(index.map(lambda i: {**query, "bookmark": BOOKMARKS[i]}))
        choices.append(index.map(lambda i: {"bookmark": BOOKMARKS[i]}))
    return st.one_of(choices)


@schema.hook
def flatmap_body(context, body):
    """JSON bodies often carry hostile JSON (U+0000, lone surrogates, 20-digit integers, deep nesting) in metadata,
    slot versions and patch operations."""
    operation = context.operation
    members = next(
        (names for (method, suffix), names in JSON_MEMBERS.items() if operation.method.upper() == method
         and operation.path.endswith(suffix)),
        [],
    )  # fmt: skip
    return hostile_body(body, members) if members else st.just(body)


@schema.hook
def flatmap_headers(context, headers):
    """A generated If-Match almost never matches (412); `*` sometimes lets a conditional write through."""
    if not headers or "If-Match" not in headers:
        return st.just(headers)
    return st.one_of(st.just(headers), st.just({**headers, "If-Match": "*"}))


# --- The run ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def fuzz_environment(settings, api_key, seeded):
    """The authorization header of a key with every scope, and real bookmarks in BOOKMARKS."""
    # A throttle (DEVMANAGER_THROTTLE_RATE) would turn a burst of generated requests into 429s.
    settings.DEVMANAGER_THROTTLE_RATE = ""
    settings.DEVMANAGER_SSE_MAX_SECONDS = 1  # a stream of the feed (Accept: text/event-stream) ends soon
    authorization = f"Bearer {api_key(name='fuzz')}"
    BOOKMARKS[:] = issue_bookmarks(authorization)
    return {"Authorization": authorization}


@contextmanager
def in_test_transaction():
    """Serve one request on the test's transaction, in a savepoint rolled back afterwards: whatever it writes is
    undone, so the next request sees the seeded data again."""
    # As Django's test client does: the WSGI handler's request signals would close the connection (and with it the
    # test's transaction) on PostgreSQL. SQLite's in-memory test database ignores a close, which would hide it.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        with transaction.atomic():
            yield
            transaction.set_rollback(True)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # a request's time depends on the machine, not on the input
    derandomize=SEED is None,
    database=None,  # nothing written into the working tree; a failure is replayed by its seed
    # The function-scoped fixtures are safe: each example's writes are rolled back (in_test_transaction()).
    suppress_health_check=[
        hypothesis.HealthCheck.too_slow,
        hypothesis.HealthCheck.function_scoped_fixture,
        hypothesis.HealthCheck.filter_too_much,
    ],
)
def test_api_answers_conform_to_schema(case, fuzz_environment):
    with in_test_transaction():
        case.call_and_validate(headers=fuzz_environment, checks=CHECKS)
