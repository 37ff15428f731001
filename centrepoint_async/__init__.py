"""centrepoint-async: an asyncio SDK for ActiGraph's CentrePoint v3 API.

List webhook registrations, pull the full delivery history of every webhook, and receive
webhooks safely (``centrepoint_async.receiver``). ``centrepoint_async.testing`` has a fake
CentrePoint server for tests and demos.
"""

from . import _logging as _logging  # CENTREPOINT_LOG: logging to stderr, set up on import
from ._client import CentrePointClient, ClientStats, Timeout
from ._data_retrieval import DataRetrievalError
from ._deliveries import DeliveryRequest, DeliveryResponse, WebhookDelivery
from ._download import DownloadError
from ._events import EVENT_TYPES
from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CentrePointError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ReceiverAuthError,
    RedisUnavailableError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ServerError,
    SignatureError,
    TransportError,
)
from ._export import (
    CheckpointError,
    ExportError,
    ExportResult,
    HistoryChangedError,
    NothingToResumeError,
    OutputExistsError,
    OutputLockedError,
    OutputPathError,
    Shortfall,
    export_history,
)
from ._hooks import HookEvent
from ._models import (
    BoutCount,
    Cp2DailyStatisticsCompleteEvent,
    CrouterAggregation,
    DailyStatisticsCompleteEvent,
    DataFile,
    DataRetrievalCompleteEvent,
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
    WebhookEvent,
)
from ._pager import AsyncPager, Page
from ._ratelimit import RateLimit, RateLimiter
from ._resources import (
    DataRetrievalFile,
    DataRetrievalRequest,
    DownloadUrl,
    Subject,
    Upload,
    UploadFile,
)
from ._retry import RetryPolicy
from ._version import __version__ as __version__

# The receiving side is imported on first use (see __getattr__), so a program that only calls
# the API never loads aiohttp's server stack. Type checkers treat any name TYPE_CHECKING as
# typing.TYPE_CHECKING; deleted after use, so the module's public names stay exactly __all__.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .receiver import InboundEvent
del TYPE_CHECKING

__all__ = [
    "APIError",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "BoutCount",
    "CentrePointClient",
    "CentrePointError",
    "CheckpointError",
    "ClientStats",
    "ConfigurationError",
    "ConnectError",
    "Cp2DailyStatisticsCompleteEvent",
    "CrouterAggregation",
    "DailyStatisticsCompleteEvent",
    "DataFile",
    "DataRetrievalCompleteEvent",
    "DataRetrievalError",
    "DataRetrievalFile",
    "DataRetrievalRequest",
    "DecodeError",
    "DeliveryRequest",
    "DeliveryResponse",
    "DownloadError",
    "DownloadUrl",
    "EVENT_TYPES",
    "EpochAggregation",
    "Event",
    "ExportError",
    "ExportResult",
    "FreedsonAggregation",
    "HistoryChangedError",
    "HookEvent",
    "InboundEvent",
    "NotFoundError",
    "NothingToResumeError",
    "OutputExistsError",
    "OutputLockedError",
    "OutputPathError",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RateLimiter",
    "RawProcessingCompleteEvent",
    "ReceiverAuthError",
    "RedisUnavailableError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ServerError",
    "Shortfall",
    "SignatureError",
    "StaudenmayerAggregation",
    "StepsAggregation",
    "Study",
    "Subject",
    "Timeout",
    "TransportError",
    "UnknownEvent",
    "Upload",
    "UploadEvent",
    "UploadFile",
    "ValidationEvent",
    "Webhook",
    "WebhookDelivery",
    "WebhookEvent",
    "export_history",
]


def __getattr__(name: str) -> object:
    """``cp.InboundEvent`` loads ``centrepoint_async.receiver`` when first asked for."""
    if name == "InboundEvent":
        from .receiver import InboundEvent

        globals()[name] = InboundEvent  # later lookups skip this function
        return InboundEvent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "InboundEvent"])
