"""The transport: one HTTP request out, one answer back, and nothing else.

:class:`Transport` is the seam between the client and the network, as in httpx: the client
composes everything else around it (the bearer token, the rate limiter, retries, hooks and
spans), so a test, or a user's mock, replaces the network by passing ``transport=`` to
:class:`~centrepoint_async.CentrePointClient`: :class:`MockTransport` answers from a function.
:class:`AiohttpTransport` is the real one.

A transport raises only typed errors: :class:`~centrepoint_async.ConnectError` (no connection),
:class:`~centrepoint_async.RequestTimeoutError`, :class:`~centrepoint_async.TransportError`
(any other failure before a whole answer), :class:`~centrepoint_async.ResponseTooLargeError`,
or :class:`~centrepoint_async.ConfigurationError` (a request that cannot be sent). Their text
is the cause only; the client adds the method and the URL as shown, and removes secrets.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlsplit

import aiohttp
import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._exceptions import (
    CentrePointError,
    ConfigurationError,
    ConnectError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from ._protocol import Request, check_number

__all__ = ["AiohttpTransport", "Answer", "MockTransport", "Timeout", "Transport"]

#: The default ``max_response_size``: far above any page (a 100-item history page is a few
#: hundred KiB) and far below what would hurt a process.
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024


def _headers(headers: Mapping[str, str] | None) -> CIMultiDictProxy[str]:
    if isinstance(headers, CIMultiDictProxy):
        return headers
    return CIMultiDictProxy(CIMultiDict(headers or {}))


@attrs.frozen
class Answer:
    """What the server sent back: status, headers (case-insensitive) and the whole body."""

    status: int
    headers: CIMultiDictProxy[str] = attrs.field(converter=_headers)
    body: bytes = attrs.field(default=b"", repr=False)


@runtime_checkable
class Transport(Protocol):
    """Sends one :class:`~centrepoint_async.Request` and returns its :class:`Answer`."""

    async def send(self, request: Request) -> Answer:
        """The answer to ``request`` (any status), or a typed error (see the module)."""
        ...

    async def aclose(self) -> None:
        """Release what the transport holds (connections). Safe to call twice."""
        ...


def _optional_seconds(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        check_number(value, f"Timeout.{attribute.name}")


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


class _Proxy(NamedTuple):
    """A proxy to send through (``url`` None: connect directly), and its credentials."""

    url: URL | None
    auth: aiohttp.BasicAuth | None


_NO_PROXY = _Proxy(None, None)


class AiohttpTransport:
    """The network, over an aiohttp ``ClientSession``.

    ``session``: a caller's session, used as is and never closed (its own proxy and TLS
    settings apply); otherwise the transport makes one on first use, pooling
    ``max_connections`` connections and going through the proxy the environment names
    (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``), and closes it in :meth:`aclose`. Answers
    are read whole, decompressed, and refused past ``max_response_size`` bytes. Redirects are
    not followed (a redirect would carry the bearer token to another host).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: Timeout | float = 30.0,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int = 100,
    ) -> None:
        check_number(max_response_size, "max_response_size", integer=True)
        check_number(max_connections, "max_connections", integer=True)
        if not isinstance(timeout, Timeout):
            check_number(timeout, "timeout")
            timeout = Timeout(total=float(timeout))
        self.timeout = timeout
        self.max_response_size = max_response_size
        self._aiohttp_timeout = timeout.to_aiohttp()
        self._max_connections = max_connections
        self._session = session
        self._owns_session = session is None
        self._proxies: dict[tuple[str, str], _Proxy] = {}
        self._closed = False

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (made on first use); downloads from the storage host use it."""
        if self._closed:
            raise ConfigurationError("this client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections)
            )
        return self._session

    def proxy_for(self, url: str) -> _Proxy:
        """The proxy (and its credentials) to reach ``url`` through, from the environment.

        Read once per scheme and host: aiohttp's ``trust_env=True`` would read the
        environment and ``~/.netrc`` again for every request. A caller's session keeps its
        own settings (no proxy added here).
        """
        if not self._owns_session:
            return _NO_PROXY
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        found = self._proxies.get(key)
        if found is None:
            try:
                found = _Proxy(*aiohttp.helpers.get_env_proxy_for_url(URL(url)))
            except LookupError:
                found = _NO_PROXY
            self._proxies[key] = found
        return found

    async def aclose(self) -> None:
        """Close the session if the transport made it. Safe to call twice."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: Request) -> Answer:
        """Send ``request`` over the session; its whole answer, or a typed error."""
        proxy, proxy_auth = self.proxy_for(request.url)
        try:
            async with self.session.request(
                request.method,
                request.url,
                params=request.params,
                data=request.data,
                headers=request.headers,
                timeout=self._aiohttp_timeout,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                body = await self._read(response)
                return Answer(response.status, response.headers, body)
        except CentrePointError:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = _typed(exc)
        # raised outside the handler: the aiohttp error (whose request information holds the
        # Authorization header) is neither chained nor kept in a traceback frame
        raise error

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole answer, decompressed, refused once past ``max_response_size``."""
        limit = self.max_response_size
        length = response.content_length
        if length is not None and length > limit:
            raise ResponseTooLargeError(
                f"answered {response.status} with Content-Length {length}, over "
                f"max_response_size ({limit} bytes)",
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
                    f"answered {response.status} with more than max_response_size "
                    f"({limit} bytes, decompressed); reading stopped",
                    status=response.status,
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _typed(exc: Exception) -> CentrePointError:
    """The typed error for what aiohttp raised, its text naming the cause in one line."""
    text = str(exc) or "timed out"
    if isinstance(exc, aiohttp.InvalidURL) or (
        isinstance(exc, ValueError) and not isinstance(exc, aiohttp.ClientError)
    ):
        # aiohttp refuses a header value or URL it cannot send: the caller's setting
        return ConfigurationError(f"cannot be sent: {text}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _connect_error(exc)
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass it
        return RequestTimeoutError(f"{type(exc).__name__}: {text}")
    return TransportError(f"{type(exc).__name__}: {text}")


def _connect_error(exc: aiohttp.ClientConnectorError) -> ConnectError:
    """What failed to connect, in one line, with the host and the kind of failure."""
    host, port = exc.host, exc.port
    dns_error = getattr(aiohttp, "ClientConnectorDNSError", None)
    if dns_error is not None and isinstance(exc, dns_error):
        return ConnectError(
            f"DNS lookup of {exc.host} failed (no such host, or no network)",
            kind="dns",
            host=host,
            port=port,
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cause = exc.certificate_error
        why = str(getattr(cause, "verify_message", "") or cause)
        return ConnectError(
            f"TLS with {exc.host}:{exc.port} failed: certificate verify failed: {why}",
            kind="tls",
            detail=f"certificate verify failed: {why}",
            host=host,
            port=port,
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        return ConnectError(
            f"TLS with {exc.host}:{exc.port} failed: {exc.os_error}",
            kind="tls",
            detail=str(exc.os_error),
            host=host,
            port=port,
        )
    refused = isinstance(exc.os_error, ConnectionRefusedError)
    return ConnectError(
        f"{type(exc).__name__}: {exc}", kind="refused" if refused else None, host=host, port=port
    )


Handler = Callable[[Request], Answer | Awaitable[Answer]]


class MockTransport:
    """A transport that answers every request from ``handler(request)`` (sync or async).

    For tests of code that uses the client, without a server::

        def handler(request: cp.Request) -> cp.Answer:
            return cp.Answer(200, {"Content-Type": "application/json"}, b'{"id": 1}')

        client = cp.CentrePointClient(token="t", transport=cp.MockTransport(handler))

    The token request goes through the handler too (``request.is_token``). ``requests``
    records every request sent, Authorization header included (it is the test's own token).
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []

    async def send(self, request: Request) -> Answer:
        """Record ``request`` and return the handler's answer to it."""
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    async def aclose(self) -> None:
        """Nothing to release."""
