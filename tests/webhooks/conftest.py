import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def local_destinations(settings):
    """The tests' endpoints listen on 127.0.0.1 over plain HTTP: both allowed."""
    settings.DEVMANAGER_WEBHOOK_ALLOW_PRIVATE = True
    settings.DEVMANAGER_WEBHOOK_ALLOW_HTTP = True
    settings.DEVMANAGER_WEBHOOK_TIMEOUT = 2.0


@pytest.fixture
def receiver(local_destinations):
    with Receiver() as running:
        yield running
