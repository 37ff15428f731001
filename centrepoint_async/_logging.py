"""``CENTREPOINT_LOG``: the library's log records on stderr, without a line of code.

As ``OPENAI_LOG`` and ``STRIPE_LOG``: ``CENTREPOINT_LOG=debug`` (every request, its status and
time) or ``info`` (the receiver's decisions, data retrieval waits), also ``warning`` and
``error``, any case. When ``centrepoint_async`` is imported with it set, one handler writing to
``sys.stderr`` is added to the ``centrepoint_async`` logger (the receiver's records included)
and the logger's level is set. Unset or empty, nothing is configured and the library stays
silent unless the program sets up logging itself. An unknown value is said once, on stderr.

The command line has its own handler: while it runs, :func:`detached` takes this one off so
that no line is written twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import IO

__all__ = ["ENV_LOG", "LOGGER", "detached", "env_level", "setup_from_env"]

ENV_LOG = "CENTREPOINT_LOG"
LOGGER = "centrepoint_async"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler[IO[str]]):
    """Writes to whatever ``sys.stderr`` is when a record comes (tests and tools replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # handle() holds the handler's lock around emit()
        super().emit(record)


_installed: list[logging.Handler] = []  # the handler setup_from_env added, if any


def env_level(value: str | None = None) -> int | None:
    """The level ``CENTREPOINT_LOG`` (or ``value``) asks for; None when unset or unknown."""
    text = os.environ.get(ENV_LOG, "") if value is None else value
    return _LEVELS.get(text.strip().lower())


def setup_from_env() -> logging.Handler | None:
    """Add the stderr handler ``CENTREPOINT_LOG`` asks for (once); returns it, or None."""
    text = os.environ.get(ENV_LOG, "").strip()
    if not text:
        return None
    level = env_level(text)
    if level is None:
        known = ", ".join(_LEVELS)
        sys.stderr.write(f"centrepoint_async: {ENV_LOG}={text!r} is not one of {known}; ignored\n")
        return None
    if not _installed:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        logging.getLogger(LOGGER).addHandler(handler)
        _installed.append(handler)
    logging.getLogger(LOGGER).setLevel(level)
    return _installed[0]


@contextlib.contextmanager
def detached() -> Iterator[None]:
    """Take the ``CENTREPOINT_LOG`` handler off the logger for the block (the CLI's own
    handler writes every line meanwhile)."""
    logger = logging.getLogger(LOGGER)
    for handler in _installed:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        for handler in _installed:
            logger.addHandler(handler)


setup_from_env()
