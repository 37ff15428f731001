"""centrepoint-async: an asyncio SDK for ActiGraph's CentrePoint v3 API.

List webhook registrations, pull the full delivery history of every webhook, and receive
webhooks safely (``centrepoint_async.receiver``). ``centrepoint_async.testing`` has a fake
CentrePoint server for tests and demos.
"""

# private aliases, so that the module's public names are exactly __all__ (tests/test_exports.py)
import importlib as _importlib
import typing as _typing

from ._client import CentrePointClient, ClientStats
from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CentrePointError,
    ConfigurationError,
    DecodeError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SignatureError,
    TransportError,
)
from ._models import (
    EVENT_TYPES,
    BoutCount,
    Cp2DailyStatisticsCompleteEvent,
    CrouterAggregation,
    DailyStatisticsCompleteEvent,
    DataFile,
    DataRetrievalCompleteEvent,
    DeliveryRequest,
    DeliveryResponse,
    EpochAggregation,
    Event,
    FreedsonAggregation,
    RawProcessingCompleteEvent,
    StaudenmayerAggregation,
    StepsAggregation,
    Study,
    UnknownEvent,
    UploadEvent,
    ValidationEvent,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)
from ._pager import AsyncPager, Page
from ._ratelimit import RateLimit
from ._retry import RetryPolicy
from ._version import __version__ as __version__

# imported on first use (see __getattr__), so API clients never load aiohttp.web
if _typing.TYPE_CHECKING:
    from .receiver import InboundEvent

__all__ = [
    "APIError",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "BoutCount",
    "CentrePointClient",
    "CentrePointError",
    "ClientStats",
    "ConfigurationError",
    "Cp2DailyStatisticsCompleteEvent",
    "CrouterAggregation",
    "DailyStatisticsCompleteEvent",
    "DataFile",
    "DataRetrievalCompleteEvent",
    "DecodeError",
    "DeliveryRequest",
    "DeliveryResponse",
    "EVENT_TYPES",
    "EpochAggregation",
    "Event",
    "FreedsonAggregation",
    "InboundEvent",
    "NotFoundError",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RawProcessingCompleteEvent",
    "RetryPolicy",
    "ServerError",
    "SignatureError",
    "StaudenmayerAggregation",
    "StepsAggregation",
    "Study",
    "TransportError",
    "UnknownEvent",
    "UploadEvent",
    "ValidationEvent",
    "Webhook",
    "WebhookDelivery",
    "WebhookEvent",
]

# Names whose module is imported on first access: the receiving side needs aiohttp's server
# stack, which a program that only calls the API should not pay for at import time.
_LAZY = {"InboundEvent": "receiver"}


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
