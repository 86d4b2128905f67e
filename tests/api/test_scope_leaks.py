"""No answer of the API reveals a device outside a restricted key's DMSs (contract, section 10).

Every operation of the OpenAPI document is called with a key restricted to `dms-mine`, against a fleet that also has
devices of `dms-theirs` and of no DMS, each reachable through its id and its adapters' identifiers. The test fails
for an operation it does not know how to call: an endpoint added later has to be added here, and so is checked.

What "reveals nothing" means here:
- no answer holds a marker of the other devices (their ids, DMS, alias, tags, metadata, adapters' identifiers);
- a path naming one of them answers exactly as a path naming a device that does not exist (the same status and
  body but for the name itself and the request id), after the same number of SQL queries;
- counts (`/stats`, group stats, dry runs, `total`) count the key's devices only;
- a write through such a path changes nothing.
"""

import re

import pytest

from devices import services as device_services
from devices.models import Device
from devmanager.api.services import api_key_create
from fleet.models import Job
from groups.models import DeviceGroup
from tests.conftest import API, bearer_client
from tests.factories import DeviceFactory, DeviceGroupFactory, NetworkAdapterFactory
from tests.openapi import served_schema
from webhooks.models import Subscription
from webhooks.services import subscription_create

MINE, THEIRS = "dms-mine", "dms-theirs"
IMEI, IMEI_ABSENT = "490154203237518", "356938035643809"
EUI, EUI_ABSENT = "70b3d5feedc0ffee", "70b3d5deadbeef00"
DVN, DVN_ABSENT = "6f1c3b1e-7d2a-4e8a-9a51-0c5be7e0aa11", "0b0b0b0b-1111-4222-8333-444455556666"
# Each outside device's references in a path, beside a reference of the same form that names no device.
THEIR_REFERENCES = [
    ("theirs-1", "absent-1"),
    ("theirs-nodms", "absent-nodms"),
    (f"imei:{IMEI}", f"imei:{IMEI_ABSENT}"),
    (f"urn:dev:imei:{IMEI}", f"urn:dev:imei:{IMEI_ABSENT}"),
    (f"deveui:{EUI}", f"deveui:{EUI_ABSENT}"),
    (f"dvnuuid:{DVN}", f"dvnuuid:{DVN_ABSENT}"),
]
MARKERS = ("theirs", IMEI, EUI, DVN, "secret-value")
MY_DEVICES = 2
GROUP_CRITERIA = [{"field": "tags", "operand": "ct", "value": "shared"}]


@pytest.fixture(autouse=True)
def _local_webhooks(settings):
    settings.DEVMANAGER_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def fleet(db, api_key):
    for n in range(MY_DEVICES):
        device = DeviceFactory(id=f"mine-{n}", dms_owner=MINE, tags=["shared"], alias=f"mine {n}")
        NetworkAdapterFactory(device=device)
    theirs = DeviceFactory(
        id="theirs-1", dms_owner=THEIRS, tags=["shared", "tag-theirs"], alias="alias theirs",
        metadata={"secret": "secret-value"},
    )  # fmt: skip
    NetworkAdapterFactory(device=theirs, imei=IMEI)
    NetworkAdapterFactory(device=theirs, type="lora", dev_eui=EUI)
    NetworkAdapterFactory(device=theirs, type="generic", dvn_uuid=DVN)
    device_services.device_set_identity_slot(device_id="theirs-1", source="t", status="ACTIVE", active_version=1,
                                             type="X509")  # fmt: skip
    DeviceFactory(id="theirs-nodms", dms_owner="", tags=["shared"], alias="nodms theirs")
    group = DeviceGroupFactory(name="shared devices", criteria=GROUP_CRITERIA)
    webhook = subscription_create(url="https://127.0.0.1/theirs")  # an unrestricted key's: sees every device
    job = Job.objects.create(
        action="add_tags", params={"tags": ["x"]}, limit=1, status="succeeded", total=1, processed=1, failed=1,
        errors=[{"device_id": "theirs-1", "message": "failed"}],
    )  # fmt: skip
    operator, _ = api_key_create(name="operator-theirs", dms=[THEIRS])
    client = bearer_client(api_key(name="partner", dms=[MINE]))
    return {
        "client": client,
        "group": group,
        "webhook": webhook,
        "job": job,
        "key": operator,
        "adapter": theirs.adapters.get(imei=IMEI),
    }


