"""`/stats?group_by=` and a group's stats with it (contract, section 8): buckets by count then key, `limit`, `other`,
absent values under `null`, `tags` counting a device under each tag, metadata paths; one SQL statement."""

import pytest

from devices.aggregation import count_by
from devices.models import Device
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory, DeviceGroupFactory

pytestmark = pytest.mark.django_db

STATS = f"{API}/stats"


def device(device_id, *, status="ACTIVE", dms="", tags=(), icon="", metadata=None, identity=None):
    DeviceFactory(id=device_id, dms_owner=dms, tags=list(tags), icon=icon, metadata=metadata or {})
    slots = {"default": identity} if identity else {}
    Device.objects.filter(pk=device_id).update(status=status, slots=slots)


@pytest.fixture
def fleet():
    device("a1", dms="dms-a", tags=["sensor", "critical"], icon="chip", metadata={"location": "berlin", "floor": 1})
    device("a2", dms="dms-a", tags=["sensor"], icon="chip", metadata={"location": "berlin", "floor": 2})
    device("a3", dms="dms-a", tags=["gateway"], status="EXPIRED", metadata={"location": "paris", "floor": 1})
    device("b1", dms="dms-b", tags=["sensor"], status="EXPIRED", metadata={"location": "paris", "floor": True})
    device("b2", dms="dms-b", status="REVOKED", metadata={"location": None, "floor": "1"})
    device("n1", metadata={"location": {"city": "rome"}}, identity={"type": "X509", "status": "ACTIVE"})
    device("n2", identity={"type": "X509", "status": "EXPIRED"})
    device("n3", tags=["critical"], identity={"type": "SSH", "status": "ACTIVE"})


def stats(client, **params):
    response = client.get(STATS, params)
    assert response.status_code == 200, response.content
    return response.json()


def buckets(body) -> list[tuple]:
    return [(bucket["key"], bucket["count"]) for bucket in body["buckets"]]


def test_group_by_dms_owner_counts_absent_under_null(api_client, fleet):
    body = stats(api_client, group_by="dms_owner")

    assert body["total"] == 8 and body["group_by"] == "dms_owner" and body["other"] == 0
    assert buckets(body) == [("dms-a", 3), (None, 3), ("dms-b", 2)]  # ties by key, null last


def test_group_by_status(api_client, fleet):
    body = stats(api_client, group_by="status")

    assert buckets(body) == [("ACTIVE", 5), ("EXPIRED", 2), ("REVOKED", 1)]


def test_group_by_tags_counts_a_device_under_each_tag(api_client, fleet):
    body = stats(api_client, group_by="tags")

    assert body["total"] == 8
    assert buckets(body) == [("sensor", 3), (None, 3), ("critical", 2), ("gateway", 1)]


def test_group_by_icon_and_identity(api_client, fleet):
    assert buckets(stats(api_client, group_by="icon")) == [(None, 6), ("chip", 2)]
    assert buckets(stats(api_client, group_by="identity.type")) == [(None, 5), ("X509", 2), ("SSH", 1)]
    assert buckets(stats(api_client, group_by="identity.status")) == [(None, 5), ("ACTIVE", 2), ("EXPIRED", 1)]


def test_group_by_metadata_path(api_client, fleet):
    body = stats(api_client, group_by="metadata:$.location")

    # JSON null, an object and an absent key all count under null.
    assert buckets(body) == [(None, 4), ("berlin", 2), ("paris", 2)]


def test_group_by_metadata_keeps_the_types_of_the_values_apart(api_client, fleet):
    body = stats(api_client, group_by="metadata:$.floor")

    assert sorted(buckets(body), key=repr) == sorted([(1, 2), (2, 1), (True, 1), ("1", 1), (None, 3)], key=repr)
    assert body["buckets"][1] == {"key": 1, "count": 2}  # the number 1, not the string "1"


def test_limit_keeps_the_largest_and_other_counts_the_rest(api_client, fleet):
    body = stats(api_client, group_by="tags", limit=2)

    assert buckets(body) == [("sensor", 3), (None, 3)]
    assert body["other"] == 3  # critical 2, gateway 1
    assert body["total"] == 8


def test_group_by_honours_filter_and_q(api_client, fleet):
    body = stats(api_client, group_by="dms_owner", filter="status[ne]:REVOKED", q="tags[ct]:sensor or tags[ct]:gateway")

    assert body["total"] == 4 and buckets(body) == [("dms-a", 3), ("dms-b", 1)]


def test_group_by_of_nothing(api_client, fleet):
    body = stats(api_client, group_by="status", q="id[eq]:nobody")

    assert body == {"total": 0, "group_by": "status", "buckets": [], "other": 0}


def test_group_stats_take_group_by(api_client, fleet):
    group = DeviceGroupFactory(criteria=[{"field": "dms_owner", "operand": "eq", "value": "dms-a"}])

    response = api_client.get(f"{API}/device-groups/{group.pk}/stats", {"group_by": "metadata:$.location"})

    assert response.status_code == 200
    assert buckets(response.json()) == [("berlin", 2), ("paris", 1)]


def test_without_group_by_the_answer_is_the_status_distribution(api_client, fleet):
    body = stats(api_client)

    assert set(body) == {"total", "status_distribution"} and body["total"] == 8


def test_one_statement(api_client, fleet, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        count_by(Device.objects.all(), "tags")


def test_the_count_per_status_is_the_group_by_status(fleet):
    devices = Device.objects.filter(dms_owner="dms-a")

    assert devices.status_distribution() == {
        status: next((b["count"] for b in count_by(devices, "status")["buckets"] if b["key"] == status), 0)
        for status in devices.status_distribution()
    }


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"group_by": "colour"}, "group_by", "must be one of"),
        ({"group_by": "metadata:$["}, "group_by", "JSONPath"),
        ({"group_by": "metadata:$.a == 1"}, "group_by", "not compare"),
        ({"group_by": "metadata:$.*"}, "group_by", "not compare"),
        ({"group_by": "status", "limit": "0"}, "limit", "from 1 to 1000"),
        ({"group_by": "status", "limit": "1001"}, "limit", "from 1 to 1000"),
        ({"group_by": "status", "limit": "ten"}, "limit", "from 1 to 1000"),
        ({"limit": "5"}, "limit", "only taken with group_by"),
        ({"group_by": ["status", "tags"]}, "group_by", "at most once"),
        ({"group_by": "status", "q": "status[eq]:SLEEPING"}, "q", "at character 1"),
        ({"group_by": "status", "Group_by": "tags"}, "Group_by", None),
    ],
)
def test_bad_group_by_is_a_400_naming_it(api_client, fleet, params, field, message):
    body = assert_error(api_client.get(STATS, params), 400, "validation_error", field)

    if message:
        assert message in body["fields"][0]["message"]
