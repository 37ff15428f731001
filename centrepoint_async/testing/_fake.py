"""FakeCentrePoint: a real aiohttp server on loopback that behaves like CentrePoint v3.

It serves the token endpoint and every endpoint in scope from a seeded :class:`Dataset`,
enforces bearer tokens, their scopes and expiry, the sliding-window rate limit (time scalable)
and offset/limit pagination as documented, and injects faults on demand. Routes match
case-insensitively, as on the real server. Data retrieval requests run through their
documented lifecycle and limits; their files are served by a second loopback host (the blob
store, :mod:`._blob`) through pre-signed, expiring URLs; completed requests can be announced to
a webhook receiver, signed. It records what it was asked, for assertions.

The fake is an oracle: it shares no protocol constant with the SDK (paths, variable names and
the signature scheme are written here from the documentation), so a wrong constant in the SDK
cannot make both sides agree.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import math
import random
import re
import secrets
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self

import aiohttp
import attrs
import orjson
from aiohttp import web

from .._client import CentrePointClient
from .._ratelimit import RateLimit
from . import _access, _analytics, _study
from ._blob import BlobFault, BlobFaultKind, BlobFile, BlobRequest, BlobStore
from ._data import SIZES, Dataset, History
from ._retrieval import RequestRefused, Retrieval, RetrievalService
from ._seeded import offset_seconds, offset_trimmed
from ._serving import Call, Endpoint, Listing, Query, Refused, Reply, envelope, page_links

__all__ = ["FakeCentrePoint", "Fault", "RecordedRequest", "SentWebhook"]

FaultKind = Literal["status", "drop", "truncate", "slow"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]

#: The variables that point a program at a fake (the SDK reads the same names).
ENV_BASE_URL = "CENTREPOINT_BASE_URL"
ENV_AUTH_URL = "CENTREPOINT_AUTH_URL"
ENV_CLIENT_ID = "CENTREPOINT_CLIENT_ID"
ENV_CLIENT_SECRET = "CENTREPOINT_CLIENT_SECRET"  # noqa: S105 (a variable's name)
ENV_NAMES = (ENV_BASE_URL, ENV_AUTH_URL, ENV_CLIENT_ID, ENV_CLIENT_SECRET)

_API_PREFIXES = ("/centrepoint/v3/", "/analytics/v3/", "/dataaccess/v3/", "/dataretrieval/v3/")
SCOPES = frozenset({"CentrePoint", "DataAccess", "Analytics", "DataRetrieval"})


def _is_api(path: str) -> bool:
    return path.lower().startswith(_API_PREFIXES)


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
        """Whether this fault applies to a request of ``path`` (any API path when none given)."""
        if self.path is None:
            return _is_api(path)
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
    """One request the fake received, and how it answered.

    ``query`` is decoded (a ``+`` that arrived unencoded reads as a space there);
    ``raw_query`` is the query string exactly as it arrived.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    at: float  # time.monotonic()
    fault: str | None = None
    raw_query: str = ""


@attrs.frozen
class SentWebhook:
    """One webhook delivery the fake sent, and the receiver's answer (0: no answer)."""

    event: str
    delivery_id: str
    body: bytes = attrs.field(repr=False)
    status: int


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


#: What each constructor argument must be: (test, message).
_KNOBS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dataset": (lambda v: v is None or isinstance(v, Dataset), "dataset must be a Dataset"),
    "size": (lambda v: v in SIZES, f"unknown size; choose from {', '.join(SIZES)}"),
    "port": (lambda v: 0 <= v <= 65535, "port must be 0 to 65535"),
    "client_id": (bool, "client_id must not be empty"),
    "rate_limit": (lambda v: v is None or v >= 1, "rate_limit must be None or >= 1"),
    "rate_period": (lambda v: v > 0, "rate_period must be positive"),
    "latency": (lambda v: v >= 0, "latency must not be negative"),
    "latency_jitter": (lambda v: v >= 0, "latency_jitter must not be negative"),
    "token_lifetime": (lambda v: v > 0, "token_lifetime must be positive"),
    "page_cache": (lambda v: v >= 0, "page_cache must not be negative"),
    "retrieval_delay": (lambda v: v >= 0, "retrieval_delay must not be negative"),
    "file_size": (lambda v: v >= 0, "file_size must not be negative"),
    "link_lifetime": (lambda v: v > 0, "link_lifetime must be positive"),
    "file_link_lifetime": (lambda v: v >= 0, "file_link_lifetime must not be negative"),
}


