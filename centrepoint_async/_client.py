"""The asyncio client: a façade that composes the layers around one transport.

One API call is: the retry policy (``_retry``) around attempts; an attempt is one HTTP
exchange, plus one token renewal and replay when the answer is 401; an exchange takes the
bearer token of the call's scope (``_auth``), a place of the rate limiter (``_ratelimit``),
tells the hooks (``_hooks``) and the spans (``_tracing``), and hands the request to the
transport (``_transport``), which only sends it. What is sent and how answers read is the
protocol's (``_protocol``); which endpoint is which, the declarations' (``_endpoints``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal, Self, TypeVar, Unpack, overload
from urllib.parse import urlsplit

import aiohttp
import attrs
from yarl import URL

from . import _protocol as proto
from . import _tracing as tracing
from ._auth import Tokens
from ._data_retrieval import DataRetrieval
from ._exceptions import (
    APIError,
    CentrePointError,
    ConfigurationError,
    DecodeError,
    PermissionDeniedError,
    RateLimitError,
)
from ._hooks import Hook, HookEvent, HookName, check_hooks
from ._namespaces import (
    ActivityMonitors,
    Analytics,
    Assignments,
    DailyStatistics,
    DataAccess,
    Milestones,
    Sites,
    Studies,
    Subjects,
    Uploads,
    WebhookEvents,
    Webhooks,
    raw_id,
)
from ._pager import AsyncPager, Page, Paging
from ._ratelimit import RateLimit, RateLimiter, expected_wait
from ._retry import RetryPolicy, is_retryable, never_reached_the_server, reason, testing
from ._transport import (
    DEFAULT_MAX_RESPONSE_SIZE,
    AiohttpTransport,
    Answer,
    Timeout,
    Transport,
)

__all__ = ["CentrePointClient", "ClientStats", "Paging", "raw_id"]

log = logging.getLogger("centrepoint_async")
# a library never configures logging; this keeps Python's last-resort handler quiet
log.addHandler(logging.NullHandler())
T = TypeVar("T")
#: A request's URL as shown (:meth:`CentrePointClient._shown_url`), made on the first call.
Shown = Callable[[], str]
Default = Literal["default"]


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
    call :meth:`close`.

    - ``scopes``: ``None`` (the default) asks for each call's own scope (``CentrePoint``,
      ``DataAccess``, ``Analytics``, ``DataRetrieval``, from its path), one token per scope;
      a list asks for exactly those scopes in one token.
    - ``session``: an aiohttp session of the caller's, used as is and never closed.
      ``transport``: a :class:`Transport` instead of the network (a ``MockTransport`` in
      tests); not with ``session``.
    - ``retry=None`` and ``rate_limit=None`` turn those off; ``rate_limit`` takes any
      :class:`RateLimiter` (a ``RateLimit`` shared by clients, a ``RedisRateLimit``).
    - ``timeout``: seconds for one HTTP request (a float, the total) or a :class:`Timeout`.
    - ``max_response_size``: bytes of an answer, counted after decompression; a larger one
      is a :class:`ResponseTooLargeError`. ``max_connections``: the pool of the client's own
      session; a pager's ``concurrency`` above it waits for a free connection.
    - ``event_hooks``: ``{"request": [...], "response": [...], "retry": [...], "wait": [...]}``,
      async callables given a redacted :class:`HookEvent`.

    What a client holds: one namespace per area of the API (``studies``, ``sites``,
    ``subjects``, ``activity_monitors``, ``assignments``, ``milestones``, ``uploads``,
    ``webhook_events``, ``webhooks``, ``analytics``, ``daily_statistics``, ``data_access``,
    ``data_retrieval``; list calls return an :class:`AsyncPager`), and ``stats``, a
    :class:`ClientStats`.
    """

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        token: str | None = None,
        scopes: Iterable[str] | None = None,
        base_url: str = proto.DEFAULT_BASE_URL,
        auth_url: str = proto.DEFAULT_AUTH_URL,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        retry: RetryPolicy | Default | None = "default",
        rate_limit: RateLimiter | Default | None = "default",
        timeout: float | Timeout = 30.0,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int = 100,
        event_hooks: Mapping[str, Iterable[Hook]] | None = None,
    ) -> None:
        self.base_url = proto.check_url(base_url, "base_url")
        self.auth_url = proto.check_url(auth_url, "auth_url")
        self.scopes = proto.check_scopes(scopes)
        self.retry = _retry_policy(retry)
        self.rate_limit = _rate_limiter(rate_limit)
        self.transport = _transport(transport, session, timeout, max_response_size, max_connections)
        self._hooks = check_hooks(event_hooks)
        self._client_id = client_id
        self._client_secret = client_secret or ""
        self._tokens = self._select_auth(client_id, client_secret, token)
        self.stats = ClientStats()
        self.studies = Studies(self)
        self.sites = Sites(self)
        self.subjects = Subjects(self)
        self.activity_monitors = ActivityMonitors(self)
        self.assignments = Assignments(self)
        self.milestones = Milestones(self)
        self.uploads = Uploads(self)
        self.webhook_events = WebhookEvents(self)
        self.webhooks = Webhooks(self)
        self.analytics = Analytics(self)
        self.daily_statistics = DailyStatistics(self)
        self.data_access = DataAccess(self)
        self.data_retrieval = DataRetrieval(self)

    def _select_auth(
        self, client_id: str | None, client_secret: str | None, token: str | None
    ) -> Tokens:
        """The token sources for the credentials given."""
        if token is not None:
            if client_id is not None or client_secret is not None:
                raise ConfigurationError("give either token= or client_id/client_secret, not both")
            if not isinstance(token, str) or not token:
                raise ConfigurationError("token must be a non-empty string")
            proto.check_header_value(token, "token")
            return Tokens.fixed(token)
        if not client_id or not client_secret:
            raise ConfigurationError(
                "CentrePointClient needs client_id and client_secret, or token="
            )
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            raise ConfigurationError("client_id and client_secret must be strings")
        return Tokens.credentials(self._fetch_token, client_id, client_secret, self.scopes)

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """A client from ``CENTREPOINT_CLIENT_ID``/``_SECRET``/``_BASE_URL``/``_AUTH_URL``.

        Keyword arguments override the environment (and pass any other option); unset
        variables leave the defaults. A missing credential is a :class:`ConfigurationError`
        naming the variables read and those not set.
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
        if "token" not in kwargs and not (kwargs.get("client_id") and kwargs.get("client_secret")):
            read = [var for key, var in names.items() if os.environ.get(var)]
            unset = [names[k] for k in ("client_id", "client_secret") if not kwargs.get(k)]
            raise ConfigurationError(
                "CentrePointClient.from_env(): "
                + (f"read {', '.join(read)}; " if read else "no CENTREPOINT_* variable set; ")
                + f"{' and '.join(unset)} not set (or pass client_id=/client_secret= or token=)"
            )
        return cls(**kwargs)

    def __repr__(self) -> str:
        # the API documents the client id, like the secret, as never to be printed
        auth = "client credentials" if self._tokens.can_refresh else "fixed token"
        return f"CentrePointClient(base_url={self.base_url!r}, auth={auth!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the transport (the HTTP session, if the client made it). Safe to call twice."""
        await self.transport.aclose()

    # --- what errors, logs and hooks show ----------------------------------------------------

    def _secrets(self) -> list[str]:
        """Every spelling of every secret this client knows, current tokens included."""
        return self._tokens.secrets()

    def _shown_url(self, request: proto.Request) -> Shown:
        """``request``'s URL as logs, errors, hooks and spans show it: no credentials, no secret.

        Made on first use, then kept: most requests are never shown.
        """
        return functools.cache(lambda: proto.safe_url(request.display_url, self._secrets()))

    async def _emit(self, name: HookName, event: HookEvent) -> None:
        """Await the ``name`` hooks with ``event`` (callers skip making it when there are none)."""
        for hook in self._hooks[name]:
            await hook(event)

    # --- one HTTP exchange -------------------------------------------------------------------

    async def _exchange(
        self, request: proto.Request, url: Shown, attempt: int, bearer: str | None
    ) -> Answer:
        """Send ``request`` once through the limiter and the transport (with ``bearer``)."""
        if bearer is not None:
            request = attrs.evolve(request, headers={**request.headers, "Authorization": bearer})
        if self._hooks["request"]:
            await self._emit("request", HookEvent("request", request.method, url(), attempt))
        if self._hooks["wait"] and self.rate_limit is not None:
            seconds, why = expected_wait(self.rate_limit)
            if seconds > 0:
                event = HookEvent("wait", request.method, url(), attempt, reason=why, wait=seconds)
                await self._emit("wait", event)
        self.stats.requests += 1
        with tracing.span(request.method, url, client=True, resend_count=attempt - 1) as span:
            started = time.monotonic()
            failure: CentrePointError | None = None
            try:
                async with self._slot():
                    answer = await self.transport.send(request)
            except CentrePointError as exc:
                failure = self._shown_error(exc, request, url)
            if failure is not None:
                # raised here, outside the except block: the transport's error (whose frames
                # may hold aiohttp's response and its request headers) is not chained
                tracing.fail(span, failure)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s", failure)
                raise failure
            elapsed = time.monotonic() - started
            span.set_attribute("http.response.status_code", answer.status)
            if answer.status >= 400:
                span.set_attribute("error.type", str(answer.status))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %d (%d bytes, %.0f ms)",
                request.method,
                url(),
                answer.status,
                len(answer.body),
                elapsed * 1000,
                extra=_log_extra(request.method, url(), answer.status, attempt, elapsed),
            )
        if self._hooks["response"]:
            event = HookEvent(
                "response", request.method, url(), attempt, status=answer.status, elapsed=elapsed
            )
            await self._emit("response", event)
        return answer

    def _slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        if self.rate_limit is None:
            return contextlib.nullcontext()
        return _TimedSlot(self.rate_limit.slot(), self.stats)

    def _shown_error(
        self, exc: CentrePointError, request: proto.Request, url: Shown
    ) -> CentrePointError:
        """The transport's error, told with the method and the URL as shown, secrets removed."""
        text = proto.redact(str(exc), self._secrets())
        if isinstance(exc, DecodeError):
            return type(exc)(f"{request.method} {url()} {text}", url=url(), status=exc.status)
        message = f"{request.method} {url()} failed: {text}"
        if request.is_token:
            message += self._auth_hint()
        error = type(exc)(message)
        for name, value in vars(exc).items():  # what the transport said of it (host, kind)
            setattr(error, name, value)
        return error

    def _auth_hint(self) -> str:
        """A hint when the token host is the default while the API host is not."""
        if self.auth_url == proto.DEFAULT_AUTH_URL and self.base_url != proto.DEFAULT_BASE_URL:
            return (
                f" (tokens are asked of {self.auth_url}, the default: set auth_url= or "
                f"{proto.ENV_AUTH_URL} when base_url points elsewhere)"
            )
        return ""

    # --- one API call: attempts, the 401 replay, retries -------------------------------------

    async def _attempt(self, request: proto.Request, url: Shown, attempt: int) -> Answer:
        """One try: send with the scope's token; on a 401 renew the token and replay once."""
        if request.is_token:  # the token request itself: no bearer
            return await self._exchange(request, url, attempt, None)
        source = self._tokens.source(proto.scope_of(request.url, self.base_url))
        bearer = f"Bearer {await source.get(attempt)}"
        answer = await self._exchange(request, url, attempt, bearer)
        if answer.status == 401 and source.can_refresh:
            log.debug("%s answered 401: renewing the token and replaying", url())
            source.invalidate(bearer.removeprefix("Bearer "))
            bearer = f"Bearer {await source.get(attempt)}"
            answer = await self._exchange(request, url, attempt, bearer)
        return answer

    async def _call(self, request: proto.Request, decode: Callable[[Answer], T]) -> T:
        """Send ``request`` and ``decode`` its answer, retried by the policy: one API call."""
        url = self._shown_url(request)
        started = time.monotonic()
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            self.stats.attempts += 1
            if attempts > 1:
                self.stats.retries += 1
            answer = await self._attempt(request, url, attempts)
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
        if self.rate_limit is not None and not testing():  # set_testing(): no wait at all
            await self.rate_limit.pause(self._pause_cap(wait, started))

    def _pause_cap(self, wait: float, started: float) -> float:
        """``wait`` capped to what is left of the retry budget (``RetryPolicy.max_delay``).

        A ``Retry-After`` of 10**9 must not hang every request sharing the limiter: nobody
        waits for an answer longer than the budget, so the limiter is paused no longer either.
        """
        budget = (self.retry or RetryPolicy()).max_delay
        return max(0.0, min(wait, budget - (time.monotonic() - started)))

    async def _fetch_token(self, scopes: tuple[str, ...], attempt: int) -> proto.Token:
        """One token request: a step of the API call's attempt, no retry loop of its own."""
        request = proto.token_request(
            self.auth_url, self._client_id or "", self._client_secret, scopes
        )
        self.stats.token_requests += 1
        url = self._shown_url(request)
        answer = await self._attempt(request, url, attempt)
        return proto.decode_token(
            answer.status,
            answer.headers,
            answer.body,
            url(),
            self._secrets(),
            now=time.monotonic(),
        )

    def _decoder(self, request: proto.Request, url: Shown) -> Callable[[Answer], tuple[Any, int]]:
        """The JSON of a 2xx answer and its status; the typed error for any other."""
        scope = proto.scope_of(request.url, self.base_url)

        def decode(answer: Answer) -> tuple[Any, int]:
            try:
                data = proto.decode_json(
                    answer.status, answer.headers, answer.body, request.method, url, self._secrets()
                )
            except PermissionDeniedError as exc:
                exc.add_note_about_scope(scope, self.scopes)
                raise
            return data, answer.status

        return decode

    # --- the storage host (data files): a session without the API's credentials --------------

    def _network(self) -> AiohttpTransport:
        if not isinstance(self.transport, AiohttpTransport):
            raise ConfigurationError(
                "downloads from the storage host need the network transport (not transport=)"
            )
        return self.transport

    def storage_session(self) -> aiohttp.ClientSession:
        """The aiohttp session downloads use: the client's own (or the caller's ``session=``).

        It carries no credentials: the bearer token is added to API requests only, and never
        goes to the storage host.
        """
        return self._network().session

    def storage_proxy(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy to reach ``url`` through (from the environment, for the client's own
        session; none for a caller's)."""
        return self._network().proxy_for(url)

    # --- the seams the declarations use (and escape hatches for endpoints not wrapped) -------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: proto.Params = None,
        json: Any = None,
        idempotent: bool | None = None,
        read: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Send one API call to the full ``path`` (``/centrepoint/v3/...``) and return its JSON,
        or what ``read`` makes of it.

        Authenticated with the scope the path needs, rate-limited and retried like every call;
        errors are the typed ones, and a :class:`DecodeError` that ``read`` raises is told the
        answer's URL and status. A request that is not ``idempotent`` (the default for anything
        but GET) is sent again only when it surely never reached the server (a failed connect,
        a 429): a POST that creates something must not create it twice.
        """
        request = proto.api_request(
            self.base_url, path, params, method=method, json=json, idempotent=idempotent
        )
        url = self._shown_url(request)
        data, status = await self._call(request, self._decoder(request, url))
        if read is None:
            return data
        with _about(url, status):  # read after the retries: the same answer would come again
            return read(data)

    async def get_json(self, path: str, params: proto.Params = None) -> Any:
        """GET the full API ``path`` and return its JSON (see :meth:`request`)."""
        return await self.request("GET", path, params=params)

    @overload
    def paginate(
        self,
        path: str,
        parse: None = None,
        *,
        key: Callable[[Any], Any] | None = None,
        params: proto.Params = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[Any]: ...

    @overload
    def paginate(
        self,
        path: str,
        parse: Callable[[Any], T],
        *,
        key: Callable[[T], Any] | None = None,
        params: proto.Params = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[T]: ...

    def paginate(
        self,
        path: str,
        parse: Callable[[Any], Any] | None = None,
        *,
        key: Callable[[Any], Any] | None = None,
        params: proto.Params = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[Any]:
        """An :class:`AsyncPager` over the full API list ``path``, items built by ``parse``
        (without one, the decoded JSON items as they are).

        ``key`` gives an item's id, which anchors pages and drops repeats (see
        :class:`AsyncPager`); ``params`` are the listing's filters; ``paging`` as for every
        list call. A :class:`DecodeError` that ``parse`` raises names the page's URL.
        """
        filters = dict(params or {})

        async def fetch(page_offset: int, limit: int) -> Page[Any]:
            query = {**filters, **proto.page_params(page_offset, limit)}
            request = proto.api_request(self.base_url, path, query)
            url = self._shown_url(request)
            data, status = await self._call(request, self._decoder(request, url))
            with _about(url, status):
                raw = proto.decode_page(data, "GET", path)
                items = raw.items if parse is None else [parse(item) for item in raw.items]
            return Page(items, page_offset, limit, raw.total_count)

        return AsyncPager(fetch, key=key, **paging)


class _TimedSlot:
    """A rate limiter's slot whose wait is counted in ``ClientStats.rate_limit_waited``."""

    __slots__ = ("_slot", "_stats")

    def __init__(
        self, slot: contextlib.AbstractAsyncContextManager[None], stats: ClientStats
    ) -> None:
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


