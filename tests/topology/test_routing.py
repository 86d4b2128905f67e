"""Read routing without a replica running (devmanager/replicas.py): tokens, which database a read goes to, how lag
is judged. tests/topology/test_cluster.py checks the same against a real replica."""

import time
from datetime import timedelta

import pytest
from django.core.cache.backends.db import DatabaseCache
from django.db import connection, transaction
from django.utils import timezone

from devices.models import Device
from devmanager.api.models import ApiKey
from devmanager.api.pagination import decode_bookmark
from devmanager.api.throttling import counting
from devmanager.replicas import (
    BadToken,
    ReadRouting,
    ReplicaRouter,
    ReplicaState,
    ReplicaStates,
    consistency_token,
    lsn_number,
    reads_routed,
    token_position,
)
from tests.conftest import API, assert_error, bearer_client


def test_a_token_carries_its_position():
    assert token_position(consistency_token(123_456)) == 123_456


@pytest.mark.parametrize("token", ["", "forged", consistency_token(5)[:-2] + "xx", "MTI:1xa:abc"])
def test_a_forged_token_is_refused(token):
    with pytest.raises(BadToken):
        token_position(token)


def test_a_lsn_is_one_number():
    assert lsn_number("0/0") == 0
    assert lsn_number("1/2A") == (1 << 32) + 42


def test_a_forged_token_header_is_400_naming_it(api_client):
    response = api_client.get(f"{API}/devices", HTTP_X_CONSISTENCY_TOKEN="forged")

    assert_error(response, 400, "validation_error", "X-Consistency-Token")


@pytest.mark.django_db
def test_a_write_answers_a_consistency_token(api_client):
    response = api_client.post(f"{API}/devices", {"id": "tokened"}, format="json")

    assert response.status_code == 201
    assert token_position(response["X-Consistency-Token"]) >= 0
    assert "X-Consistency-Token" not in api_client.get(f"{API}/devices/tokened")


@pytest.fixture
def replica_configured(monkeypatch):
    """A replica, as this process last found it, never connected to: routing decisions only."""
    monkeypatch.setattr("devmanager.replicas.replica_aliases", lambda: ["replica1"])
    chosen = ReplicaStates()
    chosen.states = {"replica1": ReplicaState("replica1", reachable=True, replayed=100, lag_seconds=0.0)}
    chosen.checked_at = time.monotonic() + 3600  # no refresh
    monkeypatch.setattr("devmanager.replicas.STATES", chosen)
    return chosen


def test_a_read_goes_to_a_replica_past_its_position(replica_configured):
    router = ReplicaRouter()

    with reads_routed(ReadRouting(needed=100)):
        assert router.db_for_read(Device) == "replica1"
    with reads_routed(ReadRouting(needed=101)):
        assert router.db_for_read(Device) == "default"  # not replayed that far: the primary answers


def test_who_is_asking_is_read_from_the_primary(replica_configured):
    with reads_routed(ReadRouting()):
        assert ReplicaRouter().db_for_read(ApiKey) == "default"


@pytest.mark.django_db
def test_a_read_inside_a_write_is_read_from_the_primary(replica_configured):
    with reads_routed(ReadRouting()), transaction.atomic():
        assert ReplicaRouter().db_for_read(Device) == "default"


def test_a_lagging_or_unreachable_replica_is_skipped(replica_configured, settings):
    settings.DEVMANAGER_REPLICA_MAX_LAG_SECONDS = 5
    replica_configured.states["replica1"].lag_seconds = 6
    with reads_routed(ReadRouting()):
        assert ReplicaRouter().db_for_read(Device) == "default"
    replica_configured.states["replica1"] = ReplicaState("replica1", error="down")
    with reads_routed(ReadRouting()):
        assert ReplicaRouter().db_for_read(Device) == "default"


def test_lag_is_the_age_of_the_oldest_position_not_replayed():
    states = ReplicaStates()
    states.samples.extend([(10.0, 100), (11.0, 200), (12.0, 300)])

    assert states.lag(300, now=20.0) == 0.0  # an idle primary makes no lag
    assert states.lag(200, now=20.0) == 8.0
    assert states.lag(50, now=20.0) == 10.0


def test_writes_and_migrations_use_the_primary():
    router = ReplicaRouter()

    assert router.db_for_write(Device) == "default"
    assert router.allow_migrate("default", "devices") and not router.allow_migrate("replica1", "devices")


