"""centrepoint-async: an asyncio SDK for ActiGraph's CentrePoint v3 API.

Read a study (sites, subjects, devices, assignments, uploads), its analytics and its data files;
make the writes of an EDC integration; list webhook registrations and pull the full delivery
history of every webhook; receive webhooks safely (``centrepoint_async.receiver``).
``centrepoint_async.testing`` has a fake CentrePoint server for tests and demos.
"""

from . import _logging as _logging  # CENTREPOINT_LOG: logging to stderr, set up on import
from ._analytics import (
    AlgorithmSetting,
    CutpointBucket,
    DailyStatistic,
    EvensonAggregation,
    EventMarker,
    EventMarkerAggregation,
    GenericCutpointAggregation,
    GenericCutpointMinute,
    MetCalorieAggregation,
    MinuteSummary,
    SleepPeriod,
    SummarySetting,
)
from ._analytics_export import AnalyticsExportResult, export_analytics
from ._client import CentrePointClient, ClientStats
from ._data_access_models import (
    DataAccessFile,
    DatasetFile,
    ExportSubject,
    ProgramExecution,
    StudyDataset,
    StudyProgram,
)
from ._data_retrieval import DataRetrieval
from ._deliveries import DeliveryRequest, DeliveryResponse, WebhookDelivery
from ._events import EVENT_TYPES
from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CentrePointError,
    CheckpointError,
    ConfigurationError,
    ConnectError,
    DataRetrievalError,
    DecodeError,
    DownloadError,
    ExportError,
    HistoryChangedError,
    NotFoundError,
    NothingToResumeError,
    OutputExistsError,
    OutputLockedError,
    OutputPathError,
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
    ExportResult,
    Shortfall,
    export_history,
)
from ._hooks import HookEvent
from ._mirror import MirrorFailure, MirrorResult, mirror_study
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
from ._namespaces import (
    ActivityMonitors,
    Analytics,
    Assignments,
    DailyStatistics,
    DataAccess,
    DataCategory,
    Milestones,
    Namespace,
    Sites,
    Studies,
    Subjects,
    Uploads,
    WebhookEvents,
    Webhooks,
)
from ._pager import AsyncPager, Page, Paging
from ._protocol import Request
from ._ratelimit import RateLimit, RateLimiter
from ._resources import (
    ActivityMonitor,
    Assignment,
    DataRetrievalFile,
    DataRetrievalRequest,
    DevicePin,
    DownloadUrl,
    Site,
    StudyMilestone,
    Subject,
    SubjectMilestone,
    TimezoneChange,
    Upload,
    UploadFile,
)
from ._retry import RetryPolicy
from ._transport import AiohttpTransport, Answer, MockTransport, Timeout, Transport
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
    "ActivityMonitor",
    "ActivityMonitors",
    "AiohttpTransport",
    "AlgorithmSetting",
    "Analytics",
    "AnalyticsExportResult",
    "Answer",
    "Assignment",
    "Assignments",
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
    "CutpointBucket",
    "DailyStatistic",
    "DailyStatistics",
    "DailyStatisticsCompleteEvent",
    "DataAccess",
    "DataAccessFile",
    "DataCategory",
    "DataFile",
    "DataRetrieval",
    "DataRetrievalCompleteEvent",
    "DataRetrievalError",
    "DataRetrievalFile",
    "DataRetrievalRequest",
    "DatasetFile",
    "DecodeError",
    "DeliveryRequest",
    "DeliveryResponse",
    "DevicePin",
    "DownloadError",
    "DownloadUrl",
    "EVENT_TYPES",
    "EpochAggregation",
    "EvensonAggregation",
    "Event",
    "EventMarker",
    "EventMarkerAggregation",
    "ExportError",
    "ExportResult",
    "ExportSubject",
    "FreedsonAggregation",
    "GenericCutpointAggregation",
    "GenericCutpointMinute",
    "HistoryChangedError",
    "HookEvent",
    "InboundEvent",
    "MetCalorieAggregation",
    "Milestones",
    "MinuteSummary",
    "MirrorFailure",
    "MirrorResult",
    "MockTransport",
    "Namespace",
    "NotFoundError",
    "NothingToResumeError",
    "OutputExistsError",
    "OutputLockedError",
    "OutputPathError",
    "Page",
    "PaginationError",
    "Paging",
    "PermissionDeniedError",
    "ProgramExecution",
    "RateLimit",
    "RateLimitError",
    "RateLimiter",
    "RawProcessingCompleteEvent",
    "ReceiverAuthError",
    "RedisUnavailableError",
    "Request",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ServerError",
    "Shortfall",
    "SignatureError",
    "Site",
    "Sites",
    "SleepPeriod",
    "StaudenmayerAggregation",
    "StepsAggregation",
    "Studies",
    "Study",
    "StudyDataset",
    "StudyMilestone",
    "StudyProgram",
    "Subject",
    "SubjectMilestone",
    "Subjects",
    "SummarySetting",
    "Timeout",
    "TimezoneChange",
    "Transport",
    "TransportError",
    "UnknownEvent",
    "Upload",
    "UploadEvent",
    "UploadFile",
    "Uploads",
    "ValidationEvent",
    "Webhook",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookEvents",
    "Webhooks",
    "export_analytics",
    "export_history",
    "mirror_study",
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
