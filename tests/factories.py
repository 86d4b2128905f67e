import factory

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
