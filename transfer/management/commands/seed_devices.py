"""Fill the database with realistic synthetic devices, fast (COPY on PostgreSQL, bulk inserts elsewhere)."""

import random
import secrets
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from devices.batch import devices_bulk_insert
from devices.choices import DEFAULT_SLOT, DeviceStatus
from devices.domain import new_device_columns
from devmanager.timestamps import format_timestamp

STATUS_WEIGHTS = {
    DeviceStatus.ACTIVE: 60,
    DeviceStatus.NO_IDENTITY: 10,
    DeviceStatus.RENEWAL_WINDOW: 8,
    DeviceStatus.ABOUT_TO_EXPIRE: 5,
    DeviceStatus.EXPIRED: 7,
    DeviceStatus.REVOKED: 5,
    DeviceStatus.DECOMMISSIONED: 5,
}
DMS_OWNERS = [f"dms-{name}" for name in ("production", "staging", "lab", "edge", "legacy")] + [
    f"dms-region-{n:02d}" for n in range(15)
]
TAGS = [
    "sensor", "temperature", "Temperature", "humidity", "production", "staging", "gateway", "camera", "meter",
    "outdoor", "indoor", "battery", "mains", "lte", "lora", "wifi", "ethernet", "critical", "pilot", "eu", "us",
    "apac", "warehouse", "factory", "retail", "fleet", "cold-chain", "hvac", "door", "motion", "smoke", "water",
]  # fmt: skip
SENSOR_TYPES = ["temp", "humidity", "co2", "pressure", "motion", "light"]
ENVIRONMENTS = ["prod", "prod", "prod", "staging", "dev"]
SLOT_TYPES = ["X509", "X509", "X509", "TOKEN", "SSH_KEY", "OTHER"]
SPAN = timedelta(days=730)


class Command(BaseCommand):
    help = "Create N synthetic devices (statuses, DMS owners, tags, nested metadata, identity slots, history)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="How many devices to create.")
        parser.add_argument("--batch-size", type=int, default=10_000)
        parser.add_argument("--prefix", default="", help="Id prefix (default: seed-<random>-).")
        parser.add_argument("--seed", type=int, help="Random seed, for a reproducible data set.")
        parser.add_argument(
            "--dms-count", type=int, help="Spread the devices evenly over this many DMSs (dms-00, dms-01, ...) instead."
        )

    def handle(self, *args, count, batch_size, prefix, seed, dms_count, **options):
        if count < 1 or batch_size < 1:
            raise CommandError("--count and --batch-size must be positive")
        if dms_count is not None and dms_count < 1:
            raise CommandError("--dms-count must be positive")
        rng = random.Random(seed)
        prefix = prefix or f"seed-{secrets.token_hex(3)}-"
        now = datetime.now(UTC)
        with tqdm(total=count, unit="dev", unit_scale=True, desc="seeding", disable=None) as progress:
            for start in range(0, count, batch_size):
                size = min(batch_size, count - start)
                devices = [synthetic_device(rng, f"{prefix}{start + n:07d}", now) for n in range(size)]
                for device in devices if dms_count else ():
                    device["dms_owner"] = f"dms-{rng.randrange(dms_count):02d}"
                with transaction.atomic():
                    devices_bulk_insert(devices=devices, source="command:seed_devices")
                progress.update(size)
        self.stdout.write(f"Created {count} devices with ids {prefix}0000000 to {prefix}{count - 1:07d}.")


def synthetic_device(rng: random.Random, device_id: str, now: datetime) -> dict:
    """One realistic device, as the values of `devices.domain.DEVICE_COLUMNS` (the import benchmark uses it too)."""
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    created = now - SPAN * rng.random()
    updated = created + (now - created) * rng.random()
    sensors = [
        {"type": rng.choice(SENSOR_TYPES), "unit": rng.choice(["C", "%", "ppm", "hPa"]), "interval": rng.randint(1, 60)}
        for _ in range(rng.randint(0, 3))
    ]
    metadata = {
        "location": f"site-{rng.randint(1, 500):03d}",
        "env": rng.choice(ENVIRONMENTS),
        "firmware": f"{rng.randint(1, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
        "temp": round(rng.uniform(-20, 45), 1),
        "hw": {"vendor": rng.choice(["acme", "globex", "initech"]), "rev": rng.randint(1, 5)},
        "sensors": sensors,
    }
    slots, expires_at = {}, None
    if status != DeviceStatus.NO_IDENTITY:
        expires_at = now + timedelta(days=rng.randint(-60, 700))
        version = rng.randint(0, 5)
        slot_status = DeviceStatus.REVOKED if status == DeviceStatus.DECOMMISSIONED else status
        slots[DEFAULT_SLOT] = {
            "status": slot_status,
            "active_version": version,
            "type": rng.choice(SLOT_TYPES),
            "versions": {str(v): {"serial": f"{rng.getrandbits(64):016x}"} for v in range(version + 1)},
            "expiration_date": format_timestamp(expires_at),
        }
    return new_device_columns(
        id=device_id,
        created=created,
        updated=updated,
        alias=f"{rng.choice(['Sensor', 'Gateway', 'Meter', 'Camera'])} {device_id[-7:]}",
        tags=rng.sample(TAGS, rng.randint(0, 5)),
        status=status,
        icon=rng.choice(["thermometer", "router", "camera", "bolt"]),
        icon_color=f"#{rng.getrandbits(24):06X}",
        dms_owner=DMS_OWNERS[min(int(rng.expovariate(0.3)), len(DMS_OWNERS) - 1)],
        metadata=metadata,
        slots=slots,
        identity_expires_at=expires_at,
    )
