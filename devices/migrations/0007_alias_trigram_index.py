"""A trigram index for the admin's alias search (`UPPER(alias) LIKE UPPER('%term%')`) on PostgreSQL.

pg_trgm ships with PostgreSQL (Debian's postgresql package includes it) and is a trusted extension: the database's
owner may create it. SQLite has no equivalent and scans.
"""

from django.db import migrations

INDEX = "devices_device_alias_upper_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # The expression is the one Django's icontains lookup writes, so that the planner matches it.
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON devices_device USING gin (UPPER(alias::text) gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("devices", "0006_tag_terms")]

    operations = [migrations.RunPython(create_index, drop_index)]
