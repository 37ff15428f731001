"""The CentrePoint v3 protocol, with no I/O of its own.

Like gidgethub's ``sansio``, this module only builds requests and reads answers: it turns
``(status, headers, body)`` into decoded JSON, a token, a page, or the right typed error.
The aiohttp client in ``_client`` sends what is built here and hands back what it received.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import attrs
import orjson
from multidict import CIMultiDict

from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    DecodeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

DEFAULT_BASE_URL = "https://api.actigraphcorp.com"
DEFAULT_AUTH_URL = "https://auth.actigraphcorp.com"
#: Path prefixes of the three APIs on ``base_url``; every path builder returns a full path.
CENTREPOINT_PREFIX = "/centrepoint/v3"
DATA_RETRIEVAL_PREFIX = "/dataretrieval/v3"
ANALYTICS_PREFIX = "/analytics/v3"
TOKEN_PATH = "/connect/token"  # noqa: S105 (a path, not a password)
USER_AGENT = "centrepoint-async/0.1"
MAX_PAGE_SIZE = 100

#: Environment variables the command line (and ``FakeCentrePoint.env()``) use.
ENV_CLIENT_ID = "CENTREPOINT_CLIENT_ID"
ENV_CLIENT_SECRET = "CENTREPOINT_CLIENT_SECRET"  # noqa: S105 (a variable's name)
ENV_BASE_URL = "CENTREPOINT_BASE_URL"
ENV_AUTH_URL = "CENTREPOINT_AUTH_URL"

#: Statuses worth another try: the request may succeed unchanged a moment later.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_ERRORS_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


@attrs.frozen
class Request:
    """One HTTP request, ready to send. ``params`` and ``data`` never hold a bearer token."""

    method: str
    url: str
    params: Mapping[str, str] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    data: bytes | None = attrs.field(default=None, repr=False)  # token form: holds the secret
    is_token: bool = False  # the token request: no bearer, form body
    #: Safe to send again after any failure (GET, the token request, a POST the caller marked
    #: idempotent). A request that is not is retried only when it surely never reached the
    #: server: a failed connect, or a 429 (refused before it was handled).
    idempotent: bool = True

    @property
    def display_url(self) -> str:
        """The URL with its query, as logs and errors show it."""
        return f"{self.url}?{urlencode(self.params)}" if self.params else self.url


@attrs.frozen
class Token:
    """An access token and when it stops being valid (``time.monotonic()`` seconds)."""

    access_token: str = attrs.field(repr=False)
    expires_at: float
    token_type: str = "Bearer"  # noqa: S105 (a scheme, not a password)


@attrs.frozen
class RawPage:
    """One decoded page of a listing, items still JSON."""

    items: list[Any]
    offset: int
    limit: int
    total_count: int | None


# --- building requests ---------------------------------------------------------------------


def check_url(url: str, name: str) -> str:
    """Return ``url`` without a trailing slash, or raise ``ConfigurationError``.

    Only ``https://`` is accepted, except ``http://`` to a loopback host (127.0.0.0/8,
    ``localhost``, ``::1``) so tests and the fake server work and nothing leaks over plain HTTP.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an absolute https:// URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"{name} uses plain http:// to a non-loopback host ({parts.hostname}); "
            "CentrePoint needs https:// (plain HTTP would expose the credentials)"
        )
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_id(value: object, name: str) -> int:
    """Return ``value`` as a positive ``int`` id, or raise ``ConfigurationError``.

    Digit strings are accepted (ids come from CSV files and command lines); anything else
    would put arbitrary text into a URL path.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ConfigurationError(f"{name} must be a non-negative integer id, got {value!r}")


def check_page_size(page_size: object) -> int:
    """Return ``page_size`` if it is an int in 1..100, else raise ``ConfigurationError``."""
    if (
        isinstance(page_size, int)
        and not isinstance(page_size, bool)
        and 1 <= page_size <= MAX_PAGE_SIZE
    ):
        return page_size
    raise ConfigurationError(f"page_size must be an integer from 1 to 100, got {page_size!r}")


def api_request(
    base_url: str,
    path: str,
    params: Mapping[str, str] | None = None,
    *,
    method: str = "GET",
    json: Any = None,
    idempotent: bool | None = None,
) -> Request:
    """A request of the full API ``path`` (``/centrepoint/v3/...``) on ``base_url``.

    With ``json``, the body is that value as JSON. ``idempotent`` defaults to true for GET
    and false otherwise (a POST that creates something must not be repeated blindly).
    """
    if not path.startswith("/"):
        raise ConfigurationError(f"an API path starts with '/', got {path!r}")
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    data = None
    if json is not None:
        headers["Content-Type"] = "application/json"
        data = orjson.dumps(json)
    return Request(
        method,
        f"{base_url}{path}",
        params=dict(params or {}),
        headers=headers,
        data=data,
        idempotent=method == "GET" if idempotent is None else idempotent,
    )


def page_params(offset: int, limit: int) -> dict[str, str]:
    """The query of one page: ``limit`` (1..100) and zero-based ``offset``."""
    return {"limit": str(limit), "offset": str(offset)}


def token_request(
    auth_url: str, client_id: str, client_secret: str, scopes: Iterable[str]
) -> Request:
    """The OAuth2 client-credentials token request (form-encoded, scopes space-separated)."""
    form = urlencode(
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
            "scope": " ".join(scopes),
        }
    )
    return Request(
        "POST",
        f"{auth_url}{TOKEN_PATH}",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        },
        data=form.encode(),
        is_token=True,
    )


# --- reading answers -----------------------------------------------------------------------


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def body_text(body: bytes, secrets: Sequence[str] = ()) -> str:
    """The body as text for an error message: decoded leniently, scrubbed, and short."""
    return redact(body[:4096].decode("utf-8", errors="replace"), secrets)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date), or ``None``.

    Negative, non-finite or unreadable values give ``None``; a date in the past gives 0.
    ``now`` is a Unix time, for tests.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # RFC 9110: HTTP dates are GMT
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    method: str,
    url: str,
    secrets: Sequence[str] = (),
) -> APIError:
    """The typed error for a non-2xx answer."""
    text = body_text(body, secrets)
    if status == 429:
        retry_after = parse_retry_after(CIMultiDict(headers).get("Retry-After"))
        return RateLimitError(status, method, url, text, retry_after=retry_after)
    cls = _ERRORS_BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    return cls(status, method, url, text)


def decode_json(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    method: str,
    url: str,
    secrets: Sequence[str] = (),
) -> Any:
    """The decoded JSON of a 2xx answer; a typed error for anything else."""
    if not 200 <= status < 300:
        raise error_for_status(status, headers, body, method, url, secrets)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DecodeError(
            f"{method} {url} answered {status} with a body that is not JSON",
            body=body_text(body, secrets),
        ) from None


def decode_token(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    url: str,
    secrets: Sequence[str],
    *,
    now: float,
) -> Token:
    """A :class:`Token` from the token endpoint's answer.

    A refusal (400/401/403) is an :class:`AuthenticationError` naming the OAuth2 ``error`` the
    server gave, never the credentials sent.
    """
    if status in (400, 401, 403):
        cause = _oauth_error(body) or f"status {status}"
        raise AuthenticationError(
            status, "POST", url, redact(f"token request refused: {cause}", secrets)
        )
    data = decode_json(status, headers, body, "POST", url, secrets)
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise DecodeError(f"POST {url}: the token answer has no access_token")
    expires_in = data.get("expires_in", 3600)
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        lifetime = 3600.0
    if not math.isfinite(lifetime) or lifetime <= 0:
        lifetime = 3600.0
    token_type = data.get("token_type")
    return Token(
        token,
        expires_at=now + lifetime,
        token_type=token_type if isinstance(token_type, str) else "Bearer",
    )


def _oauth_error(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    parts = [str(data[k]) for k in ("error", "error_description") if data.get(k)]
    return ": ".join(parts) or None


def decode_page(data: Any, method: str, url: str, offset: int, limit: int) -> RawPage:
    """A :class:`RawPage` from a decoded list answer.

    Only ``items`` is required. ``links`` is ignored (the public documents show it empty or
    pointing at another path); ``offset``/``limit`` default to what was asked;
    ``totalCount`` is kept as a hint only, because it can be wrong both ways.
    """
    if not isinstance(data, dict):
        raise DecodeError(f"{method} {url}: expected a page object, got {type(data).__name__}")
    items = data.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise DecodeError(f"{method} {url}: 'items' is not a list")
    total = data.get("totalCount")
    return RawPage(
        items=items,
        offset=offset,
        limit=limit,
        total_count=total if isinstance(total, int) and not isinstance(total, bool) else None,
    )


# --- paths -----------------------------------------------------------------------------------


STUDIES_PATH = f"{CENTREPOINT_PREFIX}/Studies"
WEBHOOK_EVENTS_PATH = f"{CENTREPOINT_PREFIX}/WebhookEvents"


def study_path(study_id: object) -> str:
    """``/centrepoint/v3/Studies/{studyId}``."""
    return f"{STUDIES_PATH}/{check_id(study_id, 'study_id')}"


def webhooks_path(study_id: object) -> str:
    """``/centrepoint/v3/Studies/{studyId}/Webhooks``."""
    return f"{study_path(study_id)}/Webhooks"


def webhook_path(study_id: object, webhook_id: object) -> str:
    """``/centrepoint/v3/Studies/{studyId}/Webhooks/{webhookId}``."""
    return f"{webhooks_path(study_id)}/{check_id(webhook_id, 'webhook_id')}"


def history_path(study_id: object, webhook_id: object) -> str:
    """``/centrepoint/v3/Studies/{studyId}/Webhooks/{webhookId}/history``."""
    return f"{webhook_path(study_id, webhook_id)}/history"