def reveals_nothing(response, echoed: str = "") -> None:
    """No marker in the answer, but in `echoed`, the caller's own input that an error message repeats."""
    body = response.content.decode() if not response.streaming else b"".join(response.streaming_content).decode()
    body = body.replace(echoed, "<echoed>") if echoed else body
    leaked = [marker for marker in MARKERS if marker in body]
    assert not leaked, f"{response.request['REQUEST_METHOD']} {response.request['PATH_INFO']}: {leaked} in {body}"
    totals = [int(value) for value in re.findall(r'"(?:total|count)":\s*(\d+)', body)]
    assert all(total <= MY_DEVICES for total in totals), body


def same_as_missing(fleet, method: str, template: str, params: dict, body=None, django_assert_num_queries=None):
    """Each outside device's references in the template's device parameter answer as a missing device's does."""
    client = fleet["client"]
    for theirs, absent in THEIR_REFERENCES:
        answers = []
        for reference in (theirs, absent):
            path = API + template.format(**{**params, "device": reference})
            answers.append(getattr(client, method)(path, body, format="json"))
        for answer in answers:
            assert answer.status_code == 404, (template, answer.content)
        bodies = [
            re.sub(r'"request_id":\s*"[^"]+"', "", answer.content.decode()).replace(reference, "<device>")
            for answer, reference in zip(answers, (theirs, absent), strict=True)
        ]
        assert bodies[0] == bodies[1], (template, bodies)


def query_count(client, path) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    return len(queries)


def lists(fleet) -> dict:
    """Every read, by operation: the paths (and query strings) to call with the restricted key."""
    group, webhook, job = fleet["group"].pk, fleet["webhook"].pk, fleet["job"].pk
    everything = ["", "?include=total_count", "?page_size=1", f"?filter=dms_owner[eq]:{THEIRS}", "?search=theirs",
                  "?q=tags[ct]:shared or dms_owner[eq]:", "?sort_by=dms_owner&sort_mode=desc"]  # fmt: skip
    return {
        ("get", "/devices"): [f"/devices{query}" for query in everything],
        ("get", "/devices/dms/{dms_id}"): [f"/devices/dms/{THEIRS}", "/devices/dms/", f"/devices/dms/{MINE}"],
        ("get", "/stats"): [
            "/stats",
            "/stats?group_by=dms_owner",
            "/stats?group_by=tags",
            "/stats?group_by=icon",
            "/stats?group_by=metadata:$.secret",
            f"/stats?q=dms_owner[eq]:{THEIRS}",
        ],
        ("get", "/device-groups"): ["/device-groups", "/device-groups?include=total_count"],
        ("get", "/device-groups/{group_id}"): [f"/device-groups/{group}"],
        ("get", "/device-groups/{group_id}/devices"): [
            f"/device-groups/{group}/devices{query}" for query in everything
        ],
        ("get", "/device-groups/{group_id}/stats"): [
            f"/device-groups/{group}/stats",
            f"/device-groups/{group}/stats?group_by=dms_owner",
        ],
        ("get", "/events"): ["/events", "/events?page_size=1000", "/events?filter=subject[eq]:theirs-1"],
        ("get", "/webhooks"): ["/webhooks"],
        ("get", "/webhooks/{webhook_id}"): [f"/webhooks/{webhook}"],
        ("get", "/webhooks/{webhook_id}/deliveries"): [f"/webhooks/{webhook}/deliveries"],
        ("get", "/device-actions"): ["/device-actions"],
        ("get", "/device-actions/{job_id}"): [f"/device-actions/{job}"],
        ("get", "/api-keys"): ["/api-keys"],
        ("get", "/api-keys/{key_id}"): [f"/api-keys/{fleet['key'].pk}"],
    }