def _check(knobs: dict[str, Any]) -> None:
    """Refuse a constructor argument out of range (ValueError naming it)."""
    for name, (ok, message) in _KNOBS.items():
        _require(bool(ok(knobs[name])), f"{message}, got {knobs[name]!r}")


class FakeCentrePoint:
    """A stateful, fault-injectable fake CentrePoint, on loopback.

    ``async with FakeCentrePoint() as fake:`` starts it on an ephemeral port: ``fake.url``
    serves both the API and the token endpoint; ``fake.client()`` is a
    :class:`CentrePointClient` pointed at it. Knobs:

    - ``dataset`` (or ``seed`` and ``size``): what is served.
    - ``rate_limit``/``rate_period``: the sliding window (500 per 60 s; ``None`` turns it off);
      shrink ``rate_period`` to scale time in tests.
    - ``latency``: seconds added to every API answer, plus up to ``latency_jitter`` more
      (uniform, seeded).
    - ``total_count_error``: added to every ``totalCount`` (negative to understate).
    - ``token_lifetime``: ``expires_in`` of granted tokens, enforced.
    - ``page_cache``: history pages kept serialized (for benchmarks, so that the server's own
      work does not hide the client's).
    - :meth:`inject` and :meth:`chaos`: faults; :meth:`insert_deliveries`: shift a listing.
    - ``retrieval_delay``: seconds a data retrieval request takes from ``pending`` to
      ``completed``; ``file_size``: bytes of each request's data file; ``link_lifetime``:
      seconds a download link stays valid; :meth:`inject_blob`: faults on the blob host.
    - ``file_link_lifetime``: seconds a Data Access day file's or dataset file's signed URL
      stays valid (403 after its ``downloadUrlExpiresOn``; whole seconds from 1 s up).
    - Data: ``fake.dataset`` (a :class:`Dataset`) is the oracle of every answer, and its
      :meth:`Dataset.bump_day` and :meth:`Dataset.add_subject` change what is served.
    - :meth:`send_webhooks_to`: announce completed requests (and
      :meth:`complete_raw_processing`) to a receiver, HMAC-signed if given a secret.
    """

    #: The names of the variables :meth:`env` gives (and ``fake-server`` prints).
    ENV_NAMES: ClassVar[tuple[str, ...]] = ENV_NAMES

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
        retrieval_delay: float = 0.2,
        file_size: int = 256 * 1024,
        link_lifetime: float = 120.0,
        latency_jitter: float = 0.0,
        file_link_lifetime: float = 4 * 3600.0,
    ) -> None:
        _check(locals())
        self.dataset = dataset if dataset is not None else Dataset.sized(size, seed)
        self.host = host
        self.port = port
        self.client_id = client_id
        self.client_secret = client_secret or f"fake-secret-{secrets.token_hex(8)}"
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.latency = latency
        self.latency_jitter = latency_jitter
        self._jitter = random.Random(seed)
        self.file_link_lifetime = file_link_lifetime
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
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._window: deque[float] = deque()
        self._chaos: _Chaos | None = None
        self._runner: web.AppRunner | None = None
        self.blobs, self.retrievals = self._storage(link_lifetime, retrieval_delay, file_size)
        self.webhooks_sent: list[SentWebhook] = []
        self._webhook_target: tuple[str, str | None, int] | None = None
        self._sender: aiohttp.ClientSession | None = None
        self._routes = self._route_table()
        self.app = self._make_app()

    def _storage(
        self, link_lifetime: float, delay: float, file_size: int
    ) -> tuple[BlobStore, RetrievalService]:
        """The blob host (serving the dataset's files too) and the data retrieval service."""
        blobs = BlobStore(self.host, link_lifetime=link_lifetime)
        blobs.resolve = lambda path: self.dataset.blob(path)
        retrievals = RetrievalService(
            blobs,
            delay=delay,
            file_size=file_size,
            seed=self.dataset.seed,
            on_complete=self._announce,
        )
        return blobs, retrievals

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
        await self.blobs.start()
        return self

    async def close(self) -> None:
        """Stop serving (the API and the blob host), and stop pending requests."""
        if self._runner is not None:
            self._closing.set()  # slow answers and latency end now, so shutdown is quick
            await self.retrievals.close()
            await self._runner.cleanup()
            await self.blobs.close()
            if self._sender is not None:
                await self._sender.close()
                self._sender = None
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def env(self) -> dict[str, str]:
        """The environment variables (:data:`ENV_NAMES`) that point a program here."""
        values = (self.url, self.url, self.client_id, self.client_secret)
        return dict(zip(ENV_NAMES, values, strict=True))

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
        return [r for r in self.requests if _is_api(r.path) and path_part in r.path]

    # --- data retrieval, blob host, webhooks -------------------------------------------------

    @property
    def blob_url(self) -> str:
        """Base URL of the blob host (a different port from :attr:`url`)."""
        return self.blobs.url

    @property
    def blob_requests(self) -> list[BlobRequest]:
        """Every request the blob host received."""
        return self.blobs.requests

    def data_file(self, data_file_id: str) -> BlobFile:
        """The stored file behind a data file id (``.content()`` gives its bytes)."""
        return self.retrievals.blob(data_file_id)

    def inject_blob(
        self, kind: BlobFaultKind, *, count: int = 1, after_bytes: int = 0, status: int = 503
    ) -> BlobFault:
        """A fault for the next ``count`` downloads (see :class:`BlobFault`)."""
        _require(count >= 1 and after_bytes >= 0, "count must be >= 1, after_bytes >= 0")
        fault = BlobFault(kind, count, after_bytes, status)
        self.blobs.faults.append(fault)
        return fault

    def send_webhooks_to(
        self, url: str, *, secret: str | None = None, webhook_id: int = 74
    ) -> None:
        """Deliver ``data_retrieval_complete`` (and :meth:`complete_raw_processing`) to ``url``.

        Signed with ``X-ActiGraph-Signature = base64(HMAC-SHA256(secret, body))`` when
        ``secret`` is given. A delivery that gets no 2xx is tried twice more at once, as
        CentrePoint does.
        """
        self._webhook_target = (url, secret, webhook_id)

    async def complete_raw_processing(
        self, study_id: int, subject_id: int, begin: datetime, end: datetime
    ) -> dict[str, Any]:
        """Announce that a subject's raw data for ``begin``..``end`` is processed.

        Sends ``raw_processing_complete`` to the receiver set by :meth:`send_webhooks_to` and
        returns the payload.
        """
        subject = self.dataset.subject(study_id, subject_id)
        if subject is None:
            raise KeyError(f"no subject {subject_id} in study {study_id}")
        payload = {
            "study_id": study_id,
            "subject_id": subject_id,
            "subject_identifier": subject["subjectIdentifier"],
            "monitor_serial": f"TAS1F{subject_id % 10**8:08d}",
            "created_at_utc": _iso(datetime.now(UTC)),
            "min_event_timestamp": _iso(begin),
            "max_event_timestamp": _iso(end),
            "status": "Completed",
            "error_message": None,
        }
        await self._send_webhook("raw_processing_complete", payload)
        return payload

    async def _announce(self, retrieval: Retrieval) -> None:
        serial = f"TAS1F{retrieval.subject_id % 10**8:08d}"  # as the data file's name says
        files = []
        for index, entry in enumerate(retrieval.files):
            summary = entry["fileName"].endswith(".json")
            files.append(
                {
                    "monitor_serial": None if summary else serial,
                    "file_type": "summary" if summary else retrieval.file_format.lower(),
                    "min_event_timestamp": _iso(retrieval.begin),
                    "max_event_timestamp": _iso(retrieval.end),
                    "file_size": entry["fileSizeBytes"],
                    "file_index": index,
                    "file_name": entry["fileName"],
                }
            )
        payload = {
            "client_id": self.client_id,
            "tracking_id": retrieval.id,
            "study_id": retrieval.study_id,
            "subject_id": retrieval.subject_id,
            "subject_identifier": retrieval.subject_identifier,
            "created_at_utc": _iso(retrieval.created),
            "started_at_utc": _iso(retrieval.started or retrieval.created),
            "completed_at_utc": _iso(retrieval.completed or datetime.now(UTC)),
            "request_status": "Completed",
            "error_message": None,
            "files": files,
        }
        await self._send_webhook("data_retrieval_complete", payload)

    async def _send_webhook(self, event: str, payload: dict[str, Any]) -> None:
        if self._webhook_target is None:
            return
        url, secret, webhook_id = self._webhook_target
        body = orjson.dumps(payload)
        delivery = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "ActiGraph-Hookshot/1.0",
            "X-ActiGraph-Webhook-id": str(webhook_id),
            "X-ActiGraph-Event": event,
            "X-ActiGraph-Delivery": delivery,
            "X-Client-Cert-Used": "false",
        }
        if secret is not None:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
            headers["X-ActiGraph-Signature"] = base64.b64encode(digest).decode()
        if self._sender is None:
            self._sender = aiohttp.ClientSession()
        for _ in range(3):
            try:
                async with self._sender.post(url, data=body, headers=headers) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            self.webhooks_sent.append(SentWebhook(event, delivery, body, status))
            if 200 <= status < 300:
                return

    # --- server --------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Route, str | None]]:
        """``(method, path pattern, handler, scope)``; paths match ignoring case."""
        study = "/centrepoint/v3/studies/{study_id}"
        retrieval = "/dataretrieval/v3/{kind}requests"
        table: list[tuple[str, str, Route, str | None]] = [
            ("POST", "/connect/token", self._token, None),
            ("GET", "/centrepoint/v3/webhookevents", self._webhook_events, "CentrePoint"),
            ("GET", study + "/webhooks", self._webhooks, "CentrePoint"),
            ("GET", study + "/webhooks/{webhook_id}", self._webhook, "CentrePoint"),
            ("GET", study + "/webhooks/{webhook_id}/history", self._history, "CentrePoint"),
            ("POST", retrieval, self._request_create, "DataRetrieval"),
            ("GET", retrieval + "/{tracking_id}", self._request_get, "DataRetrieval"),
            ("GET", retrieval + "/{tracking_id}/datafiles", self._request_files, "DataRetrieval"),
            (
                "GET",
                retrieval + "/{tracking_id}/datafiles/{file_id}",
                self._request_file,
                "DataRetrieval",
            ),
            (
                "GET",
                retrieval + "/{tracking_id}/datafiles/{file_id}/downloadurl",
                self._download_url,
                "DataRetrieval",
            ),
            (
                "GET",
                "/dataretrieval/v3/datafiles/{file_id}/downloadurl",
                self._download_url,
                "DataRetrieval",
            ),
        ]
        source = self._source
        families = [
            *_study.endpoints(source),
            *_analytics.endpoints(source),
            *_access.endpoints(source, self.sign_file),
        ]
        table += [(e.method, e.template, self._adapt(e), e.scope) for e in families]
        routes = []
        for method, template, handler, scope in table:
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template).replace(
                "(?P<kind>[^/]+)", "(?P<kind>rawactivity|epoch)"
            )
            routes.append((method, re.compile(pattern, re.IGNORECASE), handler, scope))
        return routes

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        # one catch-all route: the real server matches paths case-insensitively, aiohttp does not
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        allowed = False
        for method, pattern, handler, scope in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            allowed = True
            if method != request.method:
                continue
            if scope is not None and (denied := self._guard(request, scope)) is not None:
                return denied
            return await handler(request, match.groupdict())
        return _text(405, "Method not allowed") if allowed else _text(404, "Not found")

    def _source(self) -> Dataset:
        return self.dataset

    def sign_file(self, path: str) -> tuple[str, str]:
        """A signed blob host URL for a Data Access path, and its ``downloadUrlExpiresOn``.

        The expiry is a whole second (as listed, ``+00:00``) unless ``file_link_lifetime`` is
        under one second, when the listing shows the fraction too; the URL stops working
        exactly then.
        """
        expires = time.time() + self.file_link_lifetime
        if self.file_link_lifetime >= 1:
            expires = float(math.floor(expires))
        when = datetime.fromtimestamp(expires, UTC)
        shown = offset_seconds(when) if expires.is_integer() else offset_trimmed(when)
        return self.blobs.sign_sas(path, expires), shown

    def _adapt(self, endpoint: Endpoint) -> Route:
        """A route answering as a declared endpoint does (refusals as text)."""

        async def route(request: web.Request, ids: dict[str, str]) -> web.StreamResponse:
            try:
                body = await _json_body(request) if endpoint.body else None
                answer = endpoint.function(Call(ids, Query(request.query.items()), body))
            except Refused as refused:
                return _text(refused.status, refused.text)
            if isinstance(answer, Listing):
                rows = answer.rows
                return self._page(
                    request, rows.slice, len(rows), links=answer.links, finish=answer.finish
                )
            if isinstance(answer, Reply):
                return _json(answer.status, answer.body)
            return _json(200, answer)

        return route

    def _next_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.matches(path):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        if self._chaos is not None and _is_api(path):
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
            if (self.latency or self.latency_jitter) and _is_api(request.path):
                await self._sleep(self.latency + self._jitter.uniform(0, self.latency_jitter))
            response, fault = await self._answer(request, handler)
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    dict(request.query),
                    response.status,
                    time.monotonic(),
                    fault,
                    request.rel_url.raw_query_string,
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

    async def _token(self, request: web.Request, _: dict[str, str]) -> web.Response:
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
        scopes = frozenset(str(form.get("scope", "")).split())
        if not scopes or not scopes <= SCOPES:
            return _json(400, {"error": "invalid_scope"})
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (time.monotonic() + self.token_lifetime, scopes)
        self.token_grants += 1
        lifetime = self.token_lifetime
        expires_in = int(lifetime) if float(lifetime).is_integer() else lifetime
        return _json(200, {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})

    def _scopes(self, request: web.Request) -> frozenset[str] | None:
        """The scopes of the request's valid bearer token; None without one."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        grant = self._tokens.get(token)
        if grant is None:
            return None
        if grant[0] <= time.monotonic():
            del self._tokens[token]
            return None
        return grant[1]

    def _guard(self, request: web.Request, scope: str) -> web.Response | None:
        scopes = self._scopes(request)
        if scopes is None:
            return web.Response(
                status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        if scope not in scopes:
            return _text(403, f"This request needs the {scope} scope")
        return None

    def _page(
        self,
        request: web.Request,
        items: Callable[[int, int], list[Any]],
        total: int,
        *,
        links: bool = True,
        finish: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> web.Response:
        """A page of a listing of ``total`` items, in the documented envelope."""
        query = Query(request.query.items())
        try:
            limit, offset = query.integer("limit", 100), query.integer("offset", 0)
        except Refused:
            return _text(400, "limit and offset must be integers")
        if not 1 <= limit <= 100:
            return _text(400, "limit must be between 1 and 100")
        if offset < 0:
            return _text(400, "offset must be zero or more")
        found = items(offset, limit)
        if finish is not None:
            found = [finish(item) for item in found]
        url = request.rel_url
        around = page_links(self.url, url.raw_path, url.raw_query_string, offset, limit, total)
        reported = max(0, total + self.total_count_error)
        page = envelope(found, reported, offset, limit, around if links else {})
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
        response = self._page(request, history.slice, history.total_count(), links=False)
        if response.status == 200 and isinstance(response.body, bytes):
            self._pages[key] = response.body
            while len(self._pages) > self.page_cache:
                self._pages.popitem(last=False)
        return response

    async def _webhook_events(self, request: web.Request, _: dict[str, str]) -> web.Response:
        return self._listing(request, self.dataset.webhook_events)

    def _listing(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        """A page of a webhook listing held in memory (``links`` empty, as before)."""
        return self._page(request, lambda o, n: items[o : o + n], len(items), links=False)

    def _of_study(
        self, request: web.Request, ids: dict[str, str], by_study: dict[int, list[dict[str, Any]]]
    ) -> web.Response:
        """A page of a study's list in ``by_study``; 404 for an unknown study."""
        study_id = _int(ids["study_id"])
        if study_id is None or self.dataset.study(study_id) is None:
            return _text(404, "Study not found")
        return self._listing(request, by_study.get(study_id, []))

    async def _webhooks(self, request: web.Request, ids: dict[str, str]) -> web.Response:
        return self._of_study(request, ids, self.dataset.webhooks)

    async def _webhook(self, request: web.Request, ids: dict[str, str]) -> web.Response:
        study_id, webhook_id = _int(ids["study_id"]), _int(ids["webhook_id"])
        hooks = self.dataset.webhooks.get(study_id or -1, [])
        hook = next((h for h in hooks if h["id"] == webhook_id), None)
        if hook is None:
            return _text(404, "Webhook not found")
        return _json(200, hook)

    async def _history(self, request: web.Request, ids: dict[str, str]) -> web.Response:
        study_id, webhook_id = _int(ids["study_id"]), _int(ids["webhook_id"])
        history = (
            self.dataset.history(study_id, webhook_id)
            if study_id is not None and webhook_id is not None
            else None
        )
        if history is None:
            return _text(404, "Webhook not found")
        if self.page_cache:
            return self._cached_page(request, history)
        return self._page(request, history.slice, history.total_count(), links=False)

    async def _request_create(self, request: web.Request, ids: dict[str, str]) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _text(400, "The request body is not JSON")
        subject = None
        if isinstance(body, dict):
            study_id, subject_id = _int(str(body.get("studyId"))), _int(str(body.get("subjectId")))
            if study_id is not None and subject_id is not None:
                subject = self.dataset.subject(study_id, subject_id)
        try:
            retrieval = self.retrievals.create(_kind(ids), body, subject)
        except RequestRefused as exc:
            return _text(400, str(exc))
        return _json(200, retrieval.as_json())

    def _retrieval(self, ids: dict[str, str]) -> Retrieval | None:
        found = self.retrievals.requests.get(ids["tracking_id"].lower())
        return found if found is not None and found.kind == _kind(ids) else None

    async def _request_get(self, request: web.Request, ids: dict[str, str]) -> web.Response:
        found = self._retrieval(ids)
        return _text(404, "Request not found") if found is None else _json(200, found.as_json())

    async def _request_files(self, request: web.Request, ids: dict[str, str]) -> web.Response:
        found = self._retrieval(ids)
        if found is None:
            return _text(404, "Request not found")
        return _json(200, found.files)  # a plain array, no pagination envelope

    async def _request_file(self, request: web.Request, ids: dict[str, str]) -> web.Response:
        found = self._retrieval(ids)
        files = found.files if found is not None else []
        entry = next((f for f in files if f["id"] == ids["file_id"].lower()), None)
        return _text(404, "Data file not found") if entry is None else _json(200, entry)

    async def _download_url(self, request: web.Request, ids: dict[str, str]) -> web.Response:
        link = self.retrievals.download_url(ids["file_id"])
        return _text(404, "Data file not found") if link is None else _json(200, link)


async def _json_body(request: web.Request) -> Any:
    """A write's JSON body, as ASP.NET binds one (415 without the JSON content type)."""
    if request.content_type != "application/json":
        raise Refused(415, "Unsupported Media Type: send Content-Type: application/json")
    raw = await request.read()
    if not raw.strip():
        raise Refused(400, "A non-empty request body is required.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refused(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Refused(400, "The request body must be a JSON object.")
    return body


def _kind(ids: dict[str, str]) -> Literal["raw", "epoch"]:
    return "raw" if ids["kind"].lower() == "rawactivity" else "epoch"


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(status: int, data: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, headers=headers)
