"""Network identifiers: validation and normalisation of IMEIs, DevEUIs and DVN UUIDs, and the path forms
(`imei:…`, `deveui:…`, `dvnuuid:…`, `urn:dev:<kind>:…`) that name a device by one of its adapters."""

import re
import uuid

DIGITS = re.compile(r"[0-9]+")
HEX16 = re.compile(r"[0-9a-fA-F]{16}")
# ASCII only: with Unicode case folding `İmei` matches `imei` and then misses KIND_COLUMNS, and the normalisers would
# accept what they strip (whitespace) or int() reads (other scripts' digits) around or in the value.
PATH_FORM = re.compile(r"(?ai)(?:urn:dev:)?(imei|deveui|dvnuuid):([0-9a-f-]+)(:?)")

# Path prefix -> adapter column.
KIND_COLUMNS = {"imei": "imei", "deveui": "dev_eui", "dvnuuid": "dvn_uuid"}


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def normalise_imei(value: str) -> str:
    """15 digits with a valid Luhn check digit, or 16 digits (IMEISV); raises ValueError."""
    if not DIGITS.fullmatch(value) or len(value) not in (15, 16):
        raise ValueError("must be 15 or 16 digits")
    if len(value) == 15 and not luhn_valid(value):
        raise ValueError("has an invalid check digit (Luhn)")
    return value


def normalise_eui(value: str) -> str:
    """16 hexadecimal digits, stored lower-case; raises ValueError."""
    if not HEX16.fullmatch(value):
        raise ValueError("must be 16 hexadecimal digits")
    return value.lower()


def normalise_uuid(value: str) -> str:
    """A UUID in its canonical lower-case form; raises ValueError."""
    try:
        if value != value.strip():  # uuid.UUID would strip it
            raise ValueError
        return str(uuid.UUID(value))
    except (ValueError, AttributeError) as exc:
        raise ValueError("must be a UUID") from exc


NORMALISERS = {"imei": normalise_imei, "dev_eui": normalise_eui, "dvn_uuid": normalise_uuid}


def parse_device_identifier(text: str) -> tuple[str, str] | None:
    """(adapter column, normalised value) for a path identifier such as `imei:490154203237518` or
    `urn:dev:deveui:0004a30b001c0530:`; None when the text is not in one of those forms or is malformed."""
    match = PATH_FORM.fullmatch(text)
    if match is None or (match[3] and not text.lower().startswith("urn:dev:")):
        return None
    column = KIND_COLUMNS[match[1].lower()]
    try:
        return column, NORMALISERS[column](match[2])
    except ValueError:
        return None


def device_ids_named_by(text: str):
    """The ids (a subquery) of the devices an identifier path form names, or None when the text is not one
    (registered as a device reference: `/devices/imei:…/…`)."""
    from .models import NetworkAdapter

    parsed = parse_device_identifier(text)
    if parsed is None:
        return None
    column, value = parsed
    return NetworkAdapter.objects.filter(**{column: value}).values("device_id")
