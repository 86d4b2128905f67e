import io
import logging

import pytest

from devmanager.api.request_id import RequestIdLogFilter


@pytest.fixture
def console_output():
    """What the configured console handler writes (after its filters and formatter), as a StringIO."""
    handler = next(
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(item, RequestIdLogFilter) for item in handler.filters)
    )
    output = io.StringIO()
    previous = handler.setStream(output)
    yield output
    handler.setStream(previous)


@pytest.fixture
def request_log(caplog):
    """caplog at INFO, also fed by `django.request` (which does not propagate to the root logger)."""
    caplog.set_level(logging.INFO)
    logger = logging.getLogger("django.request")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)