# What an unrestricted key (or one of other DMSs) made: not even there for the restricted key.
NOT_THERE = {("get", "/webhooks/{webhook_id}"), ("get", "/webhooks/{webhook_id}/deliveries"),
             ("get", "/device-actions/{job_id}"), ("get", "/api-keys/{key_id}")}  # fmt: skip


DEVICE_PATHS = {
    ("get", "/devices/{device_id}"): "/devices/{device}",
    ("put", "/devices/{device_id}"): "/devices/{device}",
    ("patch", "/devices/{device_id}"): "/devices/{device}",
    ("delete", "/devices/{device_id}"): "/devices/{device}?force=true",
    ("delete", "/devices/{device_id}/decommission"): "/devices/{device}/decommission",
    ("put", "/devices/{device_id}/idslot"): "/devices/{device}/idslot",
    ("put", "/devices/{device_id}/metadata"): "/devices/{device}/metadata",
    ("patch", "/devices/{device_id}/metadata"): "/devices/{device}/metadata",
    ("get", "/devices/{device_id}/events"): "/devices/{device}/events",
    ("get", "/devices/{device_id}/device-groups"): "/devices/{device}/device-groups",
    ("get", "/devices/{device_id}/device-groups/{group_id}"): "/devices/{device}/device-groups/{group}",
    ("get", "/devices/{device_id}/network-adapters"): "/devices/{device}/network-adapters",
    ("post", "/devices/{device_id}/network-adapters"): "/devices/{device}/network-adapters",
    ("put", "/devices/{device_id}/network-adapters/{adapter_id}"): "/devices/{device}/network-adapters/{adapter}",
    ("delete", "/devices/{device_id}/network-adapters/{adapter_id}"): "/devices/{device}/network-adapters/{adapter}",
}
# A valid body for each device write, so that only the device's visibility can refuse it.
DEVICE_BODIES = {
    ("put", "/devices/{device_id}"): {"alias": "taken over", "dms_id": MINE},
    ("patch", "/devices/{device_id}"): {"alias": "taken over"},
    ("put", "/devices/{device_id}/idslot"): {"status": "ACTIVE", "active_version": 2, "type": "X509"},
    ("put", "/devices/{device_id}/metadata"): {"metadata": {"owned": True}},
    ("patch", "/devices/{device_id}/metadata"): {"patches": [{"op": "add", "path": "/owned", "value": True}]},
    ("post", "/devices/{device_id}/network-adapters"): {"type": "cellular", "imei": "353456789012344"},
    ("put", "/devices/{device_id}/network-adapters/{adapter_id}"): {"type": "cellular", "description": "mine now"},
}


def outside_state() -> list:
    devices = Device.objects.filter(pk__in=["theirs-1", "theirs-nodms"]).order_by("pk")
    return [(device.pk, device.version, device.dms_owner, device.adapters.count()) for device in devices]


