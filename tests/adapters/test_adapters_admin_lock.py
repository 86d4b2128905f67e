"""The adapters inline saves under the device's row lock, as the API does: an admin save that starts while an API
write holds the lock waits for it, then sees its result. PostgreSQL only (SQLite serialises every writer)."""

import threading
import time

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from django.test import Client

from adapters import services
from adapters.models import MAX_ADAPTERS_PER_DEVICE, NetworkAdapter
from devices.services import device_lock
from tests.adapters.test_adapters_admin import IMEI, with_new_adapter
from tests.admin_pages import change_form_data, device_change_url
from tests.factories import DeviceFactory, NetworkAdapterFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks under real concurrency need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def wait_until_blocked_on_a_lock(timeout: float = 20) -> None:
    """Until another backend waits for a lock: the admin's save has reached the device's row."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            # pg_locks, not pg_stat_activity, whose snapshot stays the same for the rest of a transaction.
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the admin's save never waited for the device's lock")


def test_admin_save_waits_for_an_api_write_and_counts_its_adapter():
    device = DeviceFactory(id="dev-1")
    for _ in range(MAX_ADAPTERS_PER_DEVICE - 1):
        NetworkAdapterFactory(device=device, type="generic")
    User.objects.create_superuser("admin", "admin@example.com", "password")
    admin = Client()
    admin.force_login(User.objects.get(username="admin"))
    data = with_new_adapter(change_form_data(admin, "dev-1"), type="cellular", imei=IMEI)
    outcome = {}

    def save_in_admin():
        try:
            outcome["status"] = admin.post(device_change_url("dev-1"), data).status_code
        finally:
            connections.close_all()

    # An API write to the device is under way: it holds the row lock while the admin's save starts.
    with transaction.atomic():
        device_lock(device_id="dev-1")
        saver = threading.Thread(target=save_in_admin)
        saver.start()
        wait_until_blocked_on_a_lock()
        services.adapter_create(device_id="dev-1", type="lora", dev_eui="0004a30b001c0530")
    saver.join(timeout=60)

    assert outcome["status"] == 200  # the form again, with the error: the API's adapter took the last place
    assert NetworkAdapter.objects.filter(device=device).count() == MAX_ADAPTERS_PER_DEVICE
