"""OpenTelemetry spans, when ``opentelemetry-api`` is installed (extra ``[otel]``).

One span per API call (``INTERNAL``, named after the method, e.g. ``GET``) with a ``CLIENT``
child per HTTP request it sent: each attempt, a 401 replay, and the token request an attempt
needed. Attributes follow the HTTP semantic conventions (``http.request.method``,
``url.full`` without credentials or secrets, ``server.address``, ``server.port``,
``http.response.status_code``, ``http.request.resend_count``, ``error.type``) plus
``centrepoint.retry_count`` on the call span. No header value is ever recorded. Without a
configured tracer provider the spans are OpenTelemetry's no-op ones; without the package,
nothing is imported and nothing is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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


def http_attributes(method: str, url: str) -> dict[str, Any]:
    """Semantic-convention attributes of a request (``url`` already redacted)."""
    parts = urlsplit(url)
    attributes: dict[str, Any] = {"http.request.method": method, "url.full": url}
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    attributes["server.port"] = port
    return attributes


@contextlib.contextmanager
def span(name: str, attributes: dict[str, Any], *, client: bool) -> Iterator[SpanLike]:
    """A span named ``name`` (kind CLIENT for an HTTP request, else INTERNAL), made current."""
    if trace is None:  # pragma: no cover (the optional extra is not installed)
        yield _NoSpan()
        return
    tracer = trace.get_tracer(_TRACER_NAME)
    kind = trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL
    # exceptions are recorded by fail(), by type only: an exception event would copy the
    # message and traceback into the trace
    with tracer.start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        yield current


def fail(current: SpanLike, error: BaseException) -> None:
    """Mark ``current`` as failed with ``error``'s type (``error.type``), never its text."""
    current.set_attribute("error.type", type(error).__qualname__)
    if trace is not None and hasattr(current, "set_status"):
        current.set_status(trace.Status(trace.StatusCode.ERROR))
