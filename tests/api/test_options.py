"""OPTIONS describes the body each write takes (DRF answers it with the view's serializer)."""

import pytest

from tests.conftest import API
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "method", "fields"),
    [
        ("/devices", "POST", {"id", "alias", "tags", "metadata", "dms_id", "dms_owner", "icon", "icon_color"}),
        ("/devices/d-1/idslot", "PUT", {"status", "active_version", "type", "versions", "expiration_date"}),
        ("/devices/d-1/metadata", "PUT", {"metadata", "patches"}),
        ("/device-groups", "POST", {"id", "name", "description", "parent_id", "criteria", "q"}),
        ("/devices/d-1/network-adapters", "POST", {"type", "imei", "iccid", "imsi", "msisdn", "dev_eui", "join_eui",
                                                   "activation", "dvn_uuid", "description"}),
    ],
)  # fmt: skip
def test_options_describes_the_request_body(api_client, path, method, fields):
    DeviceFactory(id="d-1")

    response = api_client.options(f"{API}{path}")

    assert response.status_code == 200
    described = response.json()["actions"][method]
    assert set(described) == fields
    assert not any(field["read_only"] for field in described.values())


def test_options_of_create_says_which_fields_are_required(api_client):
    described = api_client.options(f"{API}/devices").json()["actions"]["POST"]

    assert [name for name, field in described.items() if field["required"]] == ["id"]
