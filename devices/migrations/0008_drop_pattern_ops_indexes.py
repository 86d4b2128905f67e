"""Drop the `varchar_pattern_ops` indexes Django adds on PostgreSQL beside the index of each indexed or unique
varchar column (the device id; the adapters' device, IMEI and DevEUI): they serve `LIKE 'prefix%'` under a non-C
collation, which no query of the service makes (the filter language has no prefix operator; the admin searches ids
exactly). Each costs every write, a twentieth of an import's device COPY.

Django recreates such an index when a later migration alters one of these fields: drop it again there. The reverse
leaves them dropped (they only ever sped up queries that are not made).
"""

from django.db import migrations

TABLES = ("devices_device", "adapters_networkadapter")


def drop_pattern_ops_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY(%s) "
            "AND indexdef LIKE '%%varchar_pattern_ops%%'",
            [list(TABLES)],
        )
        names = [name for (name,) in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("devices", "0007_alias_trigram_index"), ("adapters", "0001_initial")]

    operations = [migrations.RunPython(drop_pattern_ops_indexes, migrations.RunPython.noop)]
