"""A group's definition (criteria and `q`) is checked by the services themselves, whoever calls them: the API and
the admin check the same first, in their own terms; a command, a job or a test calling a service gets `Invalid`."""

import pytest

from devmanager.errors import Invalid
from groups import services
from groups.models import DeviceGroup

pytestmark = pytest.mark.django_db
GOOD = {"field": "tags", "operand": "contains", "value": "sensor"}


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ([GOOD, {"field": "colour", "operand": "eq", "value": "red"}], "colour"),
        ([{"field": "status", "operand": "eq", "value": "SLEEPING"}], "SLEEPING"),
        ([{"field": "tags", "operand": "contains"}], "value must be a string"),
        ([{"field": "tags", "operand": "contains", "value": 3}], "value must be a string"),
        ([{**GOOD, "colour": "red"}], "unknown member 'colour'"),
        (["tags[ct]:x"], "field, operand and value"),
    ],
)
def test_creating_a_group_with_a_bad_criterion_is_refused_naming_it(criteria, message):
    with pytest.raises(Invalid) as refused:
        services.group_create(name="g", criteria=criteria)

    index = len(criteria) - 1
    assert list(refused.value.fields) == ["criteria"] and list(refused.value.fields["criteria"]) == [index]
    assert message in refused.value.fields["criteria"][index][0]
    assert not DeviceGroup.objects.exists()


def test_a_bad_q_is_refused_with_its_position():
    with pytest.raises(Invalid) as refused:
        services.group_create(name="g", q="tags[ct]:a and (")

    assert list(refused.value.fields) == ["q"] and "at character 17" in refused.value.fields["q"][0]
    assert not DeviceGroup.objects.exists()


def test_updating_a_group_with_a_bad_definition_changes_nothing():
    group = services.group_create(name="g", criteria=[GOOD], q="status[eq]:ACTIVE")

    with pytest.raises(Invalid):
        services.group_update(group_id=group.pk, criteria=[{"field": "x", "operand": "eq", "value": "y"}])
    with pytest.raises(Invalid):
        services.group_update(group_id=group.pk, q="not")

    group.refresh_from_db()
    assert (group.criteria, group.q, group.version) == ([GOOD], "status[eq]:ACTIVE", 1)


def test_a_valid_definition_is_stored():
    group = services.group_create(name="g", criteria=[GOOD], q="not tags[ct]:pilot")

    assert services.group_update(group_id=group.pk, q="").q == ""
