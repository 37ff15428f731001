"""The asyncio client: sends what ``_protocol`` builds, over aiohttp.

Layers, each in one place: the rate limit (``_ratelimit``) and the bearer token (``_auth``)
wrap every send; retries (``_retry``) wrap a whole attempt, including the token request it
may need and the one token refresh and replay a 401 earns (one retry layer: the attempt count
is the truth). Hooks (``_hooks``) and spans (``_tracing``) see every HTTP request, redacted.
Resource namespaces (``client.webhooks``) only build requests.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Self, TypedDict, TypeVar, Unpack, overload
from urllib.parse import urlsplit

import aiohttp
import attrs
from yarl import URL

from . import _protocol as proto
from . import _tracing as tracing
from ._auth import ClientCredentials, StaticToken, TokenSource
from ._converter import structure
from ._data_retrieval import DailyStatistics, DataRetrieval, Subjects, Uploads
from ._deliveries import WebhookDelivery, structure_delivery
from ._exceptions import (
    APIError,
    CentrePointError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from ._hooks import Hook, HookEvent, HookName, check_hooks
from ._models import Study, Webhook, WebhookEvent
from ._pager import AsyncPager, Page, exchange_gate
from ._ratelimit import RateLimit, RateLimiter, expected_wait
from ._retry import RetryPolicy, is_retryable, never_reached_the_server, reason

__all__ = ["CentrePointClient", "ClientStats", "Timeout"]

log = logging.getLogger("centrepoint_async")
# a library never configures logging; this keeps Python's last-resort handler quiet
log.addHandler(logging.NullHandler())
T = TypeVar("T")
#: A request's URL as shown (:meth:`CentrePointClient._shown_url`), made on the first call.
Shown = Callable[[], str]

#: The default ``max_response_size``: far above any page (a 100-item history page is a few
#: hundred KiB) and far below what would hurt a process.
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024

#: The attempt of the call under way in this task, for the token request's hooks and logs.
_attempt_number: contextvars.ContextVar[int] = contextvars.ContextVar("attempt", default=1)


class _Default(enum.Enum):
    """Defaults made fresh for each client (a shared ``RetryPolicy`` would share its rng)."""

    RATE_LIMIT = enum.auto()
    RETRY = enum.auto()


_NEW_RATE_LIMIT = _Default.RATE_LIMIT
_NEW_RETRY = _Default.RETRY


def _optional_seconds(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None:
        proto.check_number(value, f"Timeout.{attribute.name}")


@attrs.frozen
class Timeout:
    """Time limits of one HTTP request, in seconds; ``None`` means no limit of that kind.

    ``total``: the whole request, answer read included; ``connect``: getting a connection
    (from the pool, or a new one); ``read``: the longest wait for the next bytes of an
    answer. ``timeout=30.0`` is ``Timeout(total=30.0)``.
    """

    total: float | None = attrs.field(default=30.0, validator=_optional_seconds)
    connect: float | None = attrs.field(default=None, validator=_optional_seconds)
    read: float | None = attrs.field(default=None, validator=_optional_seconds)

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        """The same limits as aiohttp's ``ClientTimeout``."""
        return aiohttp.ClientTimeout(total=self.total, connect=self.connect, sock_read=self.read)


class _Failed(Exception):
    """One HTTP request failed: the status received, if any, and the typed error to raise."""

    def __init__(self, status: int, error: CentrePointError) -> None:
        super().__init__(status)
        self.status = status
        self.error = error


class _Proxy(NamedTuple):
    """A proxy to send through (``url`` None: connect directly), and its credentials."""

    url: URL | None
    auth: aiohttp.BasicAuth | None


_NO_PROXY = _Proxy(None, None)


@attrs.frozen
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)
    token: str | None = attrs.field(repr=False)


