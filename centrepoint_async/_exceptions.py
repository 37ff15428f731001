"""Errors raised by centrepoint-async.

Every error the SDK raises on purpose derives from :class:`CentrePointError`::

    CentrePointError
    ├── ConfigurationError (also a ValueError)   bad arguments, refused URLs
    ├── TransportError                            no answer (retries spent)
    │   ├── ConnectError                          the connection could not be made
    │   ├── RequestTimeoutError                   no (complete) answer in time
    │   └── RedisUnavailableError                 Redis did not answer (extra ``[redis]``)
    ├── DecodeError(url, status)                  an answer that is not the JSON the call expects
    │   └── ResponseTooLargeError                 an answer over ``max_response_size``
    ├── PaginationError                           a server that pages in a loop
    ├── DownloadError                             a data file not downloaded whole and right
    ├── DataRetrievalError(tracking_id)           a data retrieval request failed or timed out
    ├── ExportError(path)                         an export cannot start or continue
    │   ├── OutputLockedError(holder)             another export writes the same file
    │   ├── OutputExistsError                     the output (or its part) exists already
    │   ├── OutputPathError                       the output cannot be written there
    │   ├── NothingToResumeError                  resume=True, but the export is complete
    │   └── CheckpointError                       the checkpoint cannot be trusted
    │       └── HistoryChangedError               the last item written is gone
    ├── ReceiverAuthError (alias SignatureError)  receiving side: bad or missing credentials
    └── APIError(status, method, url, body)       any other non-2xx answer
        ├── BadRequestError        400
        ├── AuthenticationError    401 (and a failed token request)
        ├── PermissionDeniedError  403
        ├── NotFoundError          404
        ├── RateLimitError         429
        └── ServerError            5xx

Errors raised out of a pager carry ``resume_offset``; errors raised after retries carry
``attempts``; an :class:`APIError` carries the server's ``retry_after`` (seconds) when it sent
``Retry-After``. No message, ``repr``, ``args`` or ``__context__`` chain ever holds a client
secret or a bearer token: bodies are scrubbed by the protocol (every encoding of a secret) and
cut to :data:`BODY_EXCERPT` characters before they get here, and no aiohttp object (whose
request information holds the ``Authorization`` header) is ever chained.
"""

from __future__ import annotations

from pathlib import Path

#: Characters of an answer's body kept in an error: enough for the server's message, small
#: enough for a log line. The protocol scrubs a larger window first (see ``body_text``) so a
#: secret that straddles the cut is still replaced whole.
BODY_EXCERPT = 500


class CentrePointError(Exception):
    """Base class of every error raised by centrepoint-async."""

    #: Offset of the first item not yet yielded, when raised out of a pager.
    resume_offset: int | None = None
    #: How many attempts were made, when raised after retrying.
    attempts: int | None = None

    def __str__(self) -> str:
        text = super().__str__()
        notes = []
        if self.attempts is not None and self.attempts > 1:
            notes.append(f"after {self.attempts} attempts")
        if self.resume_offset is not None:
            notes.append(f"resume_offset={self.resume_offset}")
        return f"{text} ({', '.join(notes)})" if notes else text


class ConfigurationError(CentrePointError, ValueError):
    """An argument or setting is invalid; raised before any request is sent."""


class TransportError(CentrePointError):
    """The request did not get an answer: connection failure, reset, or timeout."""


