"""Benchmark of device groups: a third-level group's members and stats, and one device's membership among 1,000.

Run it with `scripts/bench`, or directly against a database seeded with `seed_devices`:
`DATABASE_URL=postgres://... python tests/bench/bench_groups.py [--iterations N]`. It creates its groups once
(roots named `bench-*`) and reuses them.
"""

from harness import API, Bench, arguments, list_url, run

from devices.models import Device
from groups.models import DeviceGroup
from groups.services import group_create

# A tree of depth 4 with 5 x 5 x 6 x 6 = 900 leaves, 1,080 groups, criteria at every level.
DMS = ["dms-production", "dms-staging", "dms-lab", "dms-edge", "dms-legacy"]
TAGS = ["sensor", "gateway", "meter", "camera", "outdoor"]
STATUSES = ["ACTIVE", "RENEWAL_WINDOW", "ABOUT_TO_EXPIRE", "EXPIRED", "REVOKED", "NO_IDENTITY"]
ENVIRONMENTS = ["prod", "staging", "dev", "test", "qa", "lab"]


def criterion(field: str, operand: str, value: str) -> dict:
    return {"field": field, "operand": operand, "value": value}


def build_tree() -> DeviceGroup:
    """The membership tree, and the seed's three-level example; returns the example's third level."""
    if not DeviceGroup.objects.filter(name="bench-example").exists():
        root = group_create(name="bench-example", criteria=[criterion("tags", "contains", "production")])
        middle = group_create(name="sensors", parent_id=root.pk, criteria=[criterion("tags", "contains", "sensor")])
        group_create(
            name="temperature",
            parent_id=middle.pk,
            criteria=[criterion("tags", "contains_ic", "temperature"), criterion("status", "eq", "ACTIVE")],
        )
    if not DeviceGroup.objects.filter(name="bench-dms-production").exists():
        for dms in DMS:
            root = group_create(name=f"bench-{dms}", criteria=[criterion("dms_owner", "eq", dms)])
            for tag in TAGS:
                by_tag = group_create(name=tag, parent_id=root.pk, criteria=[criterion("tags", "contains", tag)])
                for status in STATUSES:
                    by_status = group_create(
                        name=status, parent_id=by_tag.pk, criteria=[criterion("status", "eq", status)]
                    )
                    for env in ENVIRONMENTS:
                        group_create(
                            name=env,
                            parent_id=by_status.pk,
                            criteria=[criterion("metadata", "jsonpath", f'$.env == "{env}"')],
                        )
    return DeviceGroup.objects.get(name="temperature", parent__name="sensors")


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    bench = Bench(args.iterations)
    third_level = build_tree()
    member = Device.objects.filter(dms_owner="dms-production", tags__contains=["sensor"]).values_list("pk", flat=True)
    device_id = member.first() or Device.objects.values_list("pk", flat=True).first()
    scenarios = [
        ("third-level group: first page of devices", list_url(f"/device-groups/{third_level.pk}/devices")),
        ("third-level group: stats", f"{API}/device-groups/{third_level.pk}/stats"),
        ("one device's groups (1,083 groups, depth 4)", f"{API}/devices/{device_id}/device-groups"),
    ]
    print(f"devices: {Device.objects.count():,}   groups: {DeviceGroup.objects.count():,}   database: PostgreSQL")
    run(bench, scenarios)


if __name__ == "__main__":
    main()
