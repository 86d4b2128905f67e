"""Walking every page while devices are created and deleted returns each surviving device exactly once."""

import random
from collections import Counter

import pytest

from devices.models import Device
from devices.services import device_create
from tests.conftest import API

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("sort_by", "sort_mode"),
    [
        ("creation_timestamp", "asc"),
        ("creation_timestamp", "desc"),
        ("id", "desc"),
        ("status", "asc"),  # few distinct values: ties broken by id
        ("alias", "desc"),
        ("updated_timestamp", "asc"),
    ],
)
def test_walk_under_concurrent_writes_returns_survivors_once(api_client, sort_by, sort_mode):
    rng = random.Random(7)
    statuses = ["ACTIVE", "EXPIRED", "NO_IDENTITY"]
    for n in range(60):
        device_create(id=f"initial-{n:03d}", alias=f"alias-{rng.randint(0, 9)}", source="test")
        Device.objects.filter(pk=f"initial-{n:03d}").update(status=rng.choice(statuses))
    initial = set(Device.objects.values_list("pk", flat=True))
    deleted, created = set(), 0
    seen = Counter()

    response = api_client.get(f"{API}/devices", {"sort_by": sort_by, "sort_mode": sort_mode, "page_size": 7})
    while True:
        assert response.status_code == 200, response.content
        page = response.json()
        seen.update(device["id"] for device in page["list"])
        # Meanwhile: other clients delete devices and create new ones (sorting before and after the cursor).
        for victim in rng.sample(sorted(initial - deleted), 2):
            Device.objects.filter(pk=victim).delete()
            deleted.add(victim)
        for _ in range(3):
            device_create(id=f"new-{created:03d}-{rng.choice('az')}", alias=f"alias-{rng.randint(0, 9)}", source="t")
            created += 1
        if not page["next"]:
            break
        response = api_client.get(f"{API}/devices", {"bookmark": page["next"]})

    survivors = initial - deleted
    assert all(seen[device_id] == 1 for device_id in survivors), [d for d in survivors if seen[d] != 1]
    assert max(seen.values()) == 1
