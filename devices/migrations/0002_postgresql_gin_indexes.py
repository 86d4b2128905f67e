"""GIN indexes for JSONPath filters on PostgreSQL (SQLite has no equivalent and evaluates paths in Python)."""

from django.db import migrations

INDEXES = {
    "devices_device_metadata_gin": "metadata jsonb_path_ops",
    "devices_device_slots_gin": "slots jsonb_path_ops",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON devices_device USING gin ({columns})")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("devices", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
