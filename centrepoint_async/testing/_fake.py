"""FakeCentrePoint: a real aiohttp server on loopback that behaves like CentrePoint v3.

It serves the token endpoint and every endpoint in scope from a seeded :class:`Dataset`,
enforces bearer tokens and their expiry, the sliding-window rate limit (time scalable) and
offset/limit pagination as documented, and injects faults on demand. It records what it was
asked, for assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import math
import random
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Self

import attrs
import orjson
from aiohttp import web

from .._client import CentrePointClient
from .._protocol import ENV_AUTH_URL, ENV_BASE_URL, ENV_CLIENT_ID, ENV_CLIENT_SECRET
from .._ratelimit import RateLimit
from ._data import Dataset, History

__all__ = ["Fault", "FakeCentrePoint", "RecordedRequest"]

FaultKind = Literal["status", "drop", "truncate", "slow"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_API = "/centrepoint/v3"


@attrs.define
class Fault:
    """A fault to inject into the next ``count`` requests whose path contains ``path``.

    ``status``: answer ``status`` (with ``Retry-After`` if ``retry_after`` is set); ``drop``:
    close the connection without answering; ``truncate``: a 200 whose JSON is cut short;
    ``slow``: wait ``delay`` seconds, then answer normally.
    """

    kind: FaultKind
    path: str | None = None  # substring of the path and query; None: any API request
    count: int = 1
    status: int = 503
    retry_after: float | None = None
    delay: float = 5.0

    def matches(self, path: str) -> bool:
        if self.path is None:
            return path.startswith(_API)
        return self.path in path


@attrs.frozen
class _Chaos:
    """Seeded random faults: each API request gets one with ``probability``."""

    probability: float
    rng: random.Random
    kinds: tuple[FaultKind, ...]
    statuses: tuple[int, ...]
    template: Fault


@attrs.frozen
class RecordedRequest:
    """One request the fake received, and how it answered."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    at: float  # time.monotonic()
    fault: str | None = None


