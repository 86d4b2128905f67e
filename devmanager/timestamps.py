"""Timestamps as clients write them: one parser for request bodies, filters and imports.

RFC 3339 with a zone (`2024-03-09T10:00:00Z`, `2024-03-09T12:00:00.123+02:00`; `T` or a space between date and
time), or the short form `20240309T100000Z`. A filter may also name a whole day (`2024-03-09`): `eq` matches at
the precision written. Where an instant is needed (a body's `expiration_date`, an imported timestamp), a day alone
is refused.
"""

import re
from datetime import UTC, datetime, timedelta

RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})(?:[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2}))?",
    re.ASCII,
)
SHORT_FORM = re.compile(r"(?P<date>\d{8})T(?P<time>\d{6})Z", re.ASCII)
# How the service writes every timestamp (`2026-03-09T10:00:00.123456Z`): Python's strftime spelling, and PostgreSQL's
# to_char spelling for the export, which formats millions of them in the database.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
POSTGRESQL_TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
ONE_DAY = timedelta(days=1)
EXPECTED = "an RFC 3339 date-time with a time zone (2024-01-01T00:00:00Z) or the short form 20240101T000000Z"


def parse_timestamp(value: str) -> tuple[datetime, timedelta]:
    """An instant in UTC and the precision it was written with (a day, a second, or a fraction of one); raises
    ValueError saying what is expected."""
    try:
        if SHORT_FORM.fullmatch(value):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC), timedelta(seconds=1)
        match = RFC3339.fullmatch(value)
        if match is None:
            raise ValueError
        if match["time"] is None:
            return datetime.fromisoformat(match["date"]).replace(tzinfo=UTC), ONE_DAY
        fraction = match["fraction"] or ""
        zone = "+00:00" if match["zone"] in "Zz" else match["zone"]
        instant = datetime.fromisoformat(f"{match['date']}T{match['time']}{zone}")
        instant += timedelta(microseconds=int(fraction[:6].ljust(6, "0")) if fraction else 0)
        digits = min(len(fraction), 6)
        return instant.astimezone(UTC), timedelta(microseconds=10 ** (6 - digits))
    except (ValueError, OverflowError, TypeError) as exc:
        raise ValueError(f"must be {EXPECTED}") from exc


def format_timestamp(value: datetime) -> str:
    """`TIMESTAMP_FORMAT`, written through isoformat, which is faster than strftime (three per device on a page)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_instant(value) -> datetime:
    """An instant in UTC, as a body or an imported row gives one: `parse_timestamp` without the whole day."""
    if not isinstance(value, str):
        raise ValueError(f"must be {EXPECTED}")
    instant, precision = parse_timestamp(value)
    if precision == ONE_DAY:
        raise ValueError(f"must be {EXPECTED}, not a date alone")
    return instant
