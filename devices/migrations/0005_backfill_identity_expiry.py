"""Fill identity_expires_at from the identity slots stored before the column existed."""

from datetime import datetime

from django.db import migrations

BATCH = 5000


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # Stored expiration dates were validated RFC 3339 on the way in: one UPDATE casts them all.
        schema_editor.execute(
            "UPDATE devices_device SET identity_expires_at = (slots->'default'->>'expiration_date')::timestamptz "
            "WHERE identity_expires_at IS NULL AND slots->'default'->>'expiration_date' IS NOT NULL"
        )
        return
    Device = apps.get_model("devices", "Device")
    pending = Device.objects.filter(identity_expires_at__isnull=True).exclude(slots={}).order_by("pk")
    after = ""
    while True:
        batch = list(pending.filter(pk__gt=after)[:BATCH])
        if not batch:
            return
        changed = []
        for device in batch:
            raw = (device.slots.get("default") or {}).get("expiration_date")
            if raw:
                try:
                    device.identity_expires_at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                except ValueError:
                    continue
                changed.append(device)
        Device.objects.bulk_update(changed, ["identity_expires_at"])
        after = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [("devices", "0004_identity_expiry")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
