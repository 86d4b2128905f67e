"""Counts of devices per value of a key (contract, section 8): `/stats?group_by=`, a group's stats, the admin's counts.

One SQL statement per count: the devices of a queryset (its WHERE clause as the ORM compiles it) are grouped by the
key in the database, the buckets sorted by count (then key, in code-point order, absent last) and cut at `limit` in
SQL, and window sums over all buckets give the total and what the buckets left out (`other`). No device is read into
Python. `tags` joins each device to its tags (a device with none gives one row, its `null`); every other key is one
expression of the device's row. The devices are grouped by the key's raw value, and the few groups then by the key
the answer shows (a metadata value as JSON text, or null when it is no scalar): 1.4x faster over a million devices
than converting each device's value before grouping.
"""

import json
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connections

from devmanager.api.filtering import FilterError
from devmanager.api.filtering.jsonpath import compile_jsonpath, first_scalar_sql
from devmanager.errors import Invalid

from .choices import DEFAULT_SLOT

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
METADATA_PREFIX = "metadata:"
# The keys of one column of the device, and how an absent value is stored ("" for text, nothing in a JSON document).
COLUMN_KEYS = {"status": "status", "dms_owner": "dms_owner", "icon": "icon"}
IDENTITY_KEYS = {"identity.type": "type", "identity.status": "status"}
GROUP_BY_KEYS = (*COLUMN_KEYS, "tags", *IDENTITY_KEYS, f"{METADATA_PREFIX}<JSONPath>")


@dataclass(frozen=True)
class KeySql:
    """How the statement reads a key from `m` (a matching device): its expression, and a join it needs."""

    expression: str
    params: tuple = ()
    shown: str = "raw"  # the key the answer shows, from `raw`, the expression's value shared by a group
    join: str = ""
    first_row: str = ""  # for a join: true on exactly one row of each device (the total counts devices, not rows)
    decode: bool = False  # the key is JSON text (metadata): decode it for the answer


def count_by(queryset, group_by: str, limit: int = DEFAULT_LIMIT) -> dict:
    """`{"total", "group_by", "buckets": [{"key", "count"}], "other"}` of the devices of `queryset`; raises Invalid
    naming `group_by` for an unknown key or a bad path, and `limit` outside 1 to 1,000."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid({"limit": [f"must be between 1 and {MAX_LIMIT}"]})
    vendor = connections[queryset.db].vendor
    key = _key_sql(group_by, vendor)
    columns = ["id", "status", "dms_owner", "icon", "tags", "slots", "metadata"]
    try:
        inner, inner_params = queryset.order_by().values(*columns).query.sql_with_params()
    except EmptyResultSet:  # a condition that matches nothing (`pk__in=[]`): no statement to run
        return {"total": 0, "group_by": group_by, "buckets": [], "other": 0}
    devices = f"SUM(CASE WHEN {key.first_row} THEN 1 ELSE 0 END)" if key.first_row else "COUNT(*)"
    ordered_key = 'key COLLATE "C"' if vendor == "postgresql" else "key"
    sql = (
        f"SELECT key, n, SUM(n) OVER (), SUM(devices) OVER () FROM ("
        f"SELECT {key.shown} AS key, SUM(n) AS n, SUM(devices) AS devices FROM ("
        f"SELECT {key.expression} AS raw, COUNT(*) AS n, {devices} AS devices FROM ({inner}) m {key.join} GROUP BY 1"
        f") grouped GROUP BY 1) counted ORDER BY n DESC, key IS NULL, {ordered_key} LIMIT %s"
    )
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, [*key.params, *inner_params, limit])
        rows = cursor.fetchall()
    listed = sum(int(row[1]) for row in rows)
    return {
        "total": int(rows[0][3]) if rows else 0,
        "group_by": group_by,
        "buckets": [{"key": _key(row[0], key.decode), "count": int(row[1])} for row in rows],
        "other": int(rows[0][2]) - listed if rows else 0,
    }


def _key(value, decode: bool):
    return json.loads(value) if decode and value is not None else value


def _key_sql(group_by: str, vendor: str) -> KeySql:
    postgresql = vendor == "postgresql"
    if group_by in COLUMN_KEYS:
        column = COLUMN_KEYS[group_by]
        return KeySql(f"NULLIF(m.{column}, '')")
    if group_by in IDENTITY_KEYS:
        member = IDENTITY_KEYS[group_by]
        if postgresql:
            return KeySql("NULLIF(m.slots -> %s ->> %s, '')", (DEFAULT_SLOT, member))
        return KeySql("NULLIF(json_extract(m.slots, %s), '')", (f'$."{DEFAULT_SLOT}"."{member}"',))
    if group_by == "tags":
        if postgresql:
            join = "LEFT JOIN LATERAL jsonb_array_elements_text(m.tags) WITH ORDINALITY AS t(tag, ord) ON true"
            return KeySql("t.tag", join=join, first_row="COALESCE(t.ord, 1) = 1")
        return KeySql("t.value", join="LEFT JOIN json_each(m.tags) AS t", first_row="COALESCE(t.key, 0) = 0")
    if group_by.startswith(METADATA_PREFIX):
        path = group_by.removeprefix(METADATA_PREFIX)
        try:
            compiled = compile_jsonpath(path)
        except FilterError as exc:
            raise Invalid({"group_by": [str(exc)]}) from exc
        if compiled.comparison is not None or len(compiled.alternatives) != 1:
            raise Invalid({"group_by": ["the JSONPath must select values (keys and indexes), not compare them"]})
        expression, params, shown = first_scalar_sql(compiled, "m.metadata", vendor)
        return KeySql(expression, params, shown=shown, decode=True)
    raise Invalid({"group_by": [f"must be one of {', '.join(GROUP_BY_KEYS)}"]})
