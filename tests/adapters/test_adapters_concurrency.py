"""Adapters under real concurrency, through the whole HTTP stack: one identifier is taken once (the unique index
settles the race: one 201, the rest 409, never a 500), and the device's row lock keeps a device at 16 adapters.

PostgreSQL only: SQLite serialises every writer on the whole database, so it would prove nothing here.
"""

from collections import Counter

import pytest
from django.db import connection

from adapters.models import MAX_ADAPTERS_PER_DEVICE, NetworkAdapter
from tests.concurrency import run_concurrently
from tests.conftest import API
from tests.factories import DeviceFactory, NetworkAdapterFactory, imei_from

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks under real concurrency need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8
IMEI = "490154203237518"
DEV_EUI = "0004A30B001C0530"


def test_same_imei_on_different_devices_taken_once(api_key):
    devices = [DeviceFactory(id=f"racer-{index}") for index in range(THREADS)]
    statuses = {}

    def create(client, index):
        response = client.post(
            f"{API}/devices/{devices[index].id}/network-adapters", {"type": "cellular", "imei": IMEI}, format="json"
        )
        statuses[index] = (response.status_code, response.json())

    errors = run_concurrently(create, api_key(), THREADS)

    assert errors == []
    assert Counter(status for status, _ in statuses.values()) == {201: 1, 409: THREADS - 1}
    assert all(body["type"] == "conflict" for status, body in statuses.values() if status == 409)
    winner = next(index for index, (status, _) in statuses.items() if status == 201)
    assert list(NetworkAdapter.objects.values_list("device_id", "imei")) == [(devices[winner].id, IMEI)]


def test_same_dev_eui_in_different_cases_taken_once(api_key):
    devices = [DeviceFactory(id=f"racer-{index}") for index in range(THREADS)]
    statuses = []

    def create(client, index):
        dev_eui = DEV_EUI.lower() if index % 2 else DEV_EUI
        response = client.post(
            f"{API}/devices/{devices[index].id}/network-adapters", {"type": "lora", "devEui": dev_eui}, format="json"
        )
        statuses.append(response.status_code)

    errors = run_concurrently(create, api_key(), THREADS)

    assert errors == []
    assert Counter(statuses) == {201: 1, 409: THREADS - 1}
    assert NetworkAdapter.objects.filter(dev_eui=DEV_EUI.lower()).count() == 1


def test_concurrent_adds_to_one_device_never_exceed_limit(api_key):
    device = DeviceFactory(id="crowded")
    per_thread = 4  # 32 attempts for 16 places
    statuses = []

    def add(client, index):
        for step in range(per_thread):
            imei = imei_from(f"{index:07d}{step:07d}")
            response = client.post(
                f"{API}/devices/crowded/network-adapters", {"type": "cellular", "imei": imei}, format="json"
            )
            statuses.append(response.status_code)

    errors = run_concurrently(add, api_key(), THREADS)

    assert errors == []
    assert Counter(statuses) == {201: MAX_ADAPTERS_PER_DEVICE, 409: THREADS * per_thread - MAX_ADAPTERS_PER_DEVICE}
    assert NetworkAdapter.objects.filter(device=device).count() == MAX_ADAPTERS_PER_DEVICE


def test_concurrent_adds_of_distinct_identifiers_all_apply(api_key):
    devices = [DeviceFactory(id=f"dev-{index}") for index in range(THREADS)]
    statuses = []

    def add(client, index):
        for step in range(2):
            response = client.post(
                f"{API}/devices/dev-{(index + step) % THREADS}/network-adapters", {"type": "generic"}, format="json"
            )
            statuses.append(response.status_code)

    errors = run_concurrently(add, api_key(), THREADS)

    assert errors == []
    assert statuses == [201] * (THREADS * 2)
    assert [NetworkAdapter.objects.filter(device=device).count() for device in devices] == [2] * THREADS


def test_concurrent_update_and_delete_never_fail(api_key):
    """An update that looked the adapter up just before a delete removed it is a 404, not a 500."""
    device = DeviceFactory(id="contested")
    plaintext = api_key()
    statuses = []

    for round_ in range(5):
        adapter = NetworkAdapterFactory(device=device)
        url = f"{API}/devices/contested/network-adapters/{adapter.pk}"

        def write(client, index, url=url, round_=round_):
            if index == 0:
                response = client.delete(url)
            else:
                response = client.put(url, {"msisdn": f"+316{round_:02d}{index:06d}"}, format="json")
            statuses.append((index == 0, response.status_code))

        assert run_concurrently(write, plaintext, THREADS) == []

    assert {status for deleting, status in statuses if deleting} == {204}
    assert {status for deleting, status in statuses if not deleting} <= {200, 404}
    assert not NetworkAdapter.objects.filter(device=device).exists()
