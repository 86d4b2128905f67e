"""Deliveries over HTTPS, as production sends them (plain HTTP needs DEVMANAGER_WEBHOOK_ALLOW_HTTP): the delivery
connects to an address it checked, and the receiver's certificate is checked against the URL's host name, with the
CAs of DEVMANAGER_WEBHOOK_CA_FILE when set (a throwaway CA here: trustme)."""

import dataclasses
import os
import ssl
import subprocess
import sys

import pytest
import trustme
from standardwebhooks.webhooks import Webhook

from devices import services as device_services
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import deliver
from tests.workers import ROOT
from webhooks import delivery, destinations, services
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def ca():
    return trustme.CA()


@pytest.fixture
def private_https(settings, ca, tmp_path):
    """Receivers on this machine (private addresses allowed), over HTTPS only, trusting the throwaway CA."""
    settings.DEVMANAGER_WEBHOOK_ALLOW_PRIVATE = True
    settings.DEVMANAGER_WEBHOOK_ALLOW_HTTP = False
    settings.DEVMANAGER_WEBHOOK_TIMEOUT = 2.0
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    settings.DEVMANAGER_WEBHOOK_CA_FILE = str(tmp_path / "ca.pem")


def serving(ca, *names: str) -> ssl.SSLContext:
    """A server context with a certificate of the CA for these names."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def outcomes() -> list[tuple[str, int | None, str]]:
    return list(Delivery.objects.order_by("id").values_list("outcome", "status_code", "error"))


def test_a_receiver_whose_certificate_names_the_urls_host_gets_the_signed_event(private_https, ca):
    with Receiver(tls=serving(ca, "localhost"), host="localhost") as receiver:
        subscription = services.subscription_create(url=receiver.url)
        device_services.device_create(id="tls-1", source="key:t")

        deliver()

        (request,) = receiver.wait_for(1)
    assert receiver.url.startswith("https://localhost:")
    assert Webhook(subscription.secret).verify(request.body, request.headers)["subject"] == "tls-1"
    assert request.headers["host"] == receiver.url.split("/")[2]  # the URL's host, though an address was dialled
    assert outcomes() == [("delivered", 200, "")]


def test_a_certificate_for_another_name_is_refused_though_the_address_is_right(private_https, ca):
    with Receiver(tls=serving(ca, "other.example", "127.0.0.1"), host="localhost") as receiver:
        services.subscription_create(url=receiver.url)
        device_services.device_create(id="tls-2", source="key:t")

        deliver()

        assert receiver.received == []
    ((outcome, status_code, error),) = outcomes()
    assert (outcome, status_code) == ("failed", None)
    assert "CERTIFICATE_VERIFY_FAILED" in error and "localhost" in error, error


def test_a_certificate_of_a_ca_not_trusted_is_refused(private_https, settings):
    settings.DEVMANAGER_WEBHOOK_CA_FILE = ""  # the public CAs only
    with Receiver(tls=serving(trustme.CA(), "localhost"), host="localhost") as receiver:
        services.subscription_create(url=receiver.url)
        device_services.device_create(id="tls-3", source="key:t")

        deliver()

        assert receiver.received == []
    ((outcome, _, error),) = outcomes()
    assert outcome == "failed" and "CERTIFICATE_VERIFY_FAILED" in error, error


@pytest.mark.parametrize("content", [None, "", "not a certificate\n"])
def test_a_ca_file_missing_or_holding_no_certificate_stops_the_settings(tmp_path, content):
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    environment = {**os.environ, "DJANGO_SECRET_KEY": "x", "DEVMANAGER_WEBHOOK_CA_FILE": str(path)}
    started = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True
    )

    assert started.returncode != 0
    assert f"DEVMANAGER_WEBHOOK_CA_FILE is not a file of CA certificates: '{path}'" in started.stderr


def test_a_refused_certificate_is_told_whichever_address_comes_next(private_https, ca, monkeypatch):
    """A host of two addresses: the first serves a certificate for another name, the second refuses connections.
    The delivery stops at the certificate, and says so."""
    with Receiver(tls=serving(ca, "other.example"), host="localhost") as receiver:
        port = receiver.server.server_address[1]
        checked = destinations.resolve(receiver.url)
        two = dataclasses.replace(checked, addresses=("127.0.0.1", "127.0.0.2"))
        monkeypatch.setattr(delivery, "resolve", lambda url: two)
        services.subscription_create(url=f"https://localhost:{port}/hook")
        device_services.device_create(id="tls-4", source="key:t")

        deliver()

        assert receiver.received == []
    ((outcome, _, error),) = outcomes()
    assert outcome == "failed" and "CERTIFICATE_VERIFY_FAILED" in error, error
