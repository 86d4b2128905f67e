"""The device fields of the filter language (contract, section 2). Apps above `devices` add fields of their own
with `register_device_filter_field` (adapters: the identifiers of a device's adapters)."""

from datetime import datetime, timedelta

from devmanager.api.filtering import ArrayField, DateField, EnumField, FieldSpec, JsonField, StringField
from devmanager.timestamps import format_timestamp

from .choices import DEFAULT_SLOT, RETIRED_STATUSES, DeviceStatus, EventType

IDENTITY = JsonField("slots", prefix=(DEFAULT_SLOT,))

DEVICE_FILTER_FIELDS = {
    "id": StringField("id"),
    "alias": StringField("alias"),
    "dms_owner": StringField("dms_owner"),
    "status": EnumField("status", DeviceStatus.values),
    "tags": ArrayField("tag_terms", exact_prefix="=", folded_prefix="~"),
    "creation_timestamp": DateField("creation_timestamp"),
    "updated_timestamp": DateField("updated_timestamp"),
    # Not in the contract's table (docs/filter-language.md): the identity slot's `expiration_date` as a date, read
    # from the column the slot's writes keep beside it (a range of its index), where `identity[jsonpath]` compares text.
    "identity_expiration_date": DateField("identity_expires_at", nullable=True),
    "metadata": JsonField("metadata"),
    # The identity slot is one entry of `slots`: rooting the path there keeps the slots' GIN index usable.
    "identity": IDENTITY,
    "identity_slot": IDENTITY,  # an alias: the same field, so that both spellings normalise alike
}


def identity_expiring_filters(since: datetime, days: int) -> list[str]:
    """The devices whose identity expires within `days` days from `since`, neither revoked nor decommissioned, in
    the filter language (`Device.objects.identity_expiring` compiles them): `af` is strictly after, so the window
    opens a microsecond (the column's precision) before `since`."""
    opens, closes = since - timedelta(microseconds=1), since + timedelta(days=days)
    return [
        f"identity_expiration_date[af]:{format_timestamp(opens)}",
        f"identity_expiration_date[bf]:{format_timestamp(closes)}",
        f"status[nin]:{','.join(RETIRED_STATUSES)}",
    ]


def register_device_filter_field(name: str, field: FieldSpec) -> None:
    """Make `name` a device field of the filter language, from an app's `AppConfig.ready()`."""
    DEVICE_FILTER_FIELDS[name] = field


EVENT_FILTER_FIELDS = {
    "type": EnumField("type", EventType.values),
    "timestamp": DateField("timestamp"),
}
