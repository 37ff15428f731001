"""Errors raised by centrepoint-async.

Every error the SDK raises on purpose derives from :class:`CentrePointError`::

    CentrePointError
    ├── ConfigurationError (also a ValueError)   bad arguments, refused URLs
    ├── TransportError                            connection failures, timeouts (retries spent)
    ├── DecodeError                               an answer that is not the JSON the call expects
    ├── PaginationError                           a server that pages in a loop
    ├── ReceiverAuthError (alias SignatureError)  receiving side: bad or missing credentials
    └── APIError(status, method, url, body)       any other non-2xx answer
        ├── BadRequestError        400
        ├── AuthenticationError    401 (and a failed token request)
        ├── PermissionDeniedError  403
        ├── NotFoundError          404
        ├── RateLimitError         429, with ``retry_after``
        └── ServerError            5xx

Errors raised out of a pager carry ``resume_offset``; errors raised after retries carry
``attempts``. No message or ``repr`` ever holds a client secret or a bearer token: bodies are
cut to :data:`BODY_EXCERPT` characters and scrubbed by the client before they get here.
"""

from __future__ import annotations

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


class DecodeError(CentrePointError):
    """The answer is not the JSON document the call expects."""

    def __init__(self, message: str, *, body: str = "") -> None:
        super().__init__(message)
        self.body = body[:BODY_EXCERPT]


class PaginationError(CentrePointError):
    """The server answered a new offset with the very page it had just sent (an endless loop)."""


class ReceiverAuthError(CentrePointError):
    """An inbound webhook's HMAC signature, Basic or Bearer credentials are missing or wrong."""


#: The 0.1 name of :class:`ReceiverAuthError` (it was raised for Basic and Bearer too).
SignatureError = ReceiverAuthError


class APIError(CentrePointError):
    """The API answered with a non-success status."""

    def __init__(self, status: int, method: str, url: str, body: str = "") -> None:
        self.status = status
        self.method = method
        self.url = url
        self.body = body[:BODY_EXCERPT]
        detail = f": {self.body}" if self.body else ""
        super().__init__(f"{method} {url} answered {status}{detail}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.status, self.method, self.url, self.body))


class BadRequestError(APIError):
    """400: the request is invalid; the caller must change it."""


class AuthenticationError(APIError):
    """401, or the token endpoint refused the credentials."""


class PermissionDeniedError(APIError):
    """403: the credentials lack a scope, or plain HTTP was used."""


class NotFoundError(APIError):
    """404: no such study, webhook or path."""


class RateLimitError(APIError):
    """429: over 500 requests a minute; ``retry_after`` is the wait the server asked for."""

    def __init__(
        self,
        status: int,
        method: str,
        url: str,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, method, url, body)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.status, self.method, self.url, self.body, self.retry_after))


class ServerError(APIError):
    """5xx: the server failed."""
