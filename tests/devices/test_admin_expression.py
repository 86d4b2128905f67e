"""The device list of the admin: its search box takes a `q` expression (errors shown above the list), and its status
and DMS filters show counts from the aggregation of `/stats?group_by=` when asked ("Show counts")."""

import pytest
from django.urls import reverse

from devices.models import Device
from tests.factories import DeviceFactory, DeviceGroupFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:devices_device_changelist")


def listed_ids(response) -> list[str]:
    assert response.status_code == 200
    return sorted(device.pk for device in response.context["cl"].result_list)


@pytest.fixture
def fleet():
    for device_id, status, dms, tags in [
        ("expired-a", "EXPIRED", "dms-a", ["sensor"]),
        ("revoked-lab", "REVOKED", "lab", ["sensor"]),
        ("active-a", "ACTIVE", "dms-a", ["critical"]),
        ("active-lab", "ACTIVE", "lab", []),
        ("active-none", "ACTIVE", "", []),
    ]:
        DeviceFactory(id=device_id, dms_owner=dms, tags=tags)
        Device.objects.filter(pk=device_id).update(status=status)


def test_search_box_takes_an_expression(admin_client, fleet):
    q = "status[in]:EXPIRED,REVOKED or (tags[ct]:critical and not dms_owner[eq]:lab)"

    assert listed_ids(admin_client.get(CHANGELIST, {"q": q})) == ["active-a", "expired-a", "revoked-lab"]


def test_expression_combines_with_the_filters(admin_client, fleet):
    response = admin_client.get(CHANGELIST, {"q": "not tags[ct]:sensor", "status__exact": "ACTIVE"})

    assert listed_ids(response) == ["active-a", "active-lab", "active-none"]


def test_bad_expression_is_shown_above_an_empty_list(admin_client, fleet):
    response = admin_client.get(CHANGELIST, {"q": "status[eq]:ACTIVE and (tags[ct]:x"})

    assert listed_ids(response) == []
    page = response.content.decode()
    assert 'id="expression-error"' in page and "at character 34" in page


def test_plain_search_is_unchanged(admin_client, fleet):
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "active-a"})) == ["active-a"]
    assert 'id="expression-error"' not in admin_client.get(CHANGELIST, {"q": "active-a"}).content.decode()


def test_filters_show_counts_of_the_list_when_asked(admin_client, fleet):
    page = admin_client.get(CHANGELIST, {"_facets": "True", "q": "not tags[ct]:critical"}).content.decode()

    assert "Active (2)" in page and "Expired (1)" in page and "Revoked (1)" in page and "Decommissioned (0)" in page
    assert "dms-a (1)" in page and "lab (2)" in page and "(none) (1)" in page


def test_a_filters_counts_ignore_its_own_choice(admin_client, fleet):
    page = admin_client.get(CHANGELIST, {"_facets": "True", "status__exact": "ACTIVE"}).content.decode()

    assert "Expired (1)" in page  # what choosing Expired instead would list
    assert "dms-a (1)" in page and "lab (1)" in page  # the DMS counts follow the chosen status


def test_no_counts_unless_asked(admin_client, fleet):
    page = admin_client.get(CHANGELIST).content.decode()

    assert "Active (" not in page


def test_group_filter_shows_no_counts(admin_client, fleet):
    DeviceGroupFactory(name="Sensors", criteria=[{"field": "tags", "operand": "contains", "value": "sensor"}])

    page = admin_client.get(CHANGELIST, {"_facets": "True"}).content.decode()

    assert "Sensors" in page and "Sensors (" not in page
