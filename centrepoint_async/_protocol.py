"""The CentrePoint v3 protocol, with no I/O of its own.

Like gidgethub's ``sansio``, this module only builds requests and reads answers: it turns
``(status, headers, body)`` into decoded JSON, a token, a page, or the right typed error.
The aiohttp client in ``_client`` sends what is built here and hands back what it received.
"""

from __future__ import annotations

import base64
import ipaddress
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import attrs
import orjson
from multidict import CIMultiDict

from ._exceptions import (
    BODY_EXCERPT,
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
from ._version import USER_AGENT

DEFAULT_BASE_URL = "https://api.actigraphcorp.com"
DEFAULT_AUTH_URL = "https://auth.actigraphcorp.com"
#: Path prefixes of the four API families on ``base_url``, and the OAuth scope each needs.
CENTREPOINT_PREFIX = "/centrepoint/v3"
DATA_ACCESS_PREFIX = "/dataaccess/v3"
ANALYTICS_PREFIX = "/analytics/v3"
DATA_RETRIEVAL_PREFIX = "/dataretrieval/v3"
SCOPES_BY_PREFIX = {
    CENTREPOINT_PREFIX: "CentrePoint",
    DATA_ACCESS_PREFIX: "DataAccess",
    ANALYTICS_PREFIX: "Analytics",
    DATA_RETRIEVAL_PREFIX: "DataRetrieval",
}
SCOPES = tuple(SCOPES_BY_PREFIX.values())
TOKEN_PATH = "/connect/token"  # noqa: S105 (a path, not a password)
#: The largest ``limit`` a list endpoint accepts (the documented "1 to 100").
MAX_PAGE_SIZE = 100

#: Environment variables the command line (and ``FakeCentrePoint.env()``) use.
ENV_CLIENT_ID = "CENTREPOINT_CLIENT_ID"
ENV_CLIENT_SECRET = "CENTREPOINT_CLIENT_SECRET"  # noqa: S105 (a variable's name)
ENV_BASE_URL = "CENTREPOINT_BASE_URL"
ENV_AUTH_URL = "CENTREPOINT_AUTH_URL"

#: Seconds a 429 without a (readable) ``Retry-After`` pauses the rate limiter.
DEFAULT_RATE_LIMIT_WAIT = 1.0

#: Statuses worth another try: the request may succeed unchanged a moment later.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_ERRORS_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


#: A query: a mapping, or pairs (a name may repeat).
Params = Mapping[str, str] | Iterable[tuple[str, str]] | None


def _pairs(params: Params) -> tuple[tuple[str, str], ...]:
    if not params:
        return ()
    items = params.items() if isinstance(params, Mapping) else params
    return tuple((str(name), str(value)) for name, value in items)


@attrs.frozen
class Request:
    """One HTTP request, ready to send. ``params`` and ``data`` never hold a bearer token."""

    method: str
    url: str
    #: The query, in order; a name may repeat (``ids=a&ids=b``).
    params: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
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


@attrs.frozen
class RawPage:
    """One decoded page of a listing, items still JSON."""

    items: list[Any]
    total_count: int | None


# --- building requests ---------------------------------------------------------------------


def check_url(url: str, name: str) -> str:
    """Return ``url`` without a trailing slash, or raise ``ConfigurationError``.

    Only ``https://`` is accepted, except ``http://`` to a loopback host (127.0.0.0/8,
    ``localhost``, ``::1``) so tests and the fake server work and nothing leaks over plain HTTP.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"{name} must be a string URL, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise ConfigurationError(f"{name} is not a valid URL: {strip_credentials(url)!r}") from None
    if parts.username is not None or parts.password is not None:
        # aiohttp would send them as Basic auth beside the bearer token (and refuse to): and a
        # password in a URL ends up in logs
        raise ConfigurationError(
            f"{name} must not hold credentials (user:password@), got {strip_credentials(url)!r}"
        )
    if parts.scheme not in ("http", "https") or not hostname:
        raise ConfigurationError(f"{name} must be an absolute https:// URL, got {url!r}")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise ConfigurationError(f"{name} must not contain spaces or control characters")
    if parts.scheme == "http" and not is_loopback(hostname):
        raise ConfigurationError(
            f"{name} uses plain http:// to a non-loopback host ({hostname}); "
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
    """Return ``page_size`` if it is an int in 1..MAX_PAGE_SIZE, else ``ConfigurationError``."""
    if (
        isinstance(page_size, int)
        and not isinstance(page_size, bool)
        and 1 <= page_size <= MAX_PAGE_SIZE
    ):
        return page_size
    raise ConfigurationError(
        f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}"
    )


def check_number(
    value: object,
    name: str,
    *,
    minimum: float = 0.0,
    inclusive: bool = False,
    below: float | None = None,
    integer: bool = False,
) -> None:
    """Raise ``ConfigurationError`` unless ``value`` is a finite number in the range asked.

    The range is ``value > minimum`` (``>=`` with ``inclusive``), and ``value < below`` when
    given; ``integer`` asks for an ``int``. Booleans are never numbers here. The one checker
    behind every numeric option (``RetryPolicy``, ``RateLimit``, pagers, timeouts, the
    receiver and its inboxes).
    """
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    ok = (
        isinstance(value, kinds)
        and not isinstance(value, bool)
        and math.isfinite(value)  # type: ignore[arg-type]
        and (value >= minimum if inclusive else value > minimum)  # type: ignore[operator]
        and (below is None or value < below)  # type: ignore[operator]
    )
    if not ok:
        kind = "an integer" if integer else "a number"
        bound = f"{'>=' if inclusive else '>'} {minimum:g}"
        if below is not None:
            bound += f" and < {below:g}"
        raise ConfigurationError(f"{name} must be {kind} {bound}, got {value!r}")


def check_count(value: int, name: str, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (a count: concurrency, offset)."""
    check_number(value, name, minimum=minimum, inclusive=True, integer=True)
    return value


def check_scopes(scopes: Iterable[str] | None) -> tuple[str, ...] | None:
    """``scopes`` as a tuple (a string is split on spaces), or ``None`` for one per call."""
    if scopes is None:
        return None
    listed = tuple(scopes.split() if isinstance(scopes, str) else scopes)
    if not listed or not all(isinstance(s, str) and s and s.isprintable() for s in listed):
        raise ConfigurationError(f"scopes must be non-empty names such as {SCOPES}, got {scopes!r}")
    return listed


def scope_of(url: str, base_url: str) -> str | None:
    """The OAuth scope a request of ``url`` on ``base_url`` needs (``None``: not an API path)."""
    if not url.startswith(base_url):
        return None
    path = url[len(base_url) :].lower()
    for prefix, scope in SCOPES_BY_PREFIX.items():
        if path.startswith(prefix + "/") or path == prefix:
            return scope
    return None


def check_header_value(value: str, name: str) -> str:
    """Return ``value`` if it can be sent in an HTTP header, else raise ``ConfigurationError``.

    CR, LF and other control characters would split or corrupt the header (aiohttp refuses
    them with a bare ``ValueError``). The message never shows the value: it may be a secret.
    """
    if not value.isprintable() or not value.isascii():
        raise ConfigurationError(f"{name} holds characters that cannot be sent in a header")
    return value


def api_request(
    base_url: str,
    path: str,
    params: Params = None,
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
        params=params,
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


def secret_forms(secrets: Iterable[str], client_id: str | None = None) -> list[str]:
    """Every spelling of ``secrets`` an answer or an error text may echo, longest first.

    Raw, URL-encoded (form style with ``+`` and path style with ``%20``), and base64 of
    ``client_id:secret`` (HTTP Basic). Longest first, so a longer form is replaced before a
    shorter one inside it. Values shorter than :data:`MIN_SECRET_LENGTH` are skipped: they
    protect nothing and would star out every occurrence of a letter or two.
    """
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        forms.update((secret, quote_plus(secret), quote(secret, safe="")))
        if client_id:
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            forms.update((basic, quote_plus(basic)))
    return sorted(forms, key=len, reverse=True)


#: Shorter values are not treated as secrets by :func:`secret_forms` (see there).
MIN_SECRET_LENGTH = 4


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every non-empty secret (as given: see :func:`secret_forms`) as ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


_UNREADABLE_URL = "<unreadable URL>"


def strip_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _UNREADABLE_URL
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


#: Query parameters whose values are masked in any URL shown (pre-signed blob URLs, tokens).
_SECRET_PARAMETER = re.compile(r"(?i)token|secret|password|passwd|key|sig|signature|code|auth")


def safe_url(url: str, secrets: Sequence[str] = ()) -> str:
    """``url`` as logs, errors, hooks and spans show it.

    No ``user:password@``, the values of query parameters that look secret (``sig``,
    ``token``, ``key``, ...) as ``***``, and every one of ``secrets`` removed.
    """
    url = strip_credentials(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # pragma: no cover (strip_credentials already answered for it)
        return _UNREADABLE_URL
    if parts.query:
        pairs = [
            (name, "***" if _SECRET_PARAMETER.search(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        url = urlunsplit(parts._replace(query=urlencode(pairs, safe="*")))
    return redact(url, secrets)


def body_text(body: bytes, secrets: Sequence[str] = ()) -> str:
    """The body as text for an error message: decoded leniently, scrubbed, and short.

    A window longer than :data:`BODY_EXCERPT` by the longest secret is scrubbed before the
    cut, so a secret straddling the cut is replaced whole, never left half visible.
    """
    longest = max((len(s) for s in secrets), default=0)
    # 4 bytes per character at most in UTF-8, 6 per character escaped in JSON (\u002B): this
    # many bytes hold the characters needed
    window = body[: 6 * (BODY_EXCERPT + longest)].decode("utf-8", errors="replace")
    return redact(json_unescaped(window), secrets)[:BODY_EXCERPT]


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\([/\\\"])")


def json_unescaped(text: str) -> str:
    """``text`` with JSON string escapes resolved (``\\u002B`` is ``+``, ``\\/`` is ``/``).

    A server (.NET escapes ``+`` and ``/``) may echo a secret in any escaping: the escapes are
    undone before secrets are looked for, so every spelling is found.
    """
    if "\\" not in text:
        return text
    return _JSON_ESCAPE.sub(lambda m: chr(int(m[1], 16)) if m[1] else m[2], text)


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
    retry_after = parse_retry_after(CIMultiDict(headers).get("Retry-After"))
    cls = _ERRORS_BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    return cls(status, method, url, text, retry_after)


def decode_json(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    method: str,
    url: str | Callable[[], str],
    secrets: Sequence[str] = (),
) -> Any:
    """The decoded JSON of a 2xx answer; a typed error for anything else.

    ``url`` is the URL errors show, or a function giving it (called only for an error).
    """
    if 200 <= status < 300:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # raised below, outside the handler: nothing to chain
    shown = url if isinstance(url, str) else url()
    if not 200 <= status < 300:
        raise error_for_status(status, headers, body, method, shown, secrets)
    raise DecodeError(
        f"{method} {shown} answered {status} with a body that is not JSON",
        body=body_text(body, secrets),
        url=shown,
        status=status,
    )


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
        hint = _TOKEN_HINTS.get(cause.split(":")[0].strip(), "")
        raise AuthenticationError(
            status, "POST", url, redact(f"token request refused: {cause}{hint}", secrets)
        )
    data = decode_json(status, headers, body, "POST", url, secrets)
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise DecodeError(
            f"POST {url}: the token answer has no access_token", url=url, status=status
        )
    if not (token.isascii() and token.isprintable()):
        raise DecodeError(
            f"POST {url}: the access_token holds characters that cannot be sent in a header",
            url=url,
            status=status,
        )
    expires_in = data.get("expires_in", 3600)
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        lifetime = 3600.0
    if not math.isfinite(lifetime) or lifetime <= 0:
        lifetime = 3600.0
    return Token(token, expires_at=now + lifetime)


#: What a person can do about the token endpoint's refusals (IdentityServer's error codes).
_TOKEN_HINTS = {
    "invalid_client": (
        f" (check the client id and secret: client_id/client_secret, or {ENV_CLIENT_ID} and "
        f"{ENV_CLIENT_SECRET})"
    ),
    "invalid_scope": " (the credentials are not granted a scope asked for: see scopes=)",
    "unauthorized_client": " (the credentials may not use the client-credentials grant)",
}


def _oauth_error(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    parts = [str(data[k]) for k in ("error", "error_description") if data.get(k)]
    return ": ".join(parts) or None


def decode_page(data: Any, method: str, url: str, status: int = 200) -> RawPage:
    """A :class:`RawPage` from a decoded list answer.

    Only ``items`` is required, and it must be a list: a page without one (or with
    ``"items": null``) is a :class:`DecodeError`, never an empty page that would end the
    listing silently. ``links`` is ignored (the public documents show it empty or pointing at
    another path); ``totalCount`` is kept as a hint only, because it can be wrong both ways.
    """
    if not isinstance(data, dict):
        raise DecodeError(
            f"{method} {url}: expected a page object, got {type(data).__name__}",
            url=url,
            status=status,
        )
    items = data.get("items")
    if not isinstance(items, list):
        raise DecodeError(
            f"{method} {url}: the page has no 'items' list (got {type(items).__name__})",
            url=url,
            status=status,
        )
    total = data.get("totalCount")
    return RawPage(
        items=items,
        total_count=total if isinstance(total, int) and not isinstance(total, bool) else None,
    )
