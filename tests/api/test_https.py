import pytest

from devices.models import Device
from tests.conftest import API, assert_error
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

DEVICES = f"{API}/devices"
UNTRUSTED = "10.1.2.3"


@pytest.fixture(autouse=True)
def _https_required(settings):
    settings.DEVMANAGER_REQUIRE_HTTPS = True


def test_plain_get_redirected_to_https(api_client):
    response = api_client.get(f"{DEVICES}?page_size=5&sort_mode=desc")

    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{DEVICES}?page_size=5&sort_mode=desc"
    assert response["X-Request-ID"]


def test_plain_get_redirect_keeps_encoded_path(api_client):
    response = api_client.get(f"{DEVICES}/a%20b?filter=alias%5Beq%5Dx%20y")

    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{DEVICES}/a%20b?filter=alias%5Beq%5Dx%20y"


def test_plain_head_redirected_to_https(api_client):
    response = api_client.head(DEVICES)

    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{DEVICES}"


def test_plain_get_without_key_redirected_to_https(anon_client):
    response = anon_client.get(DEVICES)

    assert response.status_code == 301


def test_plain_post_invalid_request(api_client):
    response = api_client.post(DEVICES, {"id": "d1"}, format="json")

    assert_error(response, 403, "invalid_request")
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [("delete", f"{DEVICES}/d1?force=true"), ("delete", f"{DEVICES}/d1/decommission"), ("put", f"{DEVICES}/d1")],
)
def test_plain_write_invalid_request_nothing_changed(api_client, method, path):
    DeviceFactory.create(id="d1")

    response = getattr(api_client, method)(path, {}, format="json")

    assert_error(response, 403, "invalid_request")
    assert Device.objects.get(pk="d1").status == "NO_IDENTITY"


def test_plain_options_invalid_request(api_client):
    response = api_client.options(DEVICES)

    assert_error(response, 403, "invalid_request")


def test_forwarded_proto_from_trusted_proxy_honoured(api_client):
    response = api_client.get(DEVICES, HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200


def test_forwarded_proto_from_trusted_proxy_write_accepted(api_client):
    response = api_client.post(DEVICES, {"id": "d1"}, format="json", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 201
    assert Device.objects.filter(pk="d1").exists()


def test_forwarded_proto_last_hop_and_case_honoured(api_client):
    # The trusted proxy appends what it saw to whatever the client sent: its value is the last one.
    response = api_client.get(DEVICES, HTTP_X_FORWARDED_PROTO="http, HTTPS")

    assert response.status_code == 200


def test_forwarded_proto_first_value_from_the_client_not_believed(api_client):
    # The client wrote "https" itself and reached the proxy over plain HTTP, which the proxy appended.
    response = api_client.post(DEVICES, {"id": "d1"}, format="json", HTTP_X_FORWARDED_PROTO="https, http")

    assert_error(response, 403, "invalid_request")
    assert not Device.objects.exists()


def test_forwarded_proto_from_ipv6_loopback_honoured(api_client):
    response = api_client.get(DEVICES, HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="::1")

    assert response.status_code == 200


def test_forwarded_proto_http_from_trusted_proxy_redirected(api_client):
    response = api_client.get(DEVICES, HTTP_X_FORWARDED_PROTO="http")

    assert response.status_code == 301


def test_forwarded_proto_from_untrusted_address_ignored(api_client):
    response = api_client.get(DEVICES, HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR=UNTRUSTED)

    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{DEVICES}"


def test_forwarded_proto_from_untrusted_address_write_refused(api_client):
    response = api_client.post(
        DEVICES, {"id": "d1"}, format="json", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR=UNTRUSTED
    )

    assert_error(response, 403, "invalid_request")
    assert not Device.objects.exists()


def test_forwarded_proto_from_configured_proxy_network_honoured(api_client, settings):
    settings.DEVMANAGER_TRUSTED_PROXIES = ["10.0.0.0/8"]

    response = api_client.get(DEVICES, HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR=UNTRUSTED)

    assert response.status_code == 200


def test_forwarded_proto_from_unparsable_address_ignored(api_client):
    response = api_client.get(DEVICES, HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="not-an-address")

    assert response.status_code == 301


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_exempt(anon_client, path):
    response = anon_client.get(path)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_exempt_from_untrusted_address(anon_client, path):
    assert anon_client.get(path, REMOTE_ADDR=UNTRUSTED).status_code == 200


def test_secure_request_passes(api_client):
    response = api_client.get(DEVICES, secure=True)

    assert response.status_code == 200


def test_secure_write_passes(api_client):
    response = api_client.post(DEVICES, {"id": "d1"}, format="json", secure=True)

    assert response.status_code == 201
    assert response["Location"].startswith("https://")


def test_secure_unknown_url_still_unrecognized_request(api_client):
    response = api_client.get(f"{API}/nothing-here", secure=True)

    assert_error(response, 404, "unrecognized_request")


def test_plain_get_with_key_in_url_refused_not_redirected(anon_client):
    """Redirecting would invite the client to send the key again; the contract refuses it outright."""
    response = anon_client.get(f"{DEVICES}?x=ak_{'ab' * 16}")

    assert_error(response, 400, "bad_request")
    assert "Location" not in response


def test_https_not_required_plain_write_accepted(api_client, settings):
    settings.DEVMANAGER_REQUIRE_HTTPS = False

    response = api_client.post(DEVICES, {"id": "d1"}, format="json")

    assert response.status_code == 201
