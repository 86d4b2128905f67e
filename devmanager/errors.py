"""Domain errors: what a service refuses, in the domain's words. The API maps each to the contract's error body in
one place (devmanager.api.exceptions), the admin shows its message, a command its text; no service raises HTTP."""


class DomainError(Exception):
    """A write the domain refuses; `message` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The object to change does not exist (any more)."""


class Conflict(DomainError):
    """The object's state forbids the change: a duplicate, a final state, a failed JSON Patch test."""


class Gone(DomainError):
    """What the change names no longer exists in kept history (an event pruned from the feed)."""


class PreconditionFailed(DomainError):
    """`If-Match` names another version of the object than the current one."""

    def __init__(self, message: str = "If-Match does not match the current ETag."):
        super().__init__(message)


class Invalid(DomainError):
    """The input cannot apply, found only by the domain (a parent that does not exist, a patch that copies too much);
    `fields` maps each field at fault to its messages, nested as the input is (`{"patches": {2: ["..."]}}`)."""

    def __init__(self, fields: dict):
        super().__init__("; ".join(_messages(fields)))
        self.fields = fields


def _messages(fields) -> list[str]:
    if isinstance(fields, dict):
        return [message for value in fields.values() for message in _messages(value)]
    if isinstance(fields, list):
        return [message for value in fields for message in _messages(value)]
    return [str(fields)]


class AccessDenied(DomainError):
    """The caller may not make this change (a restricted key placing a device in a DMS outside its own); `field`
    names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