@attrs.define
class ClientStats:
    """Counters of one client, for progress displays and summaries."""

    requests: int = 0  # HTTP requests sent: every attempt, replay and token request
    attempts: int = 0  # tries of API calls, first tries and retries alike
    retries: int = 0  # attempts after a failed one
    token_requests: int = 0
    rate_limited: int = 0  # 429 answers received
    #: Seconds during which at least one request waited for the rate limiter (its window, or
    #: a pause after a 429): wall-clock time, not summed over concurrent requests.
    rate_limit_waited: float = 0.0
    _waiting: int = attrs.field(default=0, repr=False, eq=False)
    _waiting_since: float = attrs.field(default=0.0, repr=False, eq=False)

    def _wait_started(self) -> None:
        if not self._waiting:
            self._waiting_since = time.monotonic()
        self._waiting += 1

    def _wait_ended(self) -> None:
        self._waiting -= 1
        if not self._waiting:
            self.rate_limit_waited += time.monotonic() - self._waiting_since


class CentrePointClient:
    """Asyncio client of the CentrePoint v3 API.

    Authenticate with ``client_id`` and ``client_secret`` (OAuth2 client credentials, tokens
    cached and renewed before expiry) or a fixed bearer ``token``. Use as ``async with``, or
    call :meth:`close`. A ``session`` given by the caller is used as is and never closed.

    - ``retry=None`` and ``rate_limit=None`` turn those off; ``rate_limit`` takes any
      :class:`RateLimiter` (a ``RateLimit`` shared by clients, a ``RedisRateLimit``).
    - ``timeout``: seconds for one HTTP request (a float, the total) or a :class:`Timeout`.
    - ``max_response_size``: bytes of an answer, counted after decompression; a larger one
      is a :class:`ResponseTooLargeError` (a ``DecodeError``), refused from its
      ``Content-Length`` before reading when it says so, else as soon as reading passes it.
    - ``max_connections``: the pool of the client's own session (ignored with ``session=``);
      a pager's ``concurrency`` above it waits for a free connection.
    - ``event_hooks``: ``{"request": [...], "response": [...], "retry": [...]}``, async
      callables given a redacted :class:`HookEvent` for every HTTP request.

    What a client holds (each a small namespace that builds requests; list calls return an
    :class:`AsyncPager`):

    - ``studies``: ``list()``, ``get(study_id)``.
    - ``webhook_events``: ``list()``.
    - ``webhooks``: ``list(study_id)``, ``get(study_id, webhook_id)``,
      ``history(study_id, webhook_id)`` (typed) and ``raw_history(...)`` (items as sent).
    - ``subjects``, ``uploads``: ``list(...)`` and ``get(...)``; ``daily_statistics``:
      ``list(study_id, subject_id)``.
    - ``data_retrieval``: ``request_raw``, ``request_epoch``, ``get``, ``wait``, ``notify``,
      ``files``, ``download_url``, ``download``, ``download_all``, ``fetch_raw``.
    - ``stats``: a :class:`ClientStats` (requests, retries, token requests, 429s).
    """

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        token: str | None = None,
        scopes: Iterable[str] = ("CentrePoint",),
        base_url: str = proto.DEFAULT_BASE_URL,
        auth_url: str = proto.DEFAULT_AUTH_URL,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | _Default | None = _NEW_RETRY,
        rate_limit: RateLimiter | _Default | None = _NEW_RATE_LIMIT,
        timeout: float | Timeout = 30.0,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int = 100,
        event_hooks: Mapping[str, Iterable[Hook]] | None = None,
    ) -> None:
        self.base_url = proto.check_url(base_url, "base_url")
        self.auth_url = proto.check_url(auth_url, "auth_url")
        self.scopes = tuple(scopes.split() if isinstance(scopes, str) else scopes)
        self.retry = _retry_policy(retry)
        self.rate_limit = _rate_limiter(rate_limit)
        self.timeout = _timeout(timeout)
        proto.check_number(max_response_size, "max_response_size", integer=True)
        proto.check_number(max_connections, "max_connections", integer=True)
        self.max_response_size = max_response_size
        self._max_connections = max_connections
        self._hooks = check_hooks(event_hooks)
        self._client_id = client_id
        self._client_secret = client_secret or ""
        self._auth, secrets = self._select_auth(client_id, client_secret, token)
        self._fixed_secrets = proto.secret_forms(secrets, client_id)
        self._token_secrets: tuple[str | None, list[str]] = (None, [])
        self._session = session
        self._owns_session = session is None
        self._proxies: dict[tuple[str, str], _Proxy] = {}
        self._closed = False
        self.stats = ClientStats()
        self.studies = Studies(self)
        self.webhook_events = WebhookEvents(self)
        self.webhooks = Webhooks(self)
        self.subjects = Subjects(self)
        self.uploads = Uploads(self)
        self.daily_statistics = DailyStatistics(self)
        self.data_retrieval = DataRetrieval(self)

    def _select_auth(
        self, client_id: str | None, client_secret: str | None, token: str | None
    ) -> tuple[TokenSource, list[str]]:
        """The token source for the credentials given, and the secrets to redact."""
        if token is not None:
            if client_id is not None or client_secret is not None:
                raise ConfigurationError("give either token= or client_id/client_secret, not both")
            if not isinstance(token, str) or not token:
                raise ConfigurationError("token must be a non-empty string")
            proto.check_header_value(token, "token")
            return StaticToken(token), [token]
        if not client_id or not client_secret:
            raise ConfigurationError(
                "CentrePointClient needs client_id and client_secret, or token="
            )
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            raise ConfigurationError("client_id and client_secret must be strings")
        return ClientCredentials(self._fetch_token), [client_secret, client_id]

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """A client from ``CENTREPOINT_CLIENT_ID``/``_SECRET``/``_BASE_URL``/``_AUTH_URL``.

        Keyword arguments override the environment (and pass any other option); unset
        variables leave the defaults.
        """
        names = {
            "client_id": proto.ENV_CLIENT_ID,
            "client_secret": proto.ENV_CLIENT_SECRET,
            "base_url": proto.ENV_BASE_URL,
            "auth_url": proto.ENV_AUTH_URL,
        }
        kwargs: dict[str, Any] = {
            key: os.environ[var] for key, var in names.items() if os.environ.get(var)
        }
        if "token" in overrides:  # a fixed token replaces the credentials of the environment
            kwargs.pop("client_id", None)
            kwargs.pop("client_secret", None)
        kwargs.update(overrides)
        return cls(**kwargs)

    def __repr__(self) -> str:
        # the API documents the client id, like the secret, as never to be printed
        auth = "client credentials" if self._auth.can_refresh else "fixed token"
        return f"CentrePointClient(base_url={self.base_url!r}, auth={auth!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if the client created it. Safe to call twice."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- sending -------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        """Every spelling of every secret this client knows, the current token's included."""
        current = self._auth.current if isinstance(self._auth, ClientCredentials) else None
        if current != self._token_secrets[0]:
            self._token_secrets = (current, proto.secret_forms([current] if current else []))
        return self._token_secrets[1] + self._fixed_secrets

    def _shown_url(self, request: proto.Request) -> Shown:
        """``request``'s URL as logs, errors, hooks and spans show it: no credentials, no secret.

        Made on first use, then kept: most requests are never shown.
        """
        return functools.cache(lambda: proto.safe_url(request.display_url, self._secrets()))

    def _get_session(self) -> aiohttp.ClientSession:
        """The shared aiohttp session (created on first use; for blob downloads too).

        The client's own session pools ``max_connections`` connections and goes through the
        proxy the environment names (:meth:`_proxy`).
        """
        if self._closed:
            raise ConfigurationError("this CentrePointClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections)
            )
        return self._session

    def _proxy(self, url: str) -> _Proxy:
        """The proxy for ``url`` from ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (own session).

        Read once per scheme and host (and port): aiohttp's ``trust_env=True`` reads the
        environment and ``~/.netrc`` again for every request (0.5 ms each, a third of a page's
        client time). A caller's ``session=`` keeps its own settings.
        """
        if not self._owns_session:
            return _NO_PROXY
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)  # netloc, not hostname: a field, not a parse
        found = self._proxies.get(key)
        if found is None:
            try:
                found = _Proxy(*aiohttp.helpers.get_env_proxy_for_url(URL(url)))
            except LookupError:
                found = _NO_PROXY
            self._proxies[key] = found
        return found

    def _slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        if self.rate_limit is None:
            return contextlib.nullcontext()
        return _TimedSlot(self.rate_limit.slot(), self.stats)

    async def _announce_wait(self, request: proto.Request, url: Shown, attempt: int) -> None:
        """Tell the ``wait`` hooks when ``request`` will wait for the rate limiter first."""
        if self.rate_limit is None:
            return
        seconds, why = expected_wait(self.rate_limit)
        if seconds > 0:
            event = HookEvent("wait", request.method, url(), attempt, reason=why, wait=seconds)
            await self._emit("wait", event)

    async def _emit(self, name: HookName, event: HookEvent) -> None:
        """Await the ``name`` hooks with ``event`` (callers skip making it when there are none)."""
        for hook in self._hooks[name]:
            await hook(event)

    async def _send(self, request: proto.Request, url: Shown) -> _Answer:
        """Send ``request`` once (with the bearer token unless it is the token request).

        ``url`` gives the request's URL as shown (:meth:`_shown_url`), made once per call.
        """
        session = self._get_session()
        headers = dict(request.headers)
        token = None
        if not request.is_token:
            token = await self._auth.get()
            headers["Authorization"] = f"Bearer {token}"
        attempt = _attempt_number.get()
        if self._hooks["request"]:
            await self._emit("request", HookEvent("request", request.method, url(), attempt))
        if self._hooks["wait"]:
            await self._announce_wait(request, url, attempt)
        self.stats.requests += 1
        with tracing.span(request.method, url, client=True, resend_count=attempt - 1) as span:
            started = time.monotonic()
            failure: CentrePointError | None = None
            status = 0
            try:
                status, answer_headers, body = await self._exchange(session, request, headers, url)
            except _Failed as failed:
                status, failure = failed.status, failed.error
            elapsed = time.monotonic() - started
            if status:
                span.set_attribute("http.response.status_code", status)
            if failure is not None:
                # raised here, outside the except block: the aiohttp error (whose request
                # information holds the Authorization header) is not chained as __context__,
                # and with a fresh traceback, whose frames do not hold aiohttp's response
                del headers, token
                tracing.fail(span, failure)
                if log.isEnabledFor(logging.DEBUG):
                    extra = _log_extra(request.method, url(), status, attempt, elapsed)
                    log.debug("%s %s failed: %s", request.method, url(), failure, extra=extra)
                raise failure.with_traceback(None)
            if status >= 400:
                span.set_attribute("error.type", str(status))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %d (%d bytes, %.0f ms)",
                request.method,
                url(),
                status,
                len(body),
                elapsed * 1000,
                extra=_log_extra(request.method, url(), status, attempt, elapsed),
            )
        if self._hooks["response"]:
            event = HookEvent(
                "response", request.method, url(), attempt, status=status, elapsed=elapsed
            )
            await self._emit("response", event)
        return _Answer(status, answer_headers, body, token)

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        request: proto.Request,
        headers: Mapping[str, str],
        url: Shown,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """The status, headers and body of one request; any failure as :class:`_Failed`.

        The aiohttp response (whose request information holds the Authorization header)
        lives in this frame only, which no error raised by the client keeps. A pager's
        :data:`~centrepoint_async._pager.exchange_gate`, when this task has one, is held from
        sending to the answer's last byte, before the rate limiter's slot.
        """
        status = 0
        proxy = self._proxy(request.url)
        try:
            async with (
                exchange_gate.get() or contextlib.nullcontext(),
                self._slot(),
                session.request(
                    request.method,
                    request.url,
                    params=request.params,
                    data=request.data,
                    headers=headers,
                    timeout=_aiohttp_timeout(self.timeout),
                    allow_redirects=False,
                    proxy=proxy.url,
                    proxy_auth=proxy.auth,
                ) as response,
            ):
                status = response.status
                return status, response.headers, await self._read(response, request.method, url)
        except CentrePointError as exc:
            error: CentrePointError = exc
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = self._transport_error(exc, request.method, url)
        raise _Failed(status, error)

    async def _read(self, response: aiohttp.ClientResponse, method: str, url: Shown) -> bytes:
        """The whole answer, decompressed, refused once past ``max_response_size``."""
        limit = self.max_response_size
        length = response.content_length  # parsed from the headers on every access
        if length is not None and length > limit:
            raise ResponseTooLargeError(
                f"{method} {url()} answered {response.status} with Content-Length "
                f"{length}, over max_response_size ({limit} bytes)",
                url=url(),
                status=response.status,
            )
        chunks: list[bytes] = []
        size = 0
        # the stream holds decompressed bytes: a small gzip body that inflates past the
        # limit stops here, not after it has filled memory
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLargeError(
                    f"{method} {url()} answered {response.status} with more than "
                    f"max_response_size ({limit} bytes, decompressed); reading stopped",
                    url=url(),
                    status=response.status,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _transport_error(self, exc: Exception, method: str, url: Shown) -> CentrePointError:
        """The typed, redacted error for what aiohttp raised (never chained to it)."""
        text = proto.redact(str(exc), self._secrets()) or "timed out"
        cls: type[CentrePointError]
        if isinstance(exc, aiohttp.InvalidURL) or (
            isinstance(exc, ValueError) and not isinstance(exc, aiohttp.ClientError)
        ):
            # aiohttp refuses a header value or URL it cannot send: the caller's setting
            return ConfigurationError(f"{method} {url()} cannot be sent: {text}")
        if isinstance(exc, aiohttp.ClientConnectorError):
            cls = ConnectError
        elif isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass it
            cls = RequestTimeoutError
        else:
            cls = TransportError
        return cls(f"{method} {url()} failed: {type(exc).__name__}: {text}")

    async def _attempt(self, request: proto.Request, url: Shown) -> _Answer:
        """One try: send, and on a 401 renew the token and replay once."""
        answer = await self._send(request, url)
        if answer.status == 401 and answer.token is not None and self._auth.can_refresh:
            log.debug("%s answered 401: renewing the token and replaying", request.url)
            self._auth.invalidate(answer.token)
            answer = await self._send(request, url)
        return answer

    async def _with_retry(
        self, request: proto.Request, url: Shown, decode: Callable[[_Answer], T]
    ) -> T:
        """Send ``request`` and ``decode`` its answer, retried by the policy: one API call.

        ``url`` gives the request's URL as shown (:meth:`_shown_url`).
        """
        started = time.monotonic()
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            _attempt_number.set(attempts)
            self.stats.attempts += 1
            if attempts > 1:
                self.stats.retries += 1
            answer = await self._attempt(request, url)
            try:
                return decode(answer)
            except APIError as exc:
                await self._refused(exc, started)
                raise

        async def on_retry(next_attempt: int, wait: float, exc: BaseException) -> None:
            status = exc.status if isinstance(exc, APIError | DecodeError) else None
            event = HookEvent(
                "retry", request.method, url(), next_attempt, status, reason=reason(exc), wait=wait
            )
            await self._emit("retry", event)

        with tracing.span(request.method, url, client=False) as span:
            try:
                if self.retry is None:
                    return await attempt()
                return await self.retry.call(
                    attempt,
                    what=lambda: f"{request.method} {url()}",
                    retry_if=is_retryable if request.idempotent else never_reached_the_server,
                    on_retry=on_retry,
                )
            except CentrePointError as exc:
                tracing.fail(span, exc)
                if isinstance(exc, APIError | DecodeError) and exc.status is not None:
                    span.set_attribute("http.response.status_code", exc.status)
                raise
            finally:
                span.set_attribute(tracing.RETRY_COUNT, max(0, attempts - 1))

    async def _refused(self, exc: APIError, started: float) -> None:
        """After a 429 (or a 503 with Retry-After): pause every request of the limiter."""
        if isinstance(exc, RateLimitError):
            self.stats.rate_limited += 1
            wait = proto.DEFAULT_RATE_LIMIT_WAIT if exc.retry_after is None else exc.retry_after
        elif exc.status == 503 and exc.retry_after is not None:
            wait = exc.retry_after  # the server says it is overloaded: everyone waits
        else:
            return
        if self.rate_limit is not None:
            await self.rate_limit.pause(self._pause_cap(wait, started))

    def _pause_cap(self, wait: float, started: float) -> float:
        """``wait`` capped to what is left of the retry budget (``RetryPolicy.max_delay``).

        A ``Retry-After`` of 10**9 must not hang every request sharing the limiter: nobody
        waits for an answer longer than the budget, so the limiter is paused no longer either.
        Without a retry policy the cap is the default policy's ``max_delay`` (120 s).
        """
        budget = self.retry.max_delay if self.retry is not None else _DEFAULT_MAX_DELAY
        return max(0.0, min(wait, budget - (time.monotonic() - started)))

    async def _fetch_token(self) -> proto.Token:
        """One token request, no retry loop of its own: it is a step of the API call's attempt."""
        request = proto.token_request(
            self.auth_url, self._client_id or "", self._client_secret, self.scopes
        )
        self.stats.token_requests += 1
        url = self._shown_url(request)
        answer = await self._send(request, url)
        return proto.decode_token(
            answer.status,
            answer.headers,
            answer.body,
            url(),
            self._secrets(),
            now=time.monotonic(),
        )

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET the full API ``path`` (e.g. ``/centrepoint/v3/Studies``) and return its JSON.

        An escape hatch for endpoints this SDK does not wrap yet: authenticated, retried and
        rate-limited like every call; errors are the typed ones.
        """
        return await self._request_json("GET", path, params=params)

    async def _request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        read: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Send ``method`` to the full API ``path`` (optionally a ``json`` body), return its JSON
        (or what ``read`` makes of it: a :class:`DecodeError` it raises is given the answer's
        URL and status).

        The seam resource namespaces use. A request that is not ``idempotent`` (the default
        for anything but GET) is sent again only when it surely never reached the server (a
        failed connect, a 429): a POST that starts work must not start it twice.
        """
        request = proto.api_request(
            self.base_url, path, params, method=method, json=json, idempotent=idempotent
        )
        data, status, url = await self._answer(request)
        if read is None:
            return data
        with _about(url, status):  # read after the retries: the same answer would come again
            return read(data)

    async def _answer(self, request: proto.Request) -> tuple[Any, int, Shown]:
        """``request`` sent as every call is (retried): its answer's JSON, status and URL."""
        url = self._shown_url(request)

        def decode(answer: _Answer) -> tuple[Any, int]:
            data = proto.decode_json(
                answer.status, answer.headers, answer.body, request.method, url, self._secrets()
            )
            return data, answer.status

        data, status = await self._with_retry(request, url, decode)
        return data, status, url

    async def _get_list(
        self, path: str, parse: Callable[[Any], T], params: Mapping[str, str] | None = None
    ) -> list[T]:
        """GET a full API ``path`` answered with a plain JSON array (no paging), its items
        built by ``parse``."""

        def read(data: Any) -> list[T]:
            if not isinstance(data, list):
                raise DecodeError(f"GET {path}: expected a JSON array, got {type(data).__name__}")
            return [parse(item) for item in data]

        items: list[T] = await self._request_json("GET", path, params=params, read=read)
        return items

    async def _get_model(self, path: str, cls: type[T]) -> T:
        model: T = await self._request_json("GET", path, read=_parser(cls, path))
        return model

    @overload
    def paginate(
        self,
        path: str,
        parse: None = None,
        *,
        key: Callable[[Any], Any] | None = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[Any]: ...

    @overload
    def paginate(
        self,
        path: str,
        parse: Callable[[Any], T],
        *,
        key: Callable[[T], Any] | None = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[T]: ...

    def paginate(
        self,
        path: str,
        parse: Callable[[Any], Any] | None = None,
        *,
        key: Callable[[Any], Any] | None = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[Any]:
        """An :class:`AsyncPager` over the full API list ``path``, items built by ``parse``
        (without one, the decoded JSON items as they are).

        An escape hatch for listings this SDK does not wrap yet (``limit``/``offset`` paging,
        an object with an ``items`` list); ``key`` gives the id that drops repeats across
        pages and detects a server paging in a loop; ``paging`` as for every list call.
        """

        # pages answered with another 2xx than 200, by offset: what their items' errors say
        statuses: dict[int, int] = {}

        async def fetch(page_offset: int, limit: int) -> Page[Any]:
            request = proto.api_request(self.base_url, path, proto.page_params(page_offset, limit))
            data, status, url = await self._answer(request)
            with _about(url, status):
                raw = proto.decode_page(data, "GET", path)
            if status != 200:
                statuses[page_offset] = status
                if len(statuses) > _STATUSES_KEPT:
                    del statuses[next(iter(statuses))]  # long typed: the oldest page is done
            return Page(raw.items, page_offset, limit, raw.total_count)

        def locate(error: DecodeError, page_offset: int, limit: int) -> None:
            """An item of a page refused: the error says that page's URL (made now) and status."""
            request = proto.api_request(self.base_url, path, proto.page_params(page_offset, limit))
            error.url, error.status = self._shown_url(request)(), statuses.get(page_offset, 200)

        return AsyncPager(
            fetch, parse=parse, key=key, _exchange_gated=True, _locate=locate, **paging
        )


_DEFAULT_MAX_DELAY = RetryPolicy().max_delay


class _TimedSlot:
    """A rate limiter's slot whose wait is counted in ``ClientStats.rate_limit_waited``."""

    __slots__ = ("_slot", "_stats")

    def __init__(self, slot: contextlib.AbstractAsyncContextManager[None], stats: ClientStats):
        self._slot = slot
        self._stats = stats

    async def __aenter__(self) -> None:
        self._stats._wait_started()
        try:
            await self._slot.__aenter__()
        finally:
            self._stats._wait_ended()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._slot.__aexit__(*exc_info)


#: Odd statuses a pager's client remembers (far more pages than any pager holds at once).
_STATUSES_KEPT = 1024


@contextlib.contextmanager
def _about(url: Shown, status: int) -> Iterator[None]:
    """A :class:`DecodeError` raised inside is about the answer at ``url``: it says so."""
    try:
        yield
    except DecodeError as error:
        error.url, error.status = url(), status
        raise


def _retry_policy(retry: RetryPolicy | _Default | None) -> RetryPolicy | None:
    if retry is _NEW_RETRY:
        return RetryPolicy()  # each client its own rng
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ConfigurationError("retry must be a RetryPolicy or None")
    return retry


def _rate_limiter(rate_limit: RateLimiter | _Default | None) -> RateLimiter | None:
    if rate_limit is _NEW_RATE_LIMIT:
        return RateLimit()
    if rate_limit is not None and not isinstance(rate_limit, RateLimiter):
        raise ConfigurationError(
            "rate_limit must be a RateLimit (or any RateLimiter: slot() and pause()) or None"
        )
    return rate_limit


@functools.lru_cache(maxsize=16)
def _aiohttp_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    """``timeout.to_aiohttp()``, made once per distinct ``Timeout`` (both are frozen)."""
    return timeout.to_aiohttp()


def _timeout(timeout: float | Timeout) -> Timeout:
    if isinstance(timeout, Timeout):
        return timeout
    proto.check_number(timeout, "timeout")
    return Timeout(total=float(timeout))


def _log_extra(
    method: str, shown: str, status: int, attempt: int, elapsed: float
) -> dict[str, Any]:
    """The fields of an HTTP request's debug record (made only when DEBUG is on).

    ``path`` is that of the URL as shown (redacted), like every URL a record carries.
    """
    return {
        "method": method,
        "path": urlsplit(shown).path,
        "status": status or None,
        "attempt": attempt,
        "elapsed": elapsed,
    }


def _by_id(item: Any) -> Any:
    return item.id


def raw_id(item: Any) -> Any:
    """The ``id`` of a history item as sent (decoded JSON), if it has one: its dedupe key."""
    return item.get("id") if isinstance(item, dict) else None


def _parser(cls: type[T], where: str | None = None) -> Callable[[Any], T]:
    """Build ``cls`` from one JSON value by the converter's rules (which decide what a
    non-object or an item without an id is); a failure is a :class:`DecodeError`."""

    def parse(item: Any) -> T:
        try:
            return structure(item, cls)
        except CentrePointError:
            raise
        except Exception as exc:  # the converter refused the server's JSON
            error = DecodeError(f"{where or cls.__name__}: {exc}")
        # raised outside the handler: the converter's error (which holds the item) is not
        # chained; the message says what it refused
        raise error

    return parse


class Paging(TypedDict, total=False):
    """The paging options every list call takes (see :class:`AsyncPager`)."""

    page_size: int  # 1 to MAX_PAGE_SIZE (100); default 100
    offset: int  # where the listing starts; default 0
    max_items: int | None  # stop after this many positions; default all
    concurrency: int  # pages fetched at once; default 1


class _Namespace:
    __slots__ = ("_client",)

    def __init__(self, client: CentrePointClient) -> None:
        self._client = client


class Studies(_Namespace):
    """``client.studies``: the studies the credentials can see."""

    __slots__ = ()

    def list(self, **paging: Unpack[Paging]) -> AsyncPager[Study]:
        """Every study, page by page."""
        return self._client.paginate(proto.STUDIES_PATH, _parser(Study), **paging, key=_by_id)

    async def get(self, study_id: int) -> Study:
        """One study by id."""
        return await self._client._get_model(proto.study_path(study_id), Study)


class WebhookEvents(_Namespace):
    """``client.webhook_events``: the kinds of events webhooks can subscribe to."""

    __slots__ = ()

    def list(self, **paging: Unpack[Paging]) -> AsyncPager[WebhookEvent]:
        """Every webhook event type."""
        return self._client.paginate(
            proto.WEBHOOK_EVENTS_PATH, _parser(WebhookEvent), **paging, key=_by_id
        )


class Webhooks(_Namespace):
    """``client.webhooks``: a study's webhook registrations and their delivery history."""

    __slots__ = ()

    def list(self, study_id: int, **paging: Unpack[Paging]) -> AsyncPager[Webhook]:
        """The webhooks a study is subscribed to."""
        return self._client.paginate(
            proto.webhooks_path(study_id), _parser(Webhook), **paging, key=_by_id
        )

    async def get(self, study_id: int, webhook_id: int) -> Webhook:
        """One webhook registration."""
        return await self._client._get_model(proto.webhook_path(study_id, webhook_id), Webhook)

    def history(
        self, study_id: int, webhook_id: int, **paging: Unpack[Paging]
    ) -> AsyncPager[WebhookDelivery]:
        """Every delivery attempt of a webhook, in the order the server lists them."""
        return self._client.paginate(
            proto.history_path(study_id, webhook_id), structure_delivery, **paging, key=_by_id
        )

    def raw_history(
        self, study_id: int, webhook_id: int, **paging: Unpack[Paging]
    ) -> AsyncPager[Any]:
        """The same deliveries as :meth:`history`, each exactly as the API sent it.

        Items are the decoded JSON (a dict per delivery, nothing parsed or renamed; anything
        else the server sends is passed on unchanged), for exports that must keep every byte
        of meaning. Paging, ordering, repeats dropped by ``id`` and ``resume_offset`` are those
        of :meth:`history`.
        """
        return self._client.paginate(
            proto.history_path(study_id, webhook_id), None, **paging, key=raw_id
        )
