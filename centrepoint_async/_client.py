"""The asyncio client: sends what ``_protocol`` builds, over aiohttp.

Layers, each in one place: the rate limit (``_ratelimit``) and the bearer token (``_auth``)
wrap every send; retries (``_retry``) wrap a whole attempt, including the one token refresh and
replay a 401 earns. Resource namespaces (``client.webhooks``) only build requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Self, TypeVar

import aiohttp
import attrs

from . import _protocol as proto
from ._auth import ClientCredentials, StaticToken, TokenSource
from ._converter import structure
from ._deliveries import WebhookDelivery, structure_delivery
from ._exceptions import ConfigurationError, DecodeError, RateLimitError, TransportError
from ._models import Study, Webhook, WebhookEvent
from ._pager import AsyncPager, Page
from ._ratelimit import RateLimit
from ._retry import RetryPolicy

__all__ = ["CentrePointClient"]

log = logging.getLogger("centrepoint_async")
T = TypeVar("T")


class _Default(enum.Enum):
    """The default of ``rate_limit=``: a new ``RateLimit()`` for each client."""

    RATE_LIMIT = enum.auto()


_NEW_RATE_LIMIT = _Default.RATE_LIMIT


@attrs.frozen
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)
    token: str | None = attrs.field(repr=False)


@attrs.define
class ClientStats:
    """Counters of one client, for progress displays and summaries."""

    requests: int = 0  # HTTP requests sent, token requests included
    retries: int = 0  # attempts after a first failure
    token_requests: int = 0
    rate_limited: int = 0  # 429 answers received


class CentrePointClient:
    """Asyncio client of the CentrePoint v3 API.

    Authenticate with ``client_id`` and ``client_secret`` (OAuth2 client credentials, tokens
    cached and renewed before expiry) or a fixed bearer ``token``. Use as ``async with``, or
    call :meth:`close`. A ``session`` given by the caller is used as is and never closed.
    ``retry=None`` and ``rate_limit=None`` turn those off; ``timeout`` is the total seconds
    allowed for one HTTP request.
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
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 (immutable)
        rate_limit: RateLimit | _Default | None = _NEW_RATE_LIMIT,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = proto.check_url(base_url, "base_url")
        self.auth_url = proto.check_url(auth_url, "auth_url")
        if isinstance(scopes, str):
            scopes = scopes.split()
        self.scopes = tuple(scopes)
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise ConfigurationError(f"timeout must be a positive number, got {timeout!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be a RetryPolicy or None")
        if rate_limit is _NEW_RATE_LIMIT:
            rate_limit = RateLimit()
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise ConfigurationError("rate_limit must be a RateLimit or None")
        self.retry = retry
        self.rate_limit = rate_limit
        self._timeout = aiohttp.ClientTimeout(total=float(timeout))
        self.client_id = client_id
        self._secret = client_secret or ""
        self._auth: TokenSource
        if token is not None:
            if client_id is not None or client_secret is not None:
                raise ConfigurationError("give either token= or client_id/client_secret, not both")
            if not isinstance(token, str) or not token:
                raise ConfigurationError("token must be a non-empty string")
            self._auth = StaticToken(token)
            self._static_token = token
        else:
            if not client_id or not client_secret:
                raise ConfigurationError(
                    "CentrePointClient needs client_id and client_secret, or token="
                )
            self._auth = ClientCredentials(self._fetch_token)
            self._static_token = ""
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self.stats = ClientStats()
        self.studies = Studies(self)
        self.webhook_events = WebhookEvents(self)
        self.webhooks = Webhooks(self)

    def __repr__(self) -> str:
        # the API documents the client id, like the secret, as never to be printed
        auth = "client credentials" if self.client_id else "fixed token"
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
        current = self._auth.current if isinstance(self._auth, ClientCredentials) else None
        return [s for s in (self._secret, self._static_token, current, self.client_id) if s]

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ConfigurationError("this CentrePointClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        return self._session

    def _slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.rate_limit.slot() if self.rate_limit is not None else contextlib.nullcontext()

    async def _send(self, request: proto.Request) -> _Answer:
        session = self._get_session()
        headers = dict(request.headers)
        token = None
        if not request.is_token:
            token = await self._auth.get()
            headers["Authorization"] = f"Bearer {token}"
        self.stats.requests += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with (
                self._slot(),
                session.request(
                    request.method,
                    request.url,
                    params=request.params,
                    data=request.data,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as response,
            ):
                body = await response.read()
                status, answer_headers = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            # never chain: aiohttp errors can carry the request headers (the bearer token)
            reason = proto.redact(str(exc), self._secrets()) or "timed out"
            raise TransportError(
                f"{request.method} {request.display_url} failed: {type(exc).__name__}: {reason}"
            ) from None
        log.debug(
            "%s %s -> %d (%d bytes, %.0f ms)",
            request.method,
            request.display_url,
            status,
            len(body),
            (loop.time() - started) * 1000,
        )
        return _Answer(status, answer_headers, body, token)

    async def _attempt(self, request: proto.Request) -> _Answer:
        """One try: send, and on a 401 renew the token and replay once."""
        answer = await self._send(request)
        if answer.status == 401 and answer.token is not None and self._auth.can_refresh:
            log.debug("%s answered 401: renewing the token and replaying", request.display_url)
            self._auth.invalidate(answer.token)
            answer = await self._send(request)
        return answer

    async def _with_retry(self, request: proto.Request, decode: Callable[[_Answer], T]) -> T:
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                self.stats.retries += 1
            answer = await self._attempt(request)
            try:
                return decode(answer)
            except RateLimitError as exc:
                # every request sharing the limiter waits, not only this one
                self.stats.rate_limited += 1
                if self.rate_limit is not None:
                    self.rate_limit.pause(1.0 if exc.retry_after is None else exc.retry_after)
                raise

        if self.retry is None:
            return await attempt()
        return await self.retry.call(attempt, what=f"{request.method} {request.display_url}")

    async def _fetch_token(self) -> proto.Token:
        request = proto.token_request(
            self.auth_url, self.client_id or "", self._secret, self.scopes
        )
        self.stats.token_requests += 1

        def decode(answer: _Answer) -> proto.Token:
            return proto.decode_token(
                answer.status,
                answer.headers,
                answer.body,
                request.url,
                self._secrets(),
                now=time.monotonic(),
            )

        return await self._with_retry(request, decode)

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET ``/centrepoint/v3{path}`` and return its decoded JSON (retried, rate-limited)."""
        request = proto.api_request(self.base_url, path, params)

        def decode(answer: _Answer) -> Any:
            return proto.decode_json(
                answer.status,
                answer.headers,
                answer.body,
                request.method,
                request.display_url,
                self._secrets(),
            )

        return await self._with_retry(request, decode)

    async def _get_model(self, path: str, cls: type[T]) -> T:
        data = await self.get_json(path)
        if not isinstance(data, dict):
            raise DecodeError(
                f"GET {path}: expected a {cls.__name__} object, got {type(data).__name__}"
            )
        return structure(data, cls)

    def paginate(
        self,
        path: str,
        parse: Callable[[Any], T],
        *,
        page_size: int = 100,
        offset: int = 0,
        max_items: int | None = None,
        concurrency: int = 1,
        key: Callable[[T], Any] | None = None,
    ) -> AsyncPager[T]:
        """An :class:`AsyncPager` over the list endpoint ``path``, items built by ``parse``."""

        async def fetch(page_offset: int, limit: int) -> Page[Any]:
            data = await self.get_json(path, proto.page_params(page_offset, limit))
            raw = proto.decode_page(data, "GET", path, page_offset, limit)
            return Page(raw.items, page_offset, limit, raw.total_count)

        return AsyncPager(
            fetch,
            parse=parse,
            page_size=page_size,
            offset=offset,
            max_items=max_items,
            concurrency=concurrency,
            key=key,
        )


def _by_id(item: Any) -> Any:
    return item.id


def _parser(cls: type[T]) -> Callable[[Any], T]:
    def parse(item: Any) -> T:
        return structure(item if isinstance(item, Mapping) else {}, cls)

    return parse


class _Namespace:
    __slots__ = ("_client",)

    def __init__(self, client: CentrePointClient) -> None:
        self._client = client


class Studies(_Namespace):
    """``client.studies``: the studies the credentials can see."""

    __slots__ = ()

    def list(
        self,
        *,
        page_size: int = 100,
        offset: int = 0,
        max_items: int | None = None,
        concurrency: int = 1,
    ) -> AsyncPager[Study]:
        """Every study, page by page."""
        return self._client.paginate(
            "/Studies",
            _parser(Study),
            page_size=page_size,
            offset=offset,
            max_items=max_items,
            concurrency=concurrency,
            key=_by_id,
        )

    async def get(self, study_id: int) -> Study:
        """One study by id."""
        return await self._client._get_model(proto.study_path(study_id), Study)


class WebhookEvents(_Namespace):
    """``client.webhook_events``: the kinds of events webhooks can subscribe to."""

    __slots__ = ()

    def list(
        self,
        *,
        page_size: int = 100,
        offset: int = 0,
        max_items: int | None = None,
        concurrency: int = 1,
    ) -> AsyncPager[WebhookEvent]:
        """Every webhook event type."""
        return self._client.paginate(
            "/WebhookEvents",
            _parser(WebhookEvent),
            page_size=page_size,
            offset=offset,
            max_items=max_items,
            concurrency=concurrency,
            key=_by_id,
        )


class Webhooks(_Namespace):
    """``client.webhooks``: a study's webhook registrations and their delivery history."""

    __slots__ = ()

    def list(
        self,
        study_id: int,
        *,
        page_size: int = 100,
        offset: int = 0,
        max_items: int | None = None,
        concurrency: int = 1,
    ) -> AsyncPager[Webhook]:
        """The webhooks a study is subscribed to."""
        return self._client.paginate(
            proto.webhooks_path(study_id),
            _parser(Webhook),
            page_size=page_size,
            offset=offset,
            max_items=max_items,
            concurrency=concurrency,
            key=_by_id,
        )

    async def get(self, study_id: int, webhook_id: int) -> Webhook:
        """One webhook registration."""
        return await self._client._get_model(proto.webhook_path(study_id, webhook_id), Webhook)

    def history(
        self,
        study_id: int,
        webhook_id: int,
        *,
        page_size: int = 100,
        offset: int = 0,
        max_items: int | None = None,
        concurrency: int = 1,
    ) -> AsyncPager[WebhookDelivery]:
        """Every delivery attempt of a webhook, oldest first as the server orders them."""
        return self._client.paginate(
            proto.history_path(study_id, webhook_id),
            structure_delivery,
            page_size=page_size,
            offset=offset,
            max_items=max_items,
            concurrency=concurrency,
            key=_by_id,
        )
