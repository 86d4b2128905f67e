"""`/webhooks` (contract, section 7): subscriptions, their secrets, replays, test sends and delivery log."""

import base64
import socket
import uuid
from datetime import datetime

import pytest
from standardwebhooks.webhooks import Webhook

from devices import services as device_services
from events.models import FeedCounter
from tests.conftest import API, assert_error
from webhooks import services
from webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.django_db

WEBHOOKS = f"{API}/webhooks"


def subscribe(client, **body) -> dict:
    response = client.post(WEBHOOKS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- Creating -----------------------------------------------------------------------------------------------------


def test_a_subscription_answers_its_secret_once_and_starts_at_the_feed_end(api_client, receiver):
    device_services.device_create(id="before", source="key:t")

    body = subscribe(api_client, url=receiver.url, description="ops", event_types=["device.*"])

    assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) == 32
    assert body["url"] == receiver.url and body["description"] == "ops" and body["event_types"] == ["device.*"]
    assert body["active"] is True and body["status"] == "healthy" and body["q"] == ""
    assert body["position"] == str(FeedCounter.objects.get().position)  # events from now on
    assert body["last_success_at"] is None and body["created_at"].endswith("Z")
    shown = api_client.get(f"{WEBHOOKS}/{body['id']}").json()
    assert "secret" not in shown and shown["id"] == body["id"]
    listed = api_client.get(WEBHOOKS).json()
    assert [item["id"] for item in listed["list"]] == [body["id"]] and "secret" not in listed["list"][0]


def test_event_types_default_to_every_type_and_q_is_normalised(api_client, receiver):
    body = subscribe(api_client, url=receiver.url, q="status[eq]:active  or tags[ct]:x")

    assert body["event_types"] == ["*"]
    assert body["q"] == Subscription.objects.get().q != ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": 5}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://example.com/x", "event_types": ["device.exploded"]}, "event_types"),
        ({"url": "https://example.com/x", "event_types": ["nothing.*"]}, "event_types"),
        ({"url": "https://example.com/x", "event_types": "device.*"}, "event_types"),
        ({"url": "https://example.com/x", "q": "status[eq]:ACTIVE and"}, "q"),
        ({"url": "https://example.com/x", "q": "imei[eq]:490154203237518"}, "q"),  # not in the event's device
        ({"url": "https://example.com/x", "active": "true"}, "active"),
        ({"url": "https://example.com/x", "secret": "whsec_abc"}, "secret"),
    ],
)
def test_a_bad_subscription_is_a_400_naming_the_field(api_client, local_destinations, body, field):
    response = api_client.post(WEBHOOKS, body, format="json")

    assert_error(response, 400, "validation_error", field)
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://192.168.0.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://0.0.0.0/x",
        "https://224.0.0.1/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://localhost/x",
    ],
)
def test_a_private_destination_is_refused(api_client, url):
    response = api_client.post(WEBHOOKS, {"url": url}, format="json")

    body = assert_error(response, 400, "validation_error", "url")
    assert "DEVMANAGER_WEBHOOK_ALLOW_PRIVATE" in body["fields"][0]["message"]


def test_plain_http_is_refused_unless_allowed(api_client, settings):
    settings.DEVMANAGER_WEBHOOK_ALLOW_PRIVATE = True

    assert_error(api_client.post(WEBHOOKS, {"url": "http://127.0.0.1/x"}, format="json"), 400, "validation_error")
    settings.DEVMANAGER_WEBHOOK_ALLOW_HTTP = True
    assert api_client.post(WEBHOOKS, {"url": "http://127.0.0.1/x"}, format="json").status_code == 201


def test_a_host_that_does_not_resolve_is_refused(api_client):
    response = api_client.post(WEBHOOKS, {"url": "https://no-such-host.invalid/x"}, format="json")

    assert "does not resolve" in assert_error(response, 400, "validation_error", "url")["fields"][0]["message"]


# --- Scopes -------------------------------------------------------------------------------------------------------