@pytest.mark.django_db
def test_metrics_count_queries_per_database_and_show_replica_lag(replica_configured, api_client, anon_client, settings):
    settings.DEVMANAGER_METRICS_TOKEN = "scrape"
    api_client.get(f"{API}/devices")

    page = anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape").content.decode()

    assert 'django_db_execute_total{alias="default"' in page
    assert 'devmanager_replica_lag_seconds{database="replica1"} 0.0' in page
    assert 'devmanager_replica_reachable{database="replica1"} 1.0' in page


def test_readyz_shows_each_database(replica_configured, anon_client, db):
    body = anon_client.get("/readyz").json()

    assert body["databases"] == {
        "default": {"role": "primary", "state": "ok"},
        "replica1": {"role": "replica", "state": "ok", "lag_seconds": 0.0},
    }


def test_a_requirement_after_the_first_read_moves_the_rest_to_the_primary(replica_configured):
    routing = ReadRouting()
    with reads_routed(routing):
        assert ReplicaRouter().db_for_read(Device) == "replica1"
        routing.require(101)  # the key's last write, learnt late

        assert ReplicaRouter().db_for_read(Device) == "default"


POSITIONS = pytest.mark.skipif(connection.vendor != "postgresql", reason="WAL positions are PostgreSQL's")


@POSITIONS
@pytest.mark.django_db(transaction=True)  # the test's own transaction would keep every read on the primary
def test_a_key_that_wrote_reads_from_the_primary_until_the_lag_limit(replica_configured, api_key, monkeypatch):
    from devmanager import replicas

    client = bearer_client(api_key(name="writer"))
    chosen = []
    monkeypatch.setattr(replicas.ReadRouting, "database", lambda self: chosen.append(self.needed) or "default")

    assert client.post(f"{API}/devices", {"id": "written"}, format="json").status_code == 201
    client.get(f"{API}/devices")

    written = ApiKey.objects.get(name="writer").last_write_position
    assert written > 0 and chosen[-1] == written  # its reads need a replica past its write
    ApiKey.objects.filter(name="writer").update(last_write_at=timezone.now() - timedelta(seconds=60))
    client.get(f"{API}/devices")
    assert chosen[-1] == 0  # the write is older than the lag limit: any replica may answer


@POSITIONS
@pytest.mark.django_db(transaction=True)
def test_an_admin_session_that_wrote_reads_what_it_wrote(replica_configured, admin_client, monkeypatch):
    from devmanager import replicas

    chosen = []
    monkeypatch.setattr(replicas.ReadRouting, "database", lambda self: chosen.append(self.needed) or "default")

    assert admin_client.post(f"{API}/devices", {"id": "by-staff"}, content_type="application/json").status_code == 201
    admin_client.get(f"{API}/devices")

    position, _ = admin_client.session[replicas.ReplicaRoutingMiddleware.SESSION_KEY]
    assert position > 0 and chosen[-1] == position


@POSITIONS
@pytest.mark.django_db(transaction=True)
def test_a_bookmark_carries_how_far_its_page_was_read(replica_configured, api_client, monkeypatch):
    from devmanager import replicas

    chosen = []
    monkeypatch.setattr(replicas.ReadRouting, "database", lambda self: chosen.append(self.needed) or "default")
    for number in (1, 2, 3):
        Device.objects.create(id=f"walk-{number}")
    first = api_client.get(f"{API}/devices", {"page_size": 1}).json()
    position = decode_bookmark(first["next"])["w"]
    assert position > 0  # the primary's WAL position when the page was read

    second = api_client.get(f"{API}/devices", {"bookmark": first["next"]}).json()

    assert chosen[-1] == position  # the next page needs a database at least that far
    assert decode_bookmark(second["next"])["w"] >= position


@pytest.mark.django_db
def test_without_replicas_a_bookmark_carries_no_position(api_client):
    for number in (1, 2):
        Device.objects.create(id=f"walk-{number}")

    first = api_client.get(f"{API}/devices", {"page_size": 1}).json()

    assert "w" not in decode_bookmark(first["next"])


@pytest.mark.django_db(transaction=True)  # outside a test's transaction, which would take reads to the primary
def test_the_rate_limit_s_shared_count_is_read_from_the_primary(replica_configured):
    count_table = DatabaseCache("devmanager_cache", {}).cache_model_class
    with reads_routed(ReadRouting()):
        assert ReplicaRouter().db_for_read(count_table) == "replica1"  # a cache read of its own may go to a replica

        with counting("throttle_api_key_key:1", shared=True):
            assert ReplicaRouter().db_for_read(count_table) == "default"