class ConnectError(TransportError):
    """The connection could not be made (refused, DNS, TLS): the server never saw the request.

    ``kind`` says what failed, when known: ``"dns"`` (no such host, or no network), ``"tls"``
    (the handshake or the certificate; ``detail`` says why) or ``"refused"``; ``host`` and
    ``port`` name the server.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        host: str | None = None,
        port: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.host = host
        self.port = port
        self.detail = detail

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, vars(self)))


class RequestTimeoutError(TransportError):
    """No complete answer within the timeout (connect, read or total)."""


class RedisUnavailableError(TransportError):
    """Redis did not answer within the timeout, or refused the connection.

    Raised by ``centrepoint_async.redis`` (extra ``[redis]``): the limiter lets nothing through
    then, and the receiver answers 503 (CentrePoint resends).
    """


class DecodeError(CentrePointError):
    """The answer is not the JSON document the call expects.

    ``url`` (credentials removed) and ``status`` say which answer, when one was received.
    """

    def __init__(
        self, message: str, *, body: str = "", url: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.body = body[:BODY_EXCERPT]
        self.url = url
        self.status = status

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, vars(self)))


class ResponseTooLargeError(DecodeError):
    """The answer (decompressed) is larger than the client's ``max_response_size``.

    Not retried: the same request would get the same answer. Reading stopped at the cap.
    """


def _rebuild(
    cls: type[CentrePointError], args: tuple[object, ...], state: dict[str, object]
) -> CentrePointError:
    error = cls.__new__(cls)
    error.args = args
    vars(error).update(state)
    return error


class PaginationError(CentrePointError):
    """The server pages in a loop: a full page ends with items yielded long before, or full
    pages bring nothing new 16 times in a row (see :class:`AsyncPager`)."""


class ReceiverAuthError(CentrePointError):
    """An inbound webhook's HMAC signature, Basic or Bearer credentials are missing or wrong."""


#: The 0.1 name of :class:`ReceiverAuthError` (it was raised for Basic and Bearer too).
SignatureError = ReceiverAuthError


class APIError(CentrePointError):
    """The API answered with a non-success status."""

    def __init__(
        self,
        status: int,
        method: str,
        url: str,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.body = body[:BODY_EXCERPT]
        #: Seconds the server asked to wait (``Retry-After``), if it said.
        self.retry_after = retry_after
        detail = f": {self.body}" if self.body else ""
        super().__init__(f"{method} {url} answered {status}{detail}")

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, vars(self)))


class BadRequestError(APIError):
    """400: the request is invalid; the caller must change it."""


class AuthenticationError(APIError):
    """401, or the token endpoint refused the credentials."""


class PermissionDeniedError(APIError):
    """403: the credentials lack a scope, or plain HTTP was used.

    ``scope`` is the OAuth scope the call needs (``CentrePoint``, ``DataAccess``,
    ``Analytics`` or ``DataRetrieval``), when known; the message names it.
    """

    #: The scope the refused call needs, when known.
    scope: str | None = None

    def add_note_about_scope(self, scope: str | None, granted: tuple[str, ...] | None) -> None:
        """Name the scope the call needs (and whether the client asked for it) in the message."""
        if scope is None:
            return
        self.scope = scope
        if granted is not None and scope not in granted:
            note = f"this call needs the scope {scope!r}, not in the client's scopes={granted!r}"
        else:
            note = f"this call needs the scope {scope!r}: the credentials may not be granted it"
        self.args = (f"{self.args[0]} ({note})", *self.args[1:])


class NotFoundError(APIError):
    """404: no such study, webhook or path."""


class RateLimitError(APIError):
    """429: over 500 requests a minute; ``retry_after`` is the wait the server asked for."""


class ServerError(APIError):
    """5xx: the server failed."""


# --- errors of the jobs built on the API: downloads, data retrieval, exports ----------------


class DownloadError(CentrePointError):
    """A data file could not be downloaded whole and right (tries spent, too slow, refused)."""


class DataRetrievalError(CentrePointError):
    """A data retrieval request ended in ``error``, or did not finish in time."""

    def __init__(self, message: str, tracking_id: str | None = None) -> None:
        super().__init__(message)
        self.tracking_id = tracking_id


class ExportError(CentrePointError):
    """An export cannot start or continue; nothing was written to the output (see subclasses)."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class OutputLockedError(ExportError):
    """Another export is writing the same output file now; ``holder`` names it."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is being written by another export ({holder})", path=path)
        self.holder = holder


class OutputExistsError(ExportError):
    """The output, or an interrupted export's part or checkpoint, exists already.

    Pass ``resume=True`` to continue an interrupted export or ``overwrite=True`` to start over.
    """


class OutputPathError(ExportError):
    """The output cannot be written where it was asked for (a directory, no such folder)."""


class NothingToResumeError(ExportError):
    """``resume=True``, but the export is complete already."""


class CheckpointError(ExportError):
    """The checkpoint is unreadable, belongs to another job, or does not match the part file."""


class HistoryChangedError(CheckpointError):
    """The last item written before the interruption is no longer in the server's history."""
