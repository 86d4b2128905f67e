"""The alias trigram index, on the alias folded as the `_ic` filters and the admin's search fold it: LOWER by the ICU
root collation, whatever the database's locale (in a `C` database, UPPER and LOWER change ASCII letters only).

PostgreSQL creates the `und-x-icu` collation when it is built with ICU, as the major distributions' packages are.
"""

from django.db import migrations

from devmanager.api.filtering.lookups import ICU_ROOT_COLLATION

OLD_INDEX = "devices_device_alias_upper_trgm"
INDEX = "devices_device_alias_folded_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_collation WHERE collname = %s", [ICU_ROOT_COLLATION])
        if cursor.fetchone() is None:
            raise RuntimeError(
                f"PostgreSQL lacks the ICU collation {ICU_ROOT_COLLATION!r}: devmanager needs a server built with ICU "
                "(the packages of Debian, Ubuntu, Red Hat and the official images are) to fold case in filters."
            )
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    # The expression is the one the fold lookups write (devmanager.api.filtering.lookups), so the planner matches it.
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON devices_device "
        f'USING gin (LOWER((alias)::text COLLATE "{ICU_ROOT_COLLATION}") gin_trgm_ops)'
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {OLD_INDEX} ON devices_device USING gin (UPPER(alias::text) gin_trgm_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [("devices", "0009_identity_updated_event")]

    operations = [migrations.RunPython(create_index, drop_index)]
