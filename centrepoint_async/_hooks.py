"""Event hooks: async callables the client awaits around every HTTP attempt (as in httpx).

``CentrePointClient(event_hooks={"request": [...], "response": [...], "retry": [...],
"wait": [...]})``. Each
hook receives one :class:`HookEvent`, already redacted: the URL has no credentials and no
secret, and no header value (the bearer token) is ever passed. A hook that raises stops the
call with its error, like httpx: hooks are the caller's code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Literal

import attrs

from ._exceptions import ConfigurationError

__all__ = ["Hook", "HookEvent", "HookName", "check_hooks"]

HookName = Literal["request", "response", "retry", "wait"]
HOOK_NAMES: tuple[HookName, ...] = ("request", "response", "retry", "wait")


@attrs.frozen
class HookEvent:
    """What a hook is told about one HTTP attempt.

    - ``name``: ``"request"`` (about to be sent), ``"response"`` (an answer came back, any
      status), ``"retry"`` (the attempt failed and another one follows after ``wait``) or
      ``"wait"`` (the request waits for the rate limiter before it is sent: ``reason`` is
      ``"rate limit"`` or ``"Retry-After"``, a pause after a 429 or 503; ``wait`` the
      seconds it waits at least).
    - ``method``, ``url``: the request; the URL without credentials and with secrets removed.
    - ``attempt``: 1 for the first try of a call, 2 for its first retry, ...
    - ``status``: the HTTP status, when an answer was received.
    - ``elapsed``: seconds from sending to the end of the answer (``"response"`` only).
    - ``reason``: why a retry follows (``status 503``, ``ConnectError: ...``), or why a request
      waits (``"wait"``).
    - ``wait``: seconds before the next attempt (``"retry"``), or before the request may be
      sent (``"wait"``, a lower bound).
    """

    name: HookName
    method: str
    url: str
    attempt: int
    status: int | None = None
    elapsed: float | None = None
    reason: str | None = None
    wait: float | None = None


Hook = Callable[[HookEvent], Awaitable[None]]


def check_hooks(hooks: Mapping[str, Iterable[Hook]] | None) -> dict[HookName, tuple[Hook, ...]]:
    """The hooks by name, checked: known names only, each hook callable."""
    checked: dict[HookName, tuple[Hook, ...]] = dict.fromkeys(HOOK_NAMES, ())
    if hooks is None:
        return checked
    if not isinstance(hooks, Mapping):
        raise ConfigurationError("event_hooks must be a mapping of hook name to a list of hooks")
    for name, given in hooks.items():
        if name not in HOOK_NAMES:
            raise ConfigurationError(
                f"unknown event hook {name!r}; expected one of {', '.join(HOOK_NAMES)}"
            )
        listed = tuple(given)
        if not all(callable(hook) for hook in listed):
            raise ConfigurationError(f"every {name!r} hook must be an async callable")
        checked[name] = listed
    return checked
