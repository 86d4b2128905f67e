"""The device group fields of the filter language (for `GET /device-groups`)."""

from devmanager.api.filtering import DateField, StringField, UuidField

GROUP_FILTER_FIELDS = {
    "id": UuidField("id"),
    "name": StringField("name"),
    "parent_id": UuidField("parent_id", nullable=True),
    "created_at": DateField("created_at"),
    "updated_at": DateField("updated_at"),
}
