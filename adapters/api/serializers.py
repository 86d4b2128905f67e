import contextlib
import uuid
from datetime import UTC, datetime

import orjson
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from devmanager.api.serializers import StrictCharField, StrictSerializer
from devmanager.bulk import binary_fields
from devmanager.strictjson import jsonb_text
from devmanager.timestamps import TIMESTAMP_FORMAT

from ..identifiers import normalise_eui, normalise_imei, normalise_uuid
from ..models import Activation, AdapterType, NetworkAdapter

CAMEL_CASE = {"devEui": "dev_eui", "joinEui": "join_eui", "dvnUuid": "dvn_uuid"}
TYPE_FIELDS = {
    AdapterType.CELLULAR: {"imei", "iccid", "imsi", "msisdn"},
    AdapterType.LORA: {"dev_eui", "join_eui", "activation"},
    AdapterType.GENERIC: {"dvn_uuid", "description"},
}


def _normalised(normalise):
    def validate(value):
        try:
            return normalise(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    return validate


def _digits(low: int, high: int, plus: bool = False):
    def validate(value):
        digits = value[1:] if plus and value.startswith("+") else value
        if not (digits.isascii() and digits.isdigit() and low <= len(digits) <= high):
            count = f"{low}" if low == high else f"{low} to {high}"
            raise serializers.ValidationError(f"must be {count} digits" + (", optionally after +" if plus else ""))
        return value

    return validate


class NetworkAdapterWriteSerializer(StrictSerializer):
    """A network adapter's body; camelCase spellings (`devEui`, `joinEui`, `dvnUuid`) are accepted."""

    type = serializers.ChoiceField(
        choices=AdapterType.choices,
        required=False,
        help_text="Required on creation.",
        error_messages={"invalid_choice": f"must be one of {', '.join(AdapterType.values)}"},
    )
    imei = StrictCharField(required=False)
    iccid = StrictCharField(required=False, allow_null=True)
    imsi = StrictCharField(required=False, allow_null=True)
    msisdn = StrictCharField(required=False, allow_null=True)
    dev_eui = StrictCharField(required=False)
    join_eui = StrictCharField(required=False, allow_null=True)
    activation = StrictCharField(required=False, allow_null=True)
    dvn_uuid = StrictCharField(required=False)
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            renamed = {CAMEL_CASE.get(name, name): value for name, value in data.items()}
            clashes = [name for name in CAMEL_CASE if name in data and CAMEL_CASE[name] in data]
            if clashes:
                raise serializers.ValidationError({clashes[0]: ["send one spelling of this field"]})
            data = renamed
        return super().to_internal_value(data)

    validate_imei = staticmethod(_normalised(normalise_imei))
    validate_dev_eui = staticmethod(_normalised(normalise_eui))
    validate_join_eui = staticmethod(lambda value: value if value is None else _normalised(normalise_eui)(value))
    validate_dvn_uuid = staticmethod(_normalised(normalise_uuid))
    validate_iccid = staticmethod(lambda value: value if value is None else _digits(18, 22)(value))
    validate_imsi = staticmethod(lambda value: value if value is None else _digits(15, 15)(value))
    validate_msisdn = staticmethod(lambda value: value if value is None else _digits(8, 15, plus=True)(value))

    def validate_activation(self, value):
        if value is None:
            return None
        if value.upper() not in Activation.values:
            raise serializers.ValidationError("must be OTAA or ABP")
        return value.upper()

    def validate(self, attrs):
        creating = self.context.get("creating", False)
        if creating and "type" not in attrs:
            raise serializers.ValidationError({"type": ["this field is required"]})
        if creating and attrs["type"] == AdapterType.CELLULAR and "imei" not in attrs:
            raise serializers.ValidationError({"imei": ["a cellular adapter needs an IMEI"]})
        if creating and attrs["type"] == AdapterType.LORA and "dev_eui" not in attrs:
            raise serializers.ValidationError({"dev_eui": ["a LoRa adapter needs a DevEUI"]})
        if creating and attrs["type"] == AdapterType.GENERIC:
            attrs.setdefault("dvn_uuid", str(uuid.uuid4()))
        # On update the body may omit the type: the stored adapter's (in the context) decides which fields belong.
        adapter_type = attrs.get("type", self.context.get("type"))
        allowed = TYPE_FIELDS[adapter_type] if adapter_type else set().union(*TYPE_FIELDS.values())
        foreign = sorted(set(attrs) - allowed - {"type"})
        if foreign:
            raise serializers.ValidationError({name: [f"not a field of a {adapter_type} adapter"] for name in foreign})
        return attrs


BASE_FIELDS = ("id", "type", "device_id", "created_at", "updated_at")


def adapter_fields(*types: str) -> list[str]:
    """The fields an adapter of these types shows, in the answer's order."""
    own = sorted(set().union(*(TYPE_FIELDS[name] for name in types)))
    return ["id", "type", "device_id", *own, "created_at", "updated_at"]


class NetworkAdapterSerializer(serializers.ModelSerializer):
    device_id = serializers.CharField()
    created_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT)
    updated_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT)

    class Meta:
        model = NetworkAdapter
        fields = adapter_fields(*TYPE_FIELDS)
        read_only_fields = fields

    def to_representation(self, adapter):
        data = super().to_representation(adapter)
        keep = {*BASE_FIELDS, *TYPE_FIELDS[adapter.type]}
        return {name: value for name, value in data.items() if name in keep}


