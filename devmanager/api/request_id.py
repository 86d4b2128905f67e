"""The request ID: assigned once per request, carried to log lines and error bodies."""

import contextvars
import logging
import re
import uuid

_current = contextvars.ContextVar("request_id", default=None)

API_KEY_PATTERN = re.compile(r"ak_[0-9a-f]{32}")


def new_request_id() -> str:
    """A server-assigned ID of 32 characters, unique per request."""
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _current.get()


def bind_request_id(request_id: str | None) -> contextvars.Token:
    return _current.set(request_id)


def unbind_request_id(token: contextvars.Token) -> None:
    _current.reset(token)


def install_log_record_factory() -> None:
    """Give every log record a `request_id` attribute, whichever handler ends up formatting it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_request_id", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = _current.get() or "-"
        return record

    factory.adds_request_id = True
    logging.setLogRecordFactory(factory)


class RequestIdLogFilter(logging.Filter):
    """Adds `request_id` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True


class RedactApiKeyFilter(logging.Filter):
    """Keys must never reach the logs, even when a client puts one in a URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if API_KEY_PATTERN.search(message):
            record.msg = API_KEY_PATTERN.sub("ak_[REDACTED]", message)
            record.args = ()
        return True
