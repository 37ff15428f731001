"""What every command shares: its record, its context, exit statuses, argument types.

A command is one module holding one :class:`Command`: a parser function (its arguments) and
the coroutine that runs it. ``_main.COMMANDS`` lists them; adding a command is a new module
and one line there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import attrs

from .. import _protocol as proto
from .._client import CentrePointClient
from .._exceptions import (
    CentrePointError,
    CheckpointError,
    ConfigurationError,
    ExportError,
    NothingToResumeError,
    OutputExistsError,
)
from .._ratelimit import RateLimit
from ._display import ExportDisplay, LogHandler

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
    "add_rate_limit_url",
    "add_resume_or_force",
    "checked",
    "client_from_env",
    "count",
    "http_url",
    "next_steps",
    "numeric_id",
    "run_export",
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


def day_or_time(text: str) -> date | datetime:
    """``YYYY-MM-DD`` (a day), or an ISO 8601 time: with ``Z`` or an offset it is UTC, without
    one the subject's local time (as the API reads it)."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date (YYYY-MM-DD) or an ISO 8601 time, got {text!r}"
        ) from None


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


def add_rate_limit_url(parser: argparse.ArgumentParser) -> None:
    """``--rate-limit-url``: see :func:`shared_rate_limit`."""
    parser.add_argument(
        "--rate-limit-url",
        metavar="REDIS_URL",
        help="share one rate limit with every process given this Redis URL "
        "(redis://host:6379/0; needs centrepoint-async[redis])",
    )


# --- what commands that export to a file share ---------------------------------------------------

#: Said after an export stopped by an error or Ctrl-C, when it left something to resume.
RESUME_HINT = "the same command with --resume continues it"


def add_resume_or_force(parser: argparse.ArgumentParser) -> None:
    """``--resume`` or ``--force``, for an export to ``FILE``."""
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="continue an interrupted export of the same FILE"
    )
    again.add_argument("--force", action="store_true", help="start over, replacing FILE")


@contextlib.contextmanager
def next_steps(ctx: Context, part: Path | None) -> Iterator[None]:
    """What to do next, added to an export's error (a note) or to its interruption (the
    context's hint): ``--resume`` when ``part`` (the export's part file) is there to resume,
    ``--force`` for an output or a checkpoint in the way."""
    try:
        yield
    except asyncio.CancelledError:
        if part is not None and part.exists():
            ctx.interrupted_hint = f" ({RESUME_HINT})"
        raise
    except OutputExistsError as exc:
        exc.add_note("--resume continues it, --force starts over")
        raise
    except CheckpointError as exc:
        exc.add_note("--force starts over")
        raise
    except CentrePointError as exc:
        if not isinstance(exc, ExportError) and part is not None and part.exists():
            exc.add_note(RESUME_HINT)
        raise


async def run_export(
    ctx: Context,
    description: str,
    export: Callable[[CentrePointClient, ExportDisplay], Awaitable[T]],
    *,
    unit: str = " deliveries",
) -> tuple[T, CentrePointClient, float] | None:
    """Run ``export(client, display)`` with a client from the environment, the rate limit
    ``--rate-limit-url`` asks for (else the client's own) and a progress bar counting
    ``unit``; its result, the client (for its stats) and the seconds it took. None when
    ``--resume`` found the export complete (said on stderr: nothing to do is no error)."""
    shared = shared_rate_limit(ctx.args.rate_limit_url)
    display = ExportDisplay(
        description, enabled=ctx.show_bar(), stream=ctx.stderr, handler=ctx.log, unit=unit
    )
    client = client_from_env(rate_limit=shared or RateLimit(), event_hooks=display.hooks())
    started = time.monotonic()
    try:
        async with shared or contextlib.nullcontext(), client, display:
            result = await export(client, display)
    except NothingToResumeError as exc:
        ctx.say(f"centrepoint-async: {exc}")
        return None
    return result, client, time.monotonic() - started