class FakeCentrePoint:
    """A stateful, fault-injectable fake CentrePoint, on loopback.

    ``async with FakeCentrePoint() as fake:`` starts it on an ephemeral port: ``fake.url``
    serves both the API and the token endpoint; ``fake.client()`` is a
    :class:`CentrePointClient` pointed at it. Knobs:

    - ``dataset`` (or ``seed`` and ``size``): what is served.
    - ``rate_limit``/``rate_period``: the sliding window (500 per 60 s; ``None`` turns it off);
      shrink ``rate_period`` to scale time in tests.
    - ``latency``: seconds added to every API answer.
    - ``total_count_error``: added to every ``totalCount`` (negative to understate).
    - ``token_lifetime``: ``expires_in`` of granted tokens, enforced.
    - ``page_cache``: history pages kept serialized (for benchmarks, so that the server's own
      work does not hide the client's).
    - :meth:`inject` and :meth:`chaos`: faults; :meth:`insert_deliveries`: shift a listing.
    """

    def __init__(
        self,
        *,
        dataset: Dataset | None = None,
        seed: int = 0,
        size: str = "small",
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "fake-client-id",
        client_secret: str | None = None,
        rate_limit: int | None = 500,
        rate_period: float = 60.0,
        latency: float = 0.0,
        total_count_error: int = 0,
        token_lifetime: float = 3600.0,
        page_cache: int = 0,
    ) -> None:
        self.dataset = dataset if dataset is not None else Dataset.sized(size, seed)
        self.host = host
        self.port = port
        self.client_id = client_id
        self.client_secret = client_secret or f"fake-secret-{secrets.token_hex(8)}"
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.latency = latency
        self.total_count_error = total_count_error
        self.token_lifetime = token_lifetime
        self.page_cache = page_cache
        self._pages: OrderedDict[tuple[int, int, int, str], bytes] = OrderedDict()
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.token_grants = 0
        self.concurrency = 0
        self.peak_concurrency = 0
        self.rate_limited = 0
        self._tokens: dict[str, float] = {}
        self._window: deque[float] = deque()
        self._chaos: _Chaos | None = None
        self._runner: web.AppRunner | None = None
        self.app = self._make_app()

    def __repr__(self) -> str:
        return f"FakeCentrePoint(url={self.url!r})" if self._runner else "FakeCentrePoint()"

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the running server: the API and the token endpoint alike."""
        if self._runner is None:
            raise RuntimeError("FakeCentrePoint is not running; use 'async with' or start()")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Self:
        """Start serving (on an ephemeral port unless one was given)."""
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=512)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            self._closing.set()  # slow answers and latency end now, so shutdown is quick
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def env(self) -> dict[str, str]:
        """The environment variables that point the command line (or any program) here."""
        return {
            ENV_BASE_URL: self.url,
            ENV_AUTH_URL: self.url,
            ENV_CLIENT_ID: self.client_id,
            ENV_CLIENT_SECRET: self.client_secret,
        }

    def client(self, **kwargs: Any) -> CentrePointClient:
        """A client of this server with its credentials; ``kwargs`` go to the client.

        Unless given, its rate limit matches the server's window.
        """
        kwargs.setdefault("base_url", self.url)
        kwargs.setdefault("auth_url", self.url)
        if "token" not in kwargs:
            kwargs.setdefault("client_id", self.client_id)
            kwargs.setdefault("client_secret", self.client_secret)
        if "rate_limit" not in kwargs:
            kwargs["rate_limit"] = (
                RateLimit(self.rate_limit, self.rate_period) if self.rate_limit else None
            )
        return CentrePointClient(**kwargs)

    # --- knobs ---------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        path: str | None = None,
        count: int = 1,
        status: int = 503,
        retry_after: float | None = None,
        delay: float = 5.0,
    ) -> Fault:
        """Inject a fault into the next ``count`` matching requests (see :class:`Fault`)."""
        fault = Fault(kind, path, count, status, retry_after, delay)
        self.faults.append(fault)
        return fault

    def chaos(
        self,
        probability: float,
        *,
        seed: int = 0,
        kinds: tuple[FaultKind, ...] = ("status", "drop", "truncate"),
        statuses: tuple[int, ...] = (429, 500, 502, 503, 504),
        retry_after: float = 0.01,
        delay: float = 5.0,
    ) -> None:
        """Give each API request a seeded chance of a random fault (``probability`` 0 stops)."""
        if probability <= 0:
            self._chaos = None
            return
        rng = random.Random(seed)
        template = Fault("status", None, 1, statuses[0], retry_after, delay)
        self._chaos = _Chaos(probability, rng, kinds, statuses, template)

    def expire_tokens(self) -> None:
        """Make every token granted so far invalid (as if they had expired)."""
        self._tokens.clear()

    def insert_deliveries(self, study_id: int, webhook_id: int, count: int = 1) -> None:
        """Add ``count`` new deliveries at the head of a history (offsets shift)."""
        history = self.dataset.history(study_id, webhook_id)
        if history is None:
            raise KeyError(f"no webhook {webhook_id} in study {study_id}")
        history.insert(count)

    def history_items(self, study_id: int, webhook_id: int) -> list[dict[str, Any]]:
        """Every item of a history, as served (for assertions)."""
        history = self.dataset.history(study_id, webhook_id)
        if history is None:
            raise KeyError(f"no webhook {webhook_id} in study {study_id}")
        return list(history)

    def api_requests(self, path_part: str = "") -> list[RecordedRequest]:
        """Recorded API requests (not token requests) whose path contains ``path_part``."""
        return [r for r in self.requests if r.path.startswith(_API) and path_part in r.path]

    # --- server --------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/connect/token", self._token)
        app.router.add_get(f"{_API}/Studies", self._studies)
        app.router.add_get(f"{_API}/Studies/{{study_id}}", self._study)
        app.router.add_get(f"{_API}/WebhookEvents", self._webhook_events)
        app.router.add_get(f"{_API}/Studies/{{study_id}}/Webhooks", self._webhooks)
        app.router.add_get(f"{_API}/Studies/{{study_id}}/Webhooks/{{webhook_id}}", self._webhook)
        app.router.add_get(
            f"{_API}/Studies/{{study_id}}/Webhooks/{{webhook_id}}/history", self._history
        )
        return app

    def _next_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.matches(path):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        if self._chaos is not None and path.startswith(_API):
            chaos = self._chaos
            if chaos.rng.random() < chaos.probability:
                kind = chaos.rng.choice(chaos.kinds)
                status = chaos.rng.choice(chaos.statuses)
                return attrs.evolve(chaos.template, kind=kind, status=status)
        return None

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the server is closing."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _over_limit(self) -> float | None:
        """Seconds until the window has room, if this request is over the limit."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        while self._window and self._window[0] <= now - self.rate_period:
            self._window.popleft()
        if len(self._window) >= self.rate_limit:
            return self._window[0] + self.rate_period - now
        self._window.append(now)
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.concurrency += 1
        self.peak_concurrency = max(self.peak_concurrency, self.concurrency)
        try:
            if self.latency and request.path.startswith(_API):
                await self._sleep(self.latency)
            response, fault = await self._answer(request, handler)
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    dict(request.query),
                    response.status,
                    time.monotonic(),
                    fault,
                )
            )
            return response
        finally:
            self.concurrency -= 1

    async def _answer(
        self, request: web.Request, handler: Handler
    ) -> tuple[web.StreamResponse, str | None]:
        """The answer, after the rate limit and any fault due; and the fault's name."""
        wait = self._over_limit()
        if wait is not None:
            self.rate_limited += 1
            return _text(429, "Too many requests", {"Retry-After": str(math.ceil(wait))}), None
        fault = self._next_fault(request.path_qs)
        if fault is None:
            return await handler(request), None
        if fault.kind == "status":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            return _text(fault.status, f"injected {fault.status}", headers), str(fault.status)
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            return _text(500, "dropped"), fault.kind
        if fault.kind == "slow":
            await self._sleep(fault.delay)
            return await handler(request), fault.kind
        response = await handler(request)  # truncate: a 200 whose JSON is cut in half
        if isinstance(response, web.Response) and isinstance(response.body, bytes):
            cut = response.body[: max(1, len(response.body) // 2)]
            response = web.Response(body=cut, content_type="application/json")
        return response, fault.kind

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        if not (
            isinstance(client_id, str)
            and isinstance(client_secret, str)
            and hmac.compare_digest(client_id.encode(), self.client_id.encode())
            and hmac.compare_digest(client_secret.encode(), self.client_secret.encode())
        ):
            return _json(400, {"error": "invalid_client"})
        scopes = str(form.get("scope", "")).split()
        if "CentrePoint" not in scopes:
            return _json(400, {"error": "invalid_scope"})
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.monotonic() + self.token_lifetime
        self.token_grants += 1
        lifetime = self.token_lifetime
        expires_in = int(lifetime) if float(lifetime).is_integer() else lifetime
        return _json(200, {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        expires = self._tokens.get(token)
        if expires is None:
            return False
        if expires <= time.monotonic():
            del self._tokens[token]
            return False
        return True

    def _guard(self, request: web.Request) -> web.Response | None:
        if not self._authorized(request):
            return web.Response(
                status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return None

    def _page(
        self, request: web.Request, items: Callable[[int, int], list[Any]], total: int
    ) -> web.Response:
        limit_text = request.query.get("limit", "100")
        offset_text = request.query.get("offset", "0")
        try:
            limit, offset = int(limit_text), int(offset_text)
        except ValueError:
            return _text(400, "limit and offset must be integers")
        if not 1 <= limit <= 100:
            return _text(400, "limit must be between 1 and 100")
        if offset < 0:
            return _text(400, "offset must be zero or more")
        page = {
            "items": items(offset, limit),
            "links": {},
            "totalCount": max(0, total + self.total_count_error),
            "limit": limit,
            "offset": offset,
        }
        return web.Response(body=orjson.dumps(page), content_type="application/json")

    def _cached_page(self, request: web.Request, history: History) -> web.Response:
        key = (
            history.webhook_id,
            len(history.inserted),
            self.total_count_error,
            request.query_string,
        )
        body = self._pages.get(key)
        if body is not None:
            self._pages.move_to_end(key)
            return web.Response(body=body, content_type="application/json")
        response = self._page(request, history.slice, history.total_count())
        if response.status == 200 and isinstance(response.body, bytes):
            self._pages[key] = response.body
            while len(self._pages) > self.page_cache:
                self._pages.popitem(last=False)
        return response

    def _id(self, request: web.Request, name: str) -> int | None:
        text = request.match_info[name]
        return int(text) if text.isascii() and text.isdigit() else None

    async def _studies(self, request: web.Request) -> web.Response:
        studies = self.dataset.studies
        return self._guard(request) or self._page(
            request, lambda o, n: studies[o : o + n], len(studies)
        )

    async def _study(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        study_id = self._id(request, "study_id")
        study = self.dataset.study(study_id) if study_id is not None else None
        if study is None:
            return _text(404, "Study not found")
        return _json(200, study)

    async def _webhook_events(self, request: web.Request) -> web.Response:
        events = self.dataset.webhook_events
        return self._guard(request) or self._page(
            request, lambda o, n: events[o : o + n], len(events)
        )

    async def _webhooks(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        study_id = self._id(request, "study_id")
        if study_id is None or self.dataset.study(study_id) is None:
            return _text(404, "Study not found")
        hooks = self.dataset.webhooks.get(study_id, [])
        return self._page(request, lambda o, n: hooks[o : o + n], len(hooks))

    async def _webhook(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        study_id, webhook_id = self._id(request, "study_id"), self._id(request, "webhook_id")
        hooks = self.dataset.webhooks.get(study_id or -1, [])
        hook = next((h for h in hooks if h["id"] == webhook_id), None)
        if hook is None:
            return _text(404, "Webhook not found")
        return _json(200, hook)

    async def _history(self, request: web.Request) -> web.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        study_id, webhook_id = self._id(request, "study_id"), self._id(request, "webhook_id")
        history = (
            self.dataset.history(study_id, webhook_id)
            if study_id is not None and webhook_id is not None
            else None
        )
        if history is None:
            return _text(404, "Webhook not found")
        if self.page_cache:
            return self._cached_page(request, history)
        return self._page(request, history.slice, history.total_count())


def _json(status: int, data: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, headers=headers)
