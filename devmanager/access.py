"""Which devices the running code may see and change (contract, section 10): every device, or those of some DMSs.

A request's API key decides it once, when the key authenticates (`devmanager.api.authentication`), and every device
query of that request honours it through the device manager (`devices.models.DeviceManager.get_queryset`), whatever
view, service, filter or app above asks: one place, so that an endpoint added later cannot forget it. Outside a
request (the admin's staff, the commands, the worker) nothing is restricted unless the code says so with
`restricted_to`, as the worker does for a job that a restricted key started.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import models

from .errors import AccessDenied

_visible: ContextVar[frozenset[str] | None] = ContextVar("visible_dms", default=None)


def visible_dms() -> frozenset[str] | None:
    """The DMSs whose devices the running code may see; None: every device."""
    return _visible.get()


def restrict(dms: Iterable[str] | None) -> None:
    """Restrict the rest of the running request (`DeviceScopeMiddleware` lifts it when the request ends)."""
    _visible.set(None if dms is None else frozenset(dms))


@contextmanager
def restricted_to(dms: Iterable[str] | None) -> Iterator[None]:
    """Restrict the code in the block to the devices of `dms` (None: every device)."""
    token = _visible.set(None if dms is None else frozenset(dms))
    try:
        yield
    finally:
        _visible.reset(token)


def check_dms_allowed(dms_id: str, field: str = "dms_id") -> None:
    """Refuse to put a device in a DMS the running code may not see: a restricted key creates and moves devices only
    within its DMSs."""
    visible = visible_dms()
    if visible is not None and dms_id not in visible:
        raise AccessDenied(field, f"The API key may not place devices in the DMS {dms_id!r}.")


def visible_dms_list() -> list[str] | None:
    """The running restriction as stored on what it creates (a job, a webhook): its DMSs sorted, or None."""
    visible = visible_dms()
    return None if visible is None else sorted(visible)


class RestrictedQuerySet(models.QuerySet):
    """A queryset confined to what the running code may see: `restriction(dms)` says how, for its model. The manager
    confines each new queryset; a queryset made before the restriction began (a view's class attribute, made at
    import) is confined when used under it, since every filter, slice, `all()` or `get()` chains."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._confined_to = None  # the DMSs the query is confined to; None: none yet

    def restriction(self, dms: list[str]) -> models.Q:
        raise NotImplementedError

    def _clone(self):
        clone = super()._clone()
        clone._confined_to = self._confined_to
        return clone

    def _chain(self):
        return super()._chain()._confined()

    def _confined(self):
        """Confine the query, in place, to the DMSs the running code may see, unless it is already."""
        visible = visible_dms()
        if visible is None or visible == self._confined_to:
            return self
        if self.query.is_sliced or self.query.combinator:
            raise RuntimeError("A sliced or combined query made unrestricted is used under a restriction.")
        self.query.add_q(self.restriction(sorted(visible)))
        self._confined_to = visible
        return self


class RestrictedManager(models.Manager):
    """The manager of a model whose rows a restricted key sees only some of (its queryset a RestrictedQuerySet)."""

    def get_queryset(self):
        return super().get_queryset()._confined()


class CreatedWithinQuerySet(RestrictedQuerySet):
    """What a key creates that acts on devices (fleet jobs, webhooks), stored with the creator's DMSs in `dms`: a
    restricted key sees only what was created under the same DMSs."""

    def restriction(self, dms: list[str]) -> models.Q:
        return models.Q(dms=dms)