def test_every_operation_reveals_no_device_outside_the_keys_dms(fleet, django_assert_num_queries):
    schema = served_schema()
    operations = {
        (method, path.removeprefix(API))
        for path, item in schema.raw_schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    client = fleet["client"]
    before = outside_state()
    called = set()

    for operation, paths in lists(fleet).items():
        for path in paths:
            response = client.get(API + path)
            expected = 404 if operation in NOT_THERE else 200
            assert response.status_code == expected or path == "/devices/dms/", (path, response.content)
            reveals_nothing(response)
        called.add(operation)

    for operation, template in DEVICE_PATHS.items():
        method, _ = operation
        params = {"group": fleet["group"].pk, "adapter": fleet["adapter"].pk}
        same_as_missing(fleet, method, template, params, DEVICE_BODIES.get(operation))
        called.add(operation)

    # Writes that name no device: each refused or confined to the key's DMSs.
    job, webhook, key = fleet["job"].pk, fleet["webhook"].pk, fleet["key"].pk
    refused = [  # (operation, path, body, status)
        (("post", "/devices"), "/devices", {"id": "new-device", "dms_id": THEIRS}, 403),
        (("post", "/devices"), "/devices", {"id": "new-device"}, 403),
        (("post", "/device-actions"), "/device-actions",
         {"action": "set_dms", "params": {"dms_id": THEIRS}, "dry_run": True}, 403),
        (("post", "/api-keys"), "/api-keys", {"name": "wider", "dms": None}, 403),
        (("post", "/device-actions/{job_id}/cancel"), f"/device-actions/{job}/cancel", None, 404),
        (("patch", "/webhooks/{webhook_id}"), f"/webhooks/{webhook}", {"url": "https://127.0.0.1/attacker"}, 404),
        (("delete", "/webhooks/{webhook_id}"), f"/webhooks/{webhook}", None, 404),
        (("post", "/webhooks/{webhook_id}/replay"), f"/webhooks/{webhook}/replay", {"after": 0}, 404),
        (("post", "/webhooks/{webhook_id}/rotate-secret"), f"/webhooks/{webhook}/rotate-secret", None, 404),
        (("post", "/webhooks/{webhook_id}/test"), f"/webhooks/{webhook}/test", None, 404),
        (("delete", "/api-keys/{key_id}"), f"/api-keys/{key}", None, 404),
    ]  # fmt: skip
    for operation, path, body, status in refused:
        response = getattr(client, operation[0])(API + path, body, format="json")
        assert response.status_code == status, (operation, response.content)
        reveals_nothing(response, echoed=THEIRS)
        called.add(operation)

    # Writes that succeed, and see the key's devices only.
    body = {"action": "add_tags", "params": {"tags": ["mine"]}, "q": "tags[ct]:shared", "dry_run": True}
    dry_run = client.post(f"{API}/device-actions", body, format="json")
    assert dry_run.status_code == 200, dry_run.content
    assert dry_run.json()["count"] == MY_DEVICES
    reveals_nothing(dry_run)
    group = client.post(f"{API}/device-groups", {"name": "partner's", "criteria": GROUP_CRITERIA}, format="json")
    assert group.status_code == 201, group.content
    reveals_nothing(group)
    group_id = group.json()["id"]
    changed = client.put(f"{API}/device-groups/{group_id}", {"name": "partner's", "criteria": GROUP_CRITERIA},
                         format="json")  # fmt: skip
    assert changed.status_code == 200, changed.content
    reveals_nothing(changed)
    assert client.delete(f"{API}/device-groups/{group_id}").status_code == 204
    webhook = client.post(f"{API}/webhooks", {"url": "https://127.0.0.1/partner"}, format="json")
    assert webhook.status_code == 201, webhook.content
    assert Subscription.objects.get(pk=webhook.json()["id"]).dms == [MINE]
    called |= {("post", "/device-groups"), ("put", "/device-groups/{group_id}"),
               ("delete", "/device-groups/{group_id}"), ("post", "/webhooks")}  # fmt: skip

    assert outside_state() == before
    assert DeviceGroup.objects.filter(pk=fleet["group"].pk).exists()
    assert operations - called == set(), "operations this test does not call: add them to it"


def test_an_outside_device_costs_the_queries_of_a_missing_one(fleet):
    client = fleet["client"]
    client.get(f"{API}/devices")  # the key's first use this minute is recorded: not in the counts below
    for theirs, absent in THEIR_REFERENCES:
        assert query_count(client, f"{API}/devices/{theirs}") == query_count(client, f"{API}/devices/{absent}")


def test_the_stream_of_the_feed_reveals_nothing(fleet, settings):
    settings.DEVMANAGER_SSE_MAX_SECONDS = 1
    response = fleet["client"].get(f"{API}/events", HTTP_ACCEPT="text/event-stream")

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert "mine-0" in body
    assert not [marker for marker in MARKERS if marker in body]


def test_every_page_of_a_walk_stays_within_the_keys_dms(fleet):
    client, seen, path = fleet["client"], [], f"{API}/devices?page_size=1"
    while path:
        body = client.get(path).json()
        seen += [device["id"] for device in body["list"]]
        path = f"{API}/devices?bookmark={body['next']}" if body["next"] else ""

    assert sorted(seen) == ["mine-0", "mine-1"]
