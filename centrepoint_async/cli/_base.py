"""What every command shares: its record, its context, exit statuses, argument types.

A command is one module holding one :class:`Command`: a parser function (its arguments) and
the coroutine that runs it. ``_main.COMMANDS`` lists them; adding a command is a new module
and one line there.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Awaitable, Callable
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import attrs

from .. import _protocol as proto
from .._client import CentrePointClient
from .._exceptions import ConfigurationError
from ._display import LogHandler

if TYPE_CHECKING:
    from ..redis import RedisRateLimit

T = TypeVar("T")

__all__ = [
    "DATA",
    "INTERRUPTED",
    "OK",
    "USAGE",
    "Command",
    "Context",
    "UsageError",
    "checked",
    "client_from_env",
    "count",
    "http_url",
    "numeric_id",
    "seconds",
    "shared_rate_limit",
]

#: Exit statuses: done; a data or server problem; a usage problem; interrupted (Ctrl-C).
OK, DATA, USAGE, INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A problem with what the user typed or set: one line on stderr, exit 2."""


@attrs.define
class Context:
    """What a command is given besides its own arguments."""

    args: argparse.Namespace
    quiet: bool
    verbose: bool
    stderr: IO[str]
    log: LogHandler
    #: Said after "interrupted" when Ctrl-C stops the command (a command sets it as it runs).
    interrupted_hint: str = ""

    def say(self, text: str) -> None:
        """A line for the person at the terminal (stderr), unless ``-q``."""
        if not self.quiet:
            print(text, file=self.stderr, flush=True)

    def show_bar(self) -> bool:
        """A progress bar only on a terminal, and not with ``-q``."""
        return not self.quiet and self.stderr.isatty()


@attrs.frozen
class Command:
    """One sub-command of ``centrepoint-async``."""

    name: str
    help: str  # one line, for the list of commands
    description: str  # the command's own --help
    add_arguments: Callable[[argparse.ArgumentParser], None]  # its parser function
    run: Callable[[Context], Awaitable[int]]  # runs it; returns the exit status


# --- argument types: each raises argparse.ArgumentTypeError (exit 2, before any request) -----


def numeric_id(text: str) -> int:
    """An id given on the command line: digits only."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a numeric id, got {text!r}")
    return int(text)


def _typed(
    convert: Callable[[str], T], what: str, check: Callable[[T], object]
) -> Callable[[str], T]:
    """An argparse type: ``convert(text)``, then the library's own ``check`` of the value.

    The library's ``ConfigurationError`` message becomes argparse's, so the command line and
    the library say the same thing about the same value.
    """

    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            check(value)
        except ConfigurationError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return parse


def checked(check: Callable[[int], object]) -> Callable[[str], int]:
    """A whole number, validated by ``check`` (``proto.check_page_size``, ...)."""
    return _typed(int, "a whole number", check)


def count(name: str, *, minimum: int = 1, below: int | None = None) -> Callable[[str], int]:
    """A whole number from ``minimum`` (and under ``below``), named ``name`` in the message."""
    return checked(
        functools.partial(
            proto.check_number,
            name=name,
            minimum=minimum,
            inclusive=True,
            below=below,
            integer=True,
        )
    )


def seconds(name: str, *, positive: bool = False) -> Callable[[str], float]:
    """A finite number of seconds: 0 or more (above 0 if ``positive``)."""
    check = functools.partial(proto.check_number, name=name, minimum=0.0, inclusive=not positive)
    return _typed(float, "a number of seconds", check)


def http_url(text: str) -> str:
    """An http:// or https:// URL with a host."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return text


# --- what commands that call the API share -----------------------------------------------------


def client_from_env(**kwargs: Any) -> CentrePointClient:
    """``CentrePointClient.from_env(**kwargs)``, or a usage error naming unset credentials."""
    unset = [v for v in (proto.ENV_CLIENT_ID, proto.ENV_CLIENT_SECRET) if not os.environ.get(v)]
    if unset:
        raise UsageError(
            f"set {' and '.join(unset)} to your CentrePoint API credentials "
            f"(URLs: {proto.ENV_BASE_URL}, {proto.ENV_AUTH_URL}; default: ActiGraph's hosts)"
        )
    return CentrePointClient.from_env(**kwargs)


def shared_rate_limit(url: str | None) -> RedisRateLimit | None:
    """``--rate-limit-url``: one RedisRateLimit for every process given the same Redis URL."""
    if not url:
        return None
    try:
        from ..redis import RedisRateLimit  # the optional [redis] extra, loaded only when asked
    except ImportError:
        raise UsageError("--rate-limit-url needs: pip install 'centrepoint-async[redis]'") from None
    return RedisRateLimit(url)