# An adapter shows only the fields of its type: the OpenAPI document describes one shape per type, whose
# identifier is never null.
class CellularNetworkAdapterSerializer(NetworkAdapterSerializer):
    imei = serializers.CharField(read_only=True)

    class Meta(NetworkAdapterSerializer.Meta):
        fields = read_only_fields = adapter_fields(AdapterType.CELLULAR)


class LoraNetworkAdapterSerializer(NetworkAdapterSerializer):
    dev_eui = serializers.CharField(read_only=True)

    class Meta(NetworkAdapterSerializer.Meta):
        fields = read_only_fields = adapter_fields(AdapterType.LORA)


class GenericNetworkAdapterSerializer(NetworkAdapterSerializer):
    dvn_uuid = serializers.UUIDField(read_only=True)

    class Meta(NetworkAdapterSerializer.Meta):
        fields = read_only_fields = adapter_fields(AdapterType.GENERIC)


def network_adapter_schema(many: bool | None = None) -> PolymorphicProxySerializer:
    """The documented shape of an adapter (or a list of them): one of the three, told apart by `type`."""
    return PolymorphicProxySerializer(
        component_name="NetworkAdapter",
        serializers={
            AdapterType.CELLULAR.value: CellularNetworkAdapterSerializer,
            AdapterType.LORA.value: LoraNetworkAdapterSerializer,
            AdapterType.GENERIC.value: GenericNetworkAdapterSerializer,
        },
        resource_type_field_name="type",
        many=many,
    )


def adapter_data(adapter) -> dict:
    """The data of an adapter's event before its `changes` (contract, section 7): the adapter and its device's id."""
    return {"adapter": NetworkAdapterSerializer(adapter).data, "device_id": adapter.device_id}


def encode_added(fields: dict, dms: str) -> bytes:
    """A new adapter's `device.adapter.added` subject and data, encoded for `EncodedChanges` (an import's), from the
    values of its columns: `adapter_data` built by hand, for the import's hot loop, where a serializer's fields cost
    more to build than the rest of the row (tests/events/test_feed_import.py checks that the two agree). orjson
    writes the UUIDs and times itself, as the API does when a time is UTC with its microseconds (orjson leaves out
    zero ones); other times, and what orjson refuses, go through `adapter_data` itself. `dms` is its device's DMS
    (who may see the change)."""
    shown = {name: fields[name] for name in SHOWN_FIELDS[fields["type"]]}
    if _written_as_the_api_does(shown["created_at"]) and _written_as_the_api_does(shown["updated_at"]):
        document = {"adapter": shown, "device_id": fields["device_id"]}
        with contextlib.suppress(TypeError):  # a lone surrogate in the description
            return binary_fields(fields["device_id"], dms, orjson.dumps(document, option=orjson.OPT_UTC_Z))
    data = jsonb_text(adapter_data(NetworkAdapter(**fields)))
    return binary_fields(fields["device_id"], dms, data)


def _written_as_the_api_does(at: datetime) -> bool:
    """Whether orjson (`OPT_UTC_Z`) writes the time in the API's `TIMESTAMP_FORMAT`."""
    return at.tzinfo is UTC and at.microsecond != 0


# The fields each type of adapter shows, in NetworkAdapterSerializer's order.
SHOWN_FIELDS = {
    adapter_type.value: [name for name in NetworkAdapterSerializer.Meta.fields if name in {*BASE_FIELDS, *fields}]
    for adapter_type, fields in TYPE_FIELDS.items()
}