def test_reading_needs_webhooks_read_and_writing_needs_webhooks_write_and_events_read(client_with_scopes, receiver):
    assert_error(client_with_scopes("devices:read").get(WEBHOOKS), 403, "access_denied")
    assert client_with_scopes("webhooks:read").get(WEBHOOKS).status_code == 200
    assert_error(client_with_scopes("webhooks:read").post(WEBHOOKS, {"url": receiver.url}), 403, "access_denied")
    writer = client_with_scopes("webhooks:write")
    assert_error(writer.post(WEBHOOKS, {"url": receiver.url}, format="json"), 403, "access_denied")
    both = client_with_scopes("webhooks:write", "events:read")
    assert both.post(WEBHOOKS, {"url": receiver.url}, format="json").status_code == 201


# --- Changing -----------------------------------------------------------------------------------------------------


def test_patch_changes_the_fields_given_and_checks_them(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)

    response = api_client.patch(
        f"{WEBHOOKS}/{created['id']}", {"description": "new", "event_types": ["group.*"]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["description"] == "new" and response.json()["event_types"] == ["group.*"]
    assert response.json()["url"] == receiver.url
    bad = api_client.patch(f"{WEBHOOKS}/{created['id']}", {"url": "ftp://example.com/"}, format="json")
    assert_error(bad, 400, "validation_error", "url")
    assert Subscription.objects.get().url == receiver.url


def test_setting_active_re_enables_a_disabled_subscription_and_forgets_its_failures(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)
    Subscription.objects.update(active=False, attempts=3, failing_since="2026-01-01T00:00:00Z")
    assert api_client.get(f"{WEBHOOKS}/{created['id']}").json()["status"] == "disabled"

    response = api_client.patch(f"{WEBHOOKS}/{created['id']}", {"active": True}, format="json")

    assert response.json()["status"] == "healthy" and response.json()["active"] is True
    assert Subscription.objects.get().attempts == 0


def test_delete_removes_the_subscription_and_its_log(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)

    assert api_client.delete(f"{WEBHOOKS}/{created['id']}").status_code == 204

    assert not Subscription.objects.exists()
    assert_error(api_client.get(f"{WEBHOOKS}/{created['id']}"), 404, "not_found")
    assert_error(api_client.delete(f"{WEBHOOKS}/{created['id']}"), 404, "not_found")
    assert_error(api_client.get(f"{WEBHOOKS}/not-a-uuid"), 404, "not_found")


def test_put_is_not_an_operation(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)

    assert_error(api_client.put(f"{WEBHOOKS}/{created['id']}", {"url": receiver.url}), 405, "method_not_supported")


# --- Secrets ------------------------------------------------------------------------------------------------------


def test_rotating_the_secret_keeps_the_old_one_signing_for_24_hours(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)

    rotated = api_client.post(f"{WEBHOOKS}/{created['id']}/rotate-secret").json()

    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    subscription = Subscription.objects.get()
    assert subscription.secrets() == [rotated["secret"], created["secret"]]
    ((_, expires),) = subscription.previous_secrets
    assert subscription.secrets(now=datetime.fromisoformat(expires)) == [rotated["secret"]]

    again = api_client.post(f"{WEBHOOKS}/{created['id']}/rotate-secret").json()  # within the 24 hours

    assert Subscription.objects.get().secrets() == [again["secret"], created["secret"], rotated["secret"]]


# --- Test sends ---------------------------------------------------------------------------------------------------


def test_a_test_send_posts_a_signed_webhook_test_event_and_reports_the_answer(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)

    response = api_client.post(f"{WEBHOOKS}/{created['id']}/test")

    assert response.status_code == 200
    assert response.json()["status_code"] == 200 and response.json()["error"] is None
    assert isinstance(response.json()["duration_ms"], int)
    (request,) = receiver.received
    event = Webhook(created["secret"]).verify(request.body, request.headers)
    assert event["type"] == "webhook.test" and event["subject"] == created["id"]
    assert request.headers["content-type"] == "application/cloudevents+json"
    assert not Delivery.objects.exists()


def test_a_test_send_reports_a_failing_endpoint(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)
    receiver.answers = [(503, b"down for maintenance")]

    body = api_client.post(f"{WEBHOOKS}/{created['id']}/test").json()

    assert body["status_code"] == 503 and body["error"] == "HTTP 503"


def test_a_test_send_to_a_closed_port_reports_no_answer(api_client, local_destinations):
    created = subscribe(api_client, url="http://127.0.0.1:1/hook")

    body = api_client.post(f"{WEBHOOKS}/{created['id']}/test").json()

    assert body["status_code"] is None and "ConnectError" in body["error"]


# --- Replay -------------------------------------------------------------------------------------------------------


def test_replay_moves_the_subscription_back(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)
    device_services.device_create(id="d-1", source="key:t")
    Subscription.objects.update(position=FeedCounter.objects.get().position, attempts=2)

    response = api_client.post(f"{WEBHOOKS}/{created['id']}/replay", {"after": created["position"]}, format="json")

    assert response.status_code == 202 and response.json()["position"] == created["position"]
    assert Subscription.objects.get().attempts == 0


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", 7, "99999999999999999999"])
def test_replay_needs_an_event_id(api_client, receiver, after):
    created = subscribe(api_client, url=receiver.url)

    assert_error(
        api_client.post(f"{WEBHOOKS}/{created['id']}/replay", {"after": after}, format="json"),
        400, "validation_error", "after",
    )  # fmt: skip


def test_replay_after_an_event_not_yet_handed_out_is_a_400(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)

    response = api_client.post(f"{WEBHOOKS}/{created['id']}/replay", {"after": "1000000"}, format="json")

    assert_error(response, 400, "validation_error", "after")


def test_replay_after_a_pruned_event_is_gone(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)
    FeedCounter.objects.update_or_create(pk=1, defaults={"position": 50, "pruned_through": 40})

    response = api_client.post(f"{WEBHOOKS}/{created['id']}/replay", {"after": "39"}, format="json")

    assert_error(response, 410, "gone")


def test_replay_of_an_unknown_webhook_is_a_404(api_client):
    response = api_client.post(f"{WEBHOOKS}/{uuid.uuid4()}/replay", {"after": "0"}, format="json")

    assert_error(response, 404, "not_found")


# --- The delivery log ---------------------------------------------------------------------------------------------


def test_deliveries_are_listed_newest_first_with_bookmarks(api_client, receiver):
    created = subscribe(api_client, url=receiver.url)
    subscription = Subscription.objects.get()
    for event_id in (1, 2, 3):
        Delivery.objects.create(
            subscription=subscription, event_id=event_id, webhook_id=f"msg_{event_id}", attempt=1,
            outcome="delivered", status_code=200, duration_ms=3,
        )  # fmt: skip

    first = api_client.get(f"{WEBHOOKS}/{created['id']}/deliveries", {"page_size": 2}).json()
    second = api_client.get(f"{WEBHOOKS}/{created['id']}/deliveries", {"bookmark": first["next"]}).json()

    assert [item["event_id"] for item in first["list"]] == ["3", "2"]
    assert [item["event_id"] for item in second["list"]] == ["1"] and second["next"] == ""
    item = first["list"][0]
    assert item["attempt"] == 1 and item["status_code"] == 200 and item["error"] is None
    assert item["duration_ms"] == 3 and item["timestamp"].endswith("Z") and item["next_attempt_at"] is None
    assert_error(api_client.get(f"{WEBHOOKS}/{uuid.uuid4()}/deliveries"), 404, "not_found")
    assert_error(
        api_client.get(f"{WEBHOOKS}/{created['id']}/deliveries", {"filter": "x[eq]:1"}), 400, "validation_error"
    )


def test_a_host_resolving_only_to_public_addresses_is_accepted(api_client, monkeypatch):
    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    response = api_client.post(WEBHOOKS, {"url": "https://hooks.example/devmanager?x=1"}, format="json")

    assert response.status_code == 201 and response.json()["url"] == "https://hooks.example/devmanager?x=1"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", {"description": "x"}),
        ("delete", "", None),
        ("post", "/rotate-secret", None),
        ("post", "/replay", {"after": "0"}),
        ("post", "/test", None),
    ],
)
def test_every_write_needs_events_read_beside_webhooks_write(client_with_scopes, receiver, method, suffix, body):
    subscription = services.subscription_create(url=receiver.url)
    url = f"{WEBHOOKS}/{subscription.pk}{suffix}"
    assert client_with_scopes("webhooks:read").get(f"{WEBHOOKS}/{subscription.pk}/deliveries").status_code == 200

    refused = getattr(client_with_scopes("webhooks:write"), method)(url, body, format="json")
    allowed = getattr(client_with_scopes("webhooks:write", "events:read"), method)(url, body, format="json")

    assert_error(refused, 403, "access_denied")
    assert allowed.status_code in (200, 202, 204)
