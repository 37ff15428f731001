"""OpenTelemetry spans, when ``opentelemetry-api`` is installed (extra ``[otel]``).

One span per API call (``INTERNAL``, named after the method, e.g. ``GET``) with a ``CLIENT``
child per HTTP request it sent: each attempt, a 401 replay, and the token request an attempt
needed. Attributes follow the HTTP semantic conventions (``http.request.method``,
``url.full`` without credentials or secrets, ``server.address``, ``server.port``,
``http.response.status_code``, ``http.request.resend_count``, ``error.type``) plus
``centrepoint.retry_count`` on the call span. No header value is ever recorded. Without a
configured tracer provider nothing is done (OpenTelemetry's spans would be no-ops); without
the package, nothing is imported either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol
from urllib.parse import urlsplit

try:
    from opentelemetry import trace
except ImportError:  # pragma: no cover (the optional extra is not installed)
    trace = None  # type: ignore[assignment]

__all__ = ["RETRY_COUNT", "SpanLike", "fail", "span"]

RETRY_COUNT = "centrepoint.retry_count"
_TRACER_NAME = "centrepoint_async"


class SpanLike(Protocol):
    """The part of an OpenTelemetry span the client uses."""

    def set_attribute(self, key: str, value: Any) -> None: ...


class _NoSpan:
    def set_attribute(self, key: str, value: Any) -> None:
        pass


_NO_SPAN: AbstractContextManager[SpanLike] = contextlib.nullcontext(_NoSpan())

#: Providers whose spans are OpenTelemetry's no-op ones: the proxy it hands out until an SDK
#: provider is set, and the explicit no-op provider.
_NO_OP_PROVIDERS: tuple[type, ...] = (
    (trace.ProxyTracerProvider, trace.NoOpTracerProvider) if trace is not None else ()
)
#: The tracer of the last provider seen (a provider is set once per process, see _tracer()).
_cached_tracer: tuple[trace.TracerProvider, trace.Tracer] | None = None


def _tracer() -> trace.Tracer | None:
    """The tracer to use now, or ``None`` when no tracer provider is configured.

    Asked on every span, so a provider set after the client was made is used from then on;
    the tracer itself is cached per provider (``get_tracer`` costs microseconds a call).
    """
    global _cached_tracer  # one per process, as the global tracer provider is
    if trace is None:  # pragma: no cover (the optional extra is not installed)
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, _NO_OP_PROVIDERS):
        return None
    if _cached_tracer is None or _cached_tracer[0] is not provider:
        _cached_tracer = (provider, trace.get_tracer(_TRACER_NAME, tracer_provider=provider))
    return _cached_tracer[1]


def http_attributes(method: str, url: str) -> dict[str, Any]:
    """Semantic-convention attributes of a request (``url`` already redacted)."""
    parts = urlsplit(url)
    attributes: dict[str, Any] = {"http.request.method": method, "url.full": url}
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    attributes["server.port"] = port
    return attributes


def span(
    method: str, url: Callable[[], str], *, client: bool, resend_count: int = 0
) -> AbstractContextManager[SpanLike]:
    """A span for ``method`` on the URL ``url()`` gives (already redacted), made current.

    Kind CLIENT for one HTTP request (``resend_count``: the tries before it), else INTERNAL
    (an API call). Without a configured tracer provider OpenTelemetry's spans would be no-ops:
    then nothing is built at all, the span, its attributes and the URL included.
    """
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    attributes = http_attributes(method, url())
    if resend_count:
        attributes["http.request.resend_count"] = resend_count
    kind = trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL
    # exceptions are recorded by fail(), by type only: an exception event would copy the
    # message and traceback into the trace
    return tracer.start_as_current_span(
        method,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )


def fail(current: SpanLike, error: BaseException) -> None:
    """Mark ``current`` as failed with ``error``'s type (``error.type``), never its text."""
    current.set_attribute("error.type", type(error).__qualname__)
    if trace is not None and hasattr(current, "set_status"):
        current.set_status(trace.Status(trace.StatusCode.ERROR))
