"""A trigram index on the device id folded as `search` and the `_ic` filters fold it (the alias has one since 0010):
`search` (id or alias contains the text, ignoring case) is then a BitmapOr of the two indexes, not a scan."""

from django.db import migrations

from devmanager.api.filtering.lookups import ICU_ROOT_COLLATION

INDEX = "devices_device_id_folded_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The expression is the one the fold lookups write (devmanager.api.filtering.lookups), so the planner matches it.
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON devices_device "
        f'USING gin (LOWER((id)::text COLLATE "{ICU_ROOT_COLLATION}") gin_trgm_ops)'
    )
    # Statistics of the new expression: without them the planner takes a search to match 1 % of the devices and
    # walks the sort's index, filtering every row, instead of reading the few rows the trigram indexes name.
    schema_editor.execute("ANALYZE devices_device")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("devices", "0010_folded_alias_trigram_index")]

    operations = [migrations.RunPython(create_index, drop_index)]
