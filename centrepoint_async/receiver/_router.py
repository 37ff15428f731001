"""The router: handlers by event name or class, run in order, and the hooks told of a failure.

It knows nothing of HTTP or of inboxes (as gidgethub's ``routing.Router``): the receiver hands
it an :class:`InboundEvent` and it runs what was registered for it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .._events import EVENT_TYPES, event_name
from .._exceptions import ConfigurationError
from .._models import Event
from ._parse import InboundEvent

__all__ = ["ErrorHook", "Handler", "Router"]

log = logging.getLogger("centrepoint_async.receiver")

#: An event handler: an async callable taking the :class:`InboundEvent`.
Handler = Callable[[InboundEvent[Any]], Awaitable[None]]
#: An ``on_error`` hook: an async callable taking the event and the exception its handler raised.
ErrorHook = Callable[[InboundEvent[Any], Exception], Awaitable[None]]


class Router:
    """Handlers registered by event name (normalised), event class, or for every event."""

    def __init__(self) -> None:
        self._routes: list[tuple[str | None, type[Event] | None, Handler]] = []
        self._error_hooks: list[ErrorHook] = []

    def names(self) -> list[str]:
        """The event names with handlers (``None``, every event, as ``'None'``), sorted."""
        return sorted({str(key) for key, _, _ in self._routes})

    def add(self, name: str | type[Any] | None) -> Callable[[Handler], Handler]:
        """A decorator registering a handler for ``name`` (see ``WebhookReceiver.on``)."""
        cls: type[Event] | None = None
        if isinstance(name, type):
            names = [key for key, value in EVENT_TYPES.items() if value is name]
            if not names:
                raise ConfigurationError(f"{name.__name__} is not an event class with a name")
            cls, key = name, names[0]
        elif name is None:
            key = None
        elif isinstance(name, str) and event_name(name):
            key = event_name(name)
        else:
            raise ConfigurationError(f"on() takes an event name or class, got {name!r}")

        def register(handler: Handler) -> Handler:
            _check_callable(handler, "a handler")
            self._routes.append((key, cls, handler))
            return handler

        return register

    def add_error_hook(self, hook: ErrorHook) -> ErrorHook:
        """Register ``hook`` to be told of every handler failure (see ``WebhookReceiver``)."""
        _check_callable(hook, "an on_error hook")
        self._error_hooks.append(hook)
        return hook

    def handlers_for(self, event: InboundEvent[Any]) -> list[Handler]:
        """The handlers ``event`` runs, in the order they were registered.

        A handler registered by class runs only when the payload is of that class (a body that
        did not fit is an ``UnknownEvent``: it reaches the name and catch-all handlers).
        """
        return [
            handler
            for key, cls, handler in self._routes
            if (key is None or key == event.name)
            and (cls is None or isinstance(event.payload, cls))
        ]

    def has_handlers(self, name: str) -> bool:
        """Whether any handler may run for the (normalised) event ``name``."""
        return any(key is None or key == name for key, _, _ in self._routes)

    async def dispatch(self, event: InboundEvent[Any]) -> None:
        """Run the handlers of ``event`` in order; the first that raises stops the others."""
        handlers = self.handlers_for(event)
        if not handlers:  # only typed handlers, and a body that does not fit their class
            log.warning(
                "%s delivery %r does not fit its event class: no handler ran (payload %s)",
                event.name,
                event.delivery_id,
                type(event.payload).__name__,  # never the body's content
            )
        for handler in handlers:
            await handler(event)

    async def report(self, event: InboundEvent[Any], error: Exception) -> None:
        """Tell every ``on_error`` hook; a hook that fails is logged, never raised."""
        for hook in self._error_hooks:
            try:
                await hook(event, error)
            except Exception:
                log.exception("on_error hook %r failed for delivery %r", hook, event.delivery_id)


def _check_callable(value: object, what: str) -> None:
    if not callable(value):
        raise ConfigurationError(f"{what} must be an async callable, got {value!r}")
