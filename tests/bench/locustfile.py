"""The load test's traffic (run by tests/bench/loadtest.py, not by hand): reads and writes mixed as operators and
API clients mix them. Every acknowledged write goes to the ledger, one JSON line each, for the check afterwards.

Environment: LOADTEST_KEY (API key), LOADTEST_READ_KEY (the key of the reads, as a fleet's readers are other clients
than its writers; default: LOADTEST_KEY), LOADTEST_FIXTURES (JSON: device_ids, group_ids, run), LOADTEST_LEDGER (file).
"""

import json
import os
import random
import uuid

from locust import FastHttpUser, constant, task

API = "/api/devmanager/v1"
FIXTURES = json.loads(open(os.environ["LOADTEST_FIXTURES"]).read())  # noqa: SIM115 - read once at import
LEDGER = open(os.environ["LOADTEST_LEDGER"], "a")  # noqa: SIM115 - open for the whole run
FILTERS = [
    ["status[eq]:ACTIVE"],
    ["dms_owner[eq]:dms-production"],
    ["tags[contains]:sensor"],
    ["tags[contains_ic]:GATEWAY"],
    ["status[eq]:ACTIVE", "tags[contains]:production"],
    ['metadata[jsonpath]:$.location == "site-042"'],
]


def acknowledged(entry: dict) -> None:
    LEDGER.write(json.dumps(entry) + "\n")
    LEDGER.flush()


class FleetClient(FastHttpUser):
    """One API client; closed loop (the next request leaves when the answer arrives)."""

    wait_time = constant(0)

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {os.environ['LOADTEST_KEY']}"}
        reader = os.environ.get("LOADTEST_READ_KEY") or os.environ["LOADTEST_KEY"]
        self.read_headers = {"Authorization": f"Bearer {reader}"}
        self.own_devices: dict[str, int] = {}  # created by this user -> identity slot version acknowledged

    def _call(self, method: str, path: str, name: str, expected: int = 200, **kwargs):
        headers = self.read_headers if method == "GET" else self.headers
        with self.client.request(method, path, name=name, headers=headers, catch_response=True, **kwargs) as response:
            if response.status_code != expected:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return None
            if not response.headers.get("X-Request-ID"):
                response.failure("no X-Request-ID")
                return None
            return response

    @task(30)
    def get_device(self):
        self._call("GET", f"{API}/devices/{random.choice(FIXTURES['device_ids'])}", "GET /devices/{id}")

    @task(25)
    def list_filtered(self):
        params = [("filter", item) for item in random.choice(FILTERS)]
        self._call("GET", f"{API}/devices", "GET /devices?filter=…", params=params)

    @task(10)
    def group_members(self):
        group_id = random.choice(FIXTURES["group_ids"])
        self._call("GET", f"{API}/device-groups/{group_id}/devices", "GET /device-groups/{id}/devices")

    @task(15)
    def create_device(self):
        device_id = f"load-{FIXTURES['run']}-{uuid.uuid4().hex[:16]}"
        body = {
            "id": device_id,
            "alias": "load test",
            "tags": random.sample(["sensor", "gateway", "production", "lab", "edge"], 2),
            "metadata": {"location": f"site-{random.randint(1, 500):03d}", "firmware": "1.2.3"},
            "dms_owner": random.choice(["dms-production", "dms-lab"]),
        }
        if self._call("POST", f"{API}/devices", "POST /devices", expected=201, json=body):
            self.own_devices[device_id] = 0
            acknowledged({"op": "create", "id": device_id})

    @task(12)
    def patch_metadata(self):
        device_id = random.choice(FIXTURES["device_ids"])
        key, value = f"load-{uuid.uuid4().hex[:12]}", random.randint(0, 1_000_000)
        body = {"patches": [{"op": "add", "path": f"/{key}", "value": value}]}
        if self._call("PATCH", f"{API}/devices/{device_id}/metadata", "PATCH /devices/{id}/metadata", json=body):
            acknowledged({"op": "patch", "id": device_id, "key": key, "value": value})

    @task(8)
    def update_identity_slot(self):
        if not self.own_devices:
            return self.create_device()
        device_id = random.choice(list(self.own_devices))
        version = self.own_devices[device_id] + 1
        body = {
            "status": "ACTIVE",
            "type": "X509",
            "active_version": version,
            "versions": {str(version): {"serial": uuid.uuid4().hex}},
            "expiration_date": "2030-01-01T00:00:00Z",
        }
        if self._call("PUT", f"{API}/devices/{device_id}/idslot", "PUT /devices/{id}/idslot", json=body):
            self.own_devices[device_id] = version
            acknowledged({"op": "idslot", "id": device_id, "version": version})
