import uuid

import factory

from adapters import services as adapter_services
from adapters.identifiers import luhn_valid
from adapters.models import AdapterType, NetworkAdapter
from devices import services
from devices.models import Device
from groups import services as group_services
from groups.models import DeviceGroup


class DeviceFactory(factory.Factory):
    """Devices made through the same service as `POST /devices` (tag rows and CREATED event included)."""

    class Meta:
        model = Device

    id = factory.Sequence(lambda n: f"device-{n:05d}")
    alias = factory.Faker("catch_phrase")
    tags = factory.List(["sensor"])
    metadata = factory.Dict({"location": "warehouse-a"})
    dms_owner = "dms-production"
    icon = "thermometer"
    icon_color = "#FF5733"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.device_create(source="factory", **kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        return model_class(*args, **kwargs)


class DeviceGroupFactory(factory.Factory):
    """Groups made through the same service as `POST /device-groups`: `DeviceGroupFactory(parent=group)`."""

    class Meta:
        model = DeviceGroup

    name = factory.Sequence(lambda n: f"group-{n:05d}")
    description = ""
    parent = None
    criteria = factory.List([])

    @classmethod
    def _create(cls, model_class, *args, parent=None, **kwargs):
        return group_services.group_create(parent_id=parent.pk if parent else None, **kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        return model_class(*args, **kwargs)


def imei_from(body: str) -> str:
    """A 15-digit IMEI: 14 digits and the Luhn check digit that makes them valid."""
    return next(body + digit for digit in "0123456789" if luhn_valid(body + digit))


class NetworkAdapterFactory(factory.Factory):
    """Adapters made through the same service as `POST /devices/{id}/network-adapters`:
    `NetworkAdapterFactory(device=device, type="lora")`; each type gets a fresh identifier of its own."""

    class Meta:
        model = NetworkAdapter

    device = factory.SubFactory(DeviceFactory)
    type = AdapterType.CELLULAR
    imei = factory.LazyAttributeSequence(lambda o, n: imei_from(f"35{n:012d}") if o.type == "cellular" else None)
    dev_eui = factory.LazyAttributeSequence(lambda o, n: f"70b3d5{n:010x}" if o.type == "lora" else None)
    dvn_uuid = factory.LazyAttribute(lambda o: str(uuid.uuid4()) if o.type == "generic" else None)

    @classmethod
    def _create(cls, model_class, *args, device, **kwargs):
        fields = {name: value for name, value in kwargs.items() if value is not None}
        return adapter_services.adapter_create(device_id=device.pk, **fields)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        return model_class(*args, **kwargs)
