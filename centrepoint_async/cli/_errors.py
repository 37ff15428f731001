"""How the command line states an error: one line a person can act on, and its exit status.

- No note meant for programs (``resume_offset=0``): a command that can continue says how
  (``--resume``) in a note of its own (``exc.add_note``), printed at the end of the line.
- A connection that failed on DNS or TLS says so and names the host and what to check,
  instead of aiohttp's class names and bracketed errno text.
"""

from __future__ import annotations

from .. import _protocol as proto
from .._exceptions import (
    CentrePointError,
    ConfigurationError,
    ConnectError,
    OutputExistsError,
    OutputPathError,
)
from ._base import DATA, USAGE, UsageError

__all__ = ["error_line", "status_of"]


def _plain(exc: CentrePointError) -> str:
    """The error's own message, with the number of attempts but no note meant for programs."""
    text = Exception.__str__(exc)
    if exc.attempts is not None and exc.attempts > 1:
        text += f" (after {exc.attempts} attempts)"
    return text


def _connect_problem(exc: ConnectError) -> str | None:
    """'cannot find host X (DNS) ...' or 'TLS with X failed: ...', if the error says which."""
    text = Exception.__str__(exc)
    variable = proto.ENV_AUTH_URL if proto.TOKEN_PATH in text else proto.ENV_BASE_URL
    attempts = f" (after {exc.attempts} attempts)" if exc.attempts and exc.attempts > 1 else ""
    if exc.kind == "dns":
        return (
            f"cannot find host {exc.host} (DNS lookup failed){attempts}: check "
            f"{variable} and the network"
        )
    if exc.kind == "tls":
        return (
            f"TLS with {exc.host}:{exc.port} failed: {exc.detail}{attempts}: check "
            f"{variable}, the system's CA certificates (SSL_CERT_FILE) or a proxy in between"
        )
    return None


def error_line(exc: BaseException) -> str:
    """The one line printed for ``exc``, its notes (``exc.add_note``) at the end."""
    if isinstance(exc, ConnectError):
        text = _connect_problem(exc) or _plain(exc)
    elif isinstance(exc, CentrePointError):
        text = _plain(exc)
    else:
        text = str(exc)
    notes = "".join(f" ({note})" for note in getattr(exc, "__notes__", ()))
    return f"centrepoint-async: error: {text}{notes}"


def status_of(exc: BaseException) -> int:
    """2 for what the user typed or set; 1 for a data or server problem."""
    usage = (UsageError, ConfigurationError, OutputExistsError, OutputPathError)
    return USAGE if isinstance(exc, usage) else DATA
