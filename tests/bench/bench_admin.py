"""Benchmark of the admin console at a million devices: each page as a logged-in staff user sees it.

Every page goes through Django's test client (sessions, middleware, the admin's views and templates) and is printed
beside the p50 of the SQL it ran on the data tables. Run it with `scripts/bench`, or directly against a seeded
database: `DATABASE_URL=postgres://... python tests/bench/bench_admin.py [--iterations N]`. It reuses the groups of
bench_groups.py (creating them when missing), one staff user `bench-admin` and one cellular adapter.
"""

from urllib.parse import urlencode

from bench_groups import build_tree
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from harness import Bench, arguments, run

from adapters.models import NetworkAdapter
from devices.models import Device
from groups.models import DeviceGroup

IMEI = "490154203237518"
# The device list's sortable columns, by their position in list_display (the admin's `o` parameter).
SORTABLE = {"id": 1, "alias": 2, "status": 3, "dms_owner": 4, "creation_timestamp": 6}


def staff_client() -> Client:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    bench = Bench(args.iterations)
    bench.client = staff_client()
    group = build_tree()
    total = Device.objects.count()
    device = Device.objects.order_by("creation_timestamp").values_list("pk", "alias")[total // 2]
    if not NetworkAdapter.objects.filter(imei=IMEI).exists():
        NetworkAdapter.objects.create(device_id=device[0], type="cellular", imei=IMEI)
    devices = reverse("admin:devices_device_changelist")

    def page(**params) -> str:
        return f"{devices}?{urlencode(params)}"

    scenarios = [
        ("device list", devices),
        ("page 2", page(p=2)),
        ("page 100", page(p=100)),
        ("search: id", page(q=device[0])),
        ("search: alias word (frequent)", page(q="gateway")),
        ("search: alias digits (one device)", page(q=device[1].split()[-1])),
        ("search: no match", page(q="no-such-device")),
        ("search: imei", page(q=IMEI)),
        ("search: imei:... form", page(q=f"imei:{IMEI}")),
        ("filter: status ACTIVE", page(status__exact="ACTIVE")),
        ("filter: status DECOMMISSIONED", page(status__exact="DECOMMISSIONED")),
        ("filter: DMS (frequent)", page(dms_owner="dms-production")),
        ("filter: DMS (rare)", page(dms_owner="dms-region-13")),
        ("filter: third-level group", page(group=group.pk)),
        ("filter: status + search", page(status__exact="ACTIVE", q="gateway")),
    ]
    for name, position in SORTABLE.items():
        scenarios += [(f"sort: {name}", page(o=position)), (f"sort: {name} desc", page(o=f"-{position}"))]
    scenarios += [
        ("device page", reverse("admin:devices_device_change", args=[quote(device[0])])),
        ("group list", reverse("admin:groups_devicegroup_changelist")),
        ("group page (member count)", reverse("admin:groups_devicegroup_change", args=[group.pk])),
    ]
    print(f"devices: {total:,}   groups: {DeviceGroup.objects.count():,}   iterations per page: {args.iterations}")
    run(bench, scenarios)


if __name__ == "__main__":
    main()