@contextlib.contextmanager
def _about(url: Shown, status: int) -> Iterator[None]:
    """A :class:`DecodeError` raised inside is about the answer at ``url``: it says so."""
    try:
        yield
    except DecodeError as error:
        error.url, error.status = url(), status
        raise


def _retry_policy(retry: RetryPolicy | Default | None) -> RetryPolicy | None:
    if retry == "default":
        return RetryPolicy()  # each client its own rng
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ConfigurationError("retry must be a RetryPolicy or None")
    return retry


def _rate_limiter(rate_limit: RateLimiter | Default | None) -> RateLimiter | None:
    if rate_limit == "default":
        return RateLimit()
    if rate_limit is not None and not isinstance(rate_limit, RateLimiter):
        raise ConfigurationError(
            "rate_limit must be a RateLimit (or any RateLimiter: slot() and pause()) or None"
        )
    return rate_limit


def _transport(
    transport: Transport | None,
    session: aiohttp.ClientSession | None,
    timeout: float | Timeout,
    max_response_size: int,
    max_connections: int,
) -> Transport:
    if transport is None:
        return AiohttpTransport(
            session,
            timeout=timeout,
            max_response_size=max_response_size,
            max_connections=max_connections,
        )
    if session is not None:
        raise ConfigurationError("give either session= or transport=, not both")
    if not isinstance(transport, Transport):
        raise ConfigurationError("transport must have async send(request) and aclose()")
    return transport


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
