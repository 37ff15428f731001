"""Every endpoint of the API, declared once; every path of the SDK lives in this module.

An :class:`Endpoint` says what a call is: its method, its path template (ids in path order;
``{name}`` a numeric id, ``{name:text}`` a text one: a GUID, a serial), its model, the shape of
its answer (a page of the standard envelope, one object, or a plain JSON array), its query
parameters under their API names, and the fields that identify an item (they anchor pages, see
:class:`~centrepoint_async.AsyncPager`). Its scope follows from its family's path prefix
(``_protocol.SCOPES_BY_PREFIX``). The namespaces (``client.subjects`` ...) are thin views that
call :meth:`Endpoint.call` and :meth:`Endpoint.pager`; those hand the request to the client
through its public :meth:`~centrepoint_async.CentrePointClient.request` and
:meth:`~centrepoint_async.CentrePointClient.paginate`.

Query values are sent as the API reads them: an aware ``datetime`` in UTC with ``Z``, a naive
one as it is (the API reads it in the subject's time zone), a ``date`` as ``YYYY-MM-DD``,
booleans as ``true``/``false``, a list as the parameter repeated; always URL-encoded (a
``+`` is sent as ``%2B``, never read back as a space).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar, Unpack, cast, overload
from urllib.parse import quote

import aiohttp
import attrs
from yarl import URL

from . import _protocol as proto
from ._analytics import (
    AlgorithmSetting,
    DailyStatistic,
    EventMarker,
    MinuteSummary,
    SleepPeriod,
    SummarySetting,
)
from ._converter import builder
from ._converter._keys import snake_name
from ._data_access_models import (
    DataAccessFile,
    DatasetFile,
    ExportSubject,
    StudyDataset,
    StudyProgram,
)
from ._deliveries import WebhookDelivery
from ._exceptions import CentrePointError, ConfigurationError, DecodeError
from ._models import DailyStatisticsCompleteEvent, Study, Webhook, WebhookEvent
from ._pager import AsyncPager, Paging
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
)

__all__ = ["Caller", "Endpoint"]

T = TypeVar("T")
Shape = Literal["page", "object", "array"]


class Caller(Protocol):
    """What a declaration needs of a client: its two public seams."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: proto.Params = None,
        json: Any = None,
        idempotent: bool | None = None,
        read: Callable[[Any], Any] | None = None,
    ) -> Any: ...

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

    def storage_session(self) -> aiohttp.ClientSession:
        """A session for the storage host: it carries no credentials of the API."""
        ...

    def storage_proxy(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy (and its credentials) to reach a storage URL through."""
        ...


_FORMATTER = string.Formatter()


@attrs.frozen
class Endpoint(Generic[T]):
    """One endpoint: see the module docstring."""

    method: str
    path: str
    model: type[T]
    shape: Shape = "object"
    #: Query parameters: the keyword a method takes, and the API's name for it.
    query: Mapping[str, str] = attrs.field(factory=dict)
    #: The API names of the fields that identify an item (``()``: none).
    key: tuple[str, ...] = ("id",)

    @property
    def scope(self) -> str:
        """The OAuth scope the endpoint needs."""
        found = proto.scope_of(proto.DEFAULT_BASE_URL + self.path, proto.DEFAULT_BASE_URL)
        assert found is not None, self.path
        return found

    def fill(self, ids: tuple[object, ...]) -> str:
        """The path with ``ids`` in place, each checked (a text id is URL-encoded)."""
        parts: list[str] = []
        fields = list(_FORMATTER.parse(self.path))
        names = [name for _, name, _, _ in fields if name]
        if len(ids) != len(names):
            raise ConfigurationError(f"{self.path} takes {len(names)} ids, got {len(ids)}")
        given = iter(ids)
        for literal, name, spec, _ in fields:
            parts.append(literal)
            if name:
                parts.append(_path_id(next(given), name, spec == "text"))
        return "".join(parts)

    def params(self, filters: Mapping[str, object]) -> list[tuple[str, str]]:
        """The query for ``filters`` (keywords of :attr:`query`; ``None`` values left out)."""
        pairs: list[tuple[str, str]] = []
        for keyword, value in filters.items():
            name = self.query.get(keyword)
            if name is None:
                raise ConfigurationError(f"{self.path} takes no filter {keyword!r}")
            if value is not None:
                pairs += [(name, text) for text in query_values(value, keyword)]
        return pairs

    def read(self, what: str) -> Callable[[Any], Any]:
        """Reads the decoded answer: one model, or a list of them for a plain array."""
        parse = item_parser(self.model, what)
        if self.shape == "array":

            def read_array(data: Any) -> list[T]:
                if not isinstance(data, list):
                    raise DecodeError(f"{what}: expected a JSON array, got {type(data).__name__}")
                return [parse(item) for item in data]

            return read_array

        def read_object(data: Any) -> T:
            if not isinstance(data, dict):
                raise DecodeError(
                    f"{what}: expected a {self.model.__name__} object, got {type(data).__name__}"
                )
            return parse(data)

        return read_object

    async def call(
        self,
        client: Caller,
        *ids: object,
        json: Any = None,
        idempotent: bool | None = None,
        **filters: object,
    ) -> Any:
        """Send the call and read its answer (a model, or a list for a plain array)."""
        path = self.fill(ids)
        return await client.request(
            self.method,
            path,
            params=self.params(filters),
            json=json,
            idempotent=idempotent,
            read=self.read(f"{self.method} {path}"),
        )

    def pager(
        self, client: Caller, *ids: object, paging: Paging, raw: bool = False, **filters: Any
    ) -> AsyncPager[Any]:
        """The listing's pager: items built as the model, or (``raw``) as sent."""
        path = self.fill(ids)
        parse = None if raw else item_parser(self.model, f"GET {path}")
        return client.paginate(
            path, parse, key=self.item_key(raw), params=self.params(filters), **paging
        )

    def item_key(self, raw: bool) -> Callable[[Any], Hashable | None] | None:
        """The function giving an item's identity (from its JSON when ``raw``)."""
        if not self.key:
            return None
        if raw:
            names = self.key
            if len(names) == 1:
                return _raw_key(names[0])
            return lambda item: _raw_key_of(item, names)
        fields = tuple(snake_name(name) for name in self.key)
        if len(fields) == 1:
            field = fields[0]
            return lambda item: getattr(item, field)
        return lambda item: tuple(getattr(item, f) for f in fields)


def _raw_key(name: str) -> Callable[[Any], Hashable | None]:
    def key(item: Any) -> Hashable | None:
        value = item.get(name) if isinstance(item, dict) else None
        return id_value(value)

    return key


def _raw_key_of(item: Any, names: tuple[str, ...]) -> Hashable | None:
    if not isinstance(item, dict):
        return None
    return tuple(id_value(item.get(name)) for name in names)


def id_value(value: Any) -> Hashable | None:
    """An id as sent, compared alike whatever its JSON type (``"362288"`` is ``362288``)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        return value
    return None


def item_parser(cls: type[T], what: str) -> Callable[[Any], T]:
    """Builds ``cls`` from one JSON item, leniently (unreadable optional fields are left
    ``None``); an item the converter cannot build (no id, not an object) is a DecodeError."""
    build = builder(cls, lenient=True)

    def parse(item: Any) -> T:
        try:
            return build(item)
        except CentrePointError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            error = DecodeError(f"{what}: an item is not a {cls.__name__}: {exc}")
        raise error  # outside the handler: the converter's error (holding the item) not chained

    return parse


def _path_id(value: object, name: str, text: bool) -> str:
    """One id of a path: a non-negative integer, or (``text``) a name with no path syntax."""
    if not text:
        return str(proto.check_id(value, name))
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if (
        not isinstance(value, str)
        or not value.strip()
        or value in (".", "..")
        or not value.isprintable()
        or "/" in value
        or "\\" in value
    ):
        raise ConfigurationError(f"{name} must be a non-empty id without '/', got {value!r}")
    return quote(value, safe="")


def query_values(value: object, name: str) -> list[str]:
    """``value`` as the query texts the API reads (see the module docstring)."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return [value.isoformat()]
        return [value.astimezone(UTC).isoformat().replace("+00:00", "Z")]
    if isinstance(value, date):
        return [value.isoformat()]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, str):
        if not value or not value.isprintable():
            raise ConfigurationError(f"{name} must be printable, non-empty text, got {value!r}")
        return [value]
    if isinstance(value, list | tuple | set | frozenset):
        return [text for item in cast(Iterable[object], value) for text in query_values(item, name)]
    raise ConfigurationError(f"{name}: cannot send a {type(value).__name__} as a query value")


# --- the declarations: every endpoint of the SDK ---------------------------------------------

CP = proto.CENTREPOINT_PREFIX
STUDY = f"{CP}/Studies/{{study_id}}"
SUBJECT = f"{STUDY}/Subjects/{{subject_id}}"
AN = f"{proto.ANALYTICS_PREFIX}/Studies/{{study_id}}"
AN_SUBJECT = f"{AN}/Subjects/{{subject_id}}"
DA = proto.DATA_ACCESS_PREFIX
DA_STUDY = f"{DA}/Studies/{{study_id}}"
DA_FILES = f"{DA}/files/studies/{{study_id}}/subjects/{{subject_id}}/{{category:text}}"
DR = proto.DATA_RETRIEVAL_PREFIX


def page(path: str, model: type[T], *, key: tuple[str, ...] = ("id",), **query: str) -> Endpoint[T]:
    """A GET answered with pages of the standard envelope."""
    return Endpoint("GET", path, model, "page", query, key)


def one(path: str, model: type[T], method: str = "GET") -> Endpoint[T]:
    """A call answered with one object."""
    return Endpoint(method, path, model, "object")


# CentrePoint: studies, sites, subjects, devices, assignments, milestones, uploads, webhooks
STUDIES = page(f"{CP}/Studies", Study)
STUDY_ONE = one(STUDY, Study)
SITES = page(f"{STUDY}/Sites", Site)
SITE = one(f"{STUDY}/Sites/{{site_id}}", Site)
SUBJECTS = page(f"{STUDY}/Subjects", Subject)
SUBJECT_ONE = one(SUBJECT, Subject)
SUBJECT_CREATE = one(f"{STUDY}/Subjects", Subject, "POST")
SUBJECT_UPDATE = one(SUBJECT, Subject, "PUT")
SUBJECT_MILESTONES = page(f"{SUBJECT}/milestones", SubjectMilestone)
TIMEZONE_HISTORY = page(
    f"{SUBJECT}/TimezoneHistory", TimezoneChange, key=("effectiveDateUtc", "timezone")
)
DEVICE_PIN = one(f"{SUBJECT}/DevicePin", DevicePin, "POST")
ACTIVITY_MONITORS = page(f"{STUDY}/ActivityMonitors", ActivityMonitor, key=("serial",))
ACTIVITY_MONITOR = one(f"{STUDY}/ActivityMonitors/{{serial:text}}", ActivityMonitor)
ASSIGNMENTS = page(f"{STUDY}/Assignments", Assignment)
ASSIGNMENT = one(f"{STUDY}/Assignments/{{assignment_id}}", Assignment)
ASSIGNMENT_CREATE = one(f"{STUDY}/Assignments", Assignment, "POST")
ASSIGNMENT_UPDATE = one(f"{STUDY}/Assignments/{{assignment_id}}", Assignment, "PUT")
STUDY_MILESTONES = page(f"{STUDY}/Milestones", StudyMilestone)
UPLOADS = page(f"{SUBJECT}/Uploads", Upload)
UPLOAD = one(f"{SUBJECT}/Uploads/{{upload_id}}", Upload)
WEBHOOK_EVENTS = page(f"{CP}/WebhookEvents", WebhookEvent)
WEBHOOKS = page(f"{STUDY}/Webhooks", Webhook)
WEBHOOK = one(f"{STUDY}/Webhooks/{{webhook_id}}", Webhook)
# the history's items are built by the deliveries module (lazy headers and payloads)
HISTORY = page(f"{STUDY}/Webhooks/{{webhook_id}}/history", WebhookDelivery)

# Analytics: per-subject tables, and the settings that made them
MINUTE_SUMMARIES = page(
    f"{AN_SUBJECT}/MinuteSummaries",
    MinuteSummary,
    key=("timestampUtc", "minuteSummarySettingsId"),
    setting_id="minuteSummarySettingId",
    from_date="fromDate",
    to_date="toDate",
)
DAILY_STATISTICS = page(
    f"{AN_SUBJECT}/DailyStatistics",
    DailyStatistic,
    setting_id="dailyStatisticsSettingId",
    from_date="fromDate",
    to_date="toDate",
)
#: The 0.2 view of the same listing: the object a daily_statistics_complete event carries
#: (ids optional there, so no anchoring by id).
DAILY_STATISTICS_EVENTS = page(
    f"{AN_SUBJECT}/DailyStatistics", DailyStatisticsCompleteEvent, key=()
)
SLEEP_PERIODS = page(
    f"{AN_SUBJECT}/DustinTracySleepPeriods",
    SleepPeriod,
    setting_id="algorithmSettingId",
    from_date="fromDate",
    to_date="toDate",
)
EVENT_MARKERS = page(
    f"{AN_SUBJECT}/EventMarkers",
    EventMarker,
    setting_id="algorithmSettingId",
    from_date="fromDate",
    to_date="toDate",
)
ALGORITHM_SETTINGS = page(
    f"{AN}/AlgorithmSettings", AlgorithmSetting, algorithm_type="algorithmType"
)
MINUTE_SUMMARY_SETTINGS = page(f"{AN}/MinuteSummarySettings", SummarySetting, ids="ids")
MINUTE_SUMMARY_SETTING = one(f"{AN}/MinuteSummarySettings/{{setting_id:text}}", SummarySetting)
DAILY_STATISTICS_SETTINGS = page(f"{AN}/DailyStatisticsSettings", SummarySetting, ids="ids")
DAILY_STATISTICS_SETTING = one(f"{AN}/DailyStatisticsSettings/{{setting_id:text}}", SummarySetting)
SLEEP_PERIOD_SETTINGS = page(f"{AN}/DustinTracySleepPeriodSettings", AlgorithmSetting, ids="ids")
SLEEP_PERIOD_SETTING = one(
    f"{AN}/DustinTracySleepPeriodSettings/{{setting_id:text}}", AlgorithmSetting
)
EVENT_MARKER_SETTINGS = page(f"{AN}/EventMarkerSettings", AlgorithmSetting, ids="ids")
EVENT_MARKER_SETTING = one(f"{AN}/EventMarkerSettings/{{setting_id:text}}", AlgorithmSetting)

# Data Access: day files by range and by year / month / day, programs, datasets
DATA_ACCESS_FILES = page(
    DA_FILES,
    DataAccessFile,
    key=("fileName",),
    start="startDate",
    end="endDate",
    sort_order="sortOrder",
    file_format="fileFormat",
)
DATA_ACCESS_FILES_YEAR = page(
    f"{DA_FILES}/{{year}}",
    DataAccessFile,
    key=("fileName",),
    sort_order="sortOrder",
    file_format="fileFormat",
)
DATA_ACCESS_FILES_MONTH = page(
    f"{DA_FILES}/{{year}}/{{month}}",
    DataAccessFile,
    key=("fileName",),
    sort_order="sortOrder",
    file_format="fileFormat",
)
DATA_ACCESS_FILES_DAY = page(
    f"{DA_FILES}/{{year}}/{{month}}/{{day}}",
    DataAccessFile,
    key=("fileName",),
    sort_order="sortOrder",
    file_format="fileFormat",
)
PROGRAMS = page(f"{DA_STUDY}/programs", StudyProgram, key=("studyProgramId",))
PROGRAM = one(f"{DA_STUDY}/programs/{{program_id:text}}", StudyProgram)
DATASETS = page(
    f"{DA_STUDY}/programs/{{program_id:text}}/datasets", StudyDataset, key=("dataSetName",)
)
DATASET_FILES = page(
    f"{DA_STUDY}/datasetfiles",
    DatasetFile,
    key=("fileName",),
    subject_id="subjectId",
    program_id="studyProgramId",
    dataset_name="dataSetName",
)
EXPORT_SUBJECTS = page(f"{DA_STUDY}/subjects", ExportSubject, key=("subjectId",))
EXPORT_SUBJECT = one(f"{DA_STUDY}/subjects/{{subject_id}}", ExportSubject)

# Data Retrieval: raw and epoch requests, their files, download links
RAW_REQUESTS = f"{DR}/RawActivityRequests"
EPOCH_REQUESTS = f"{DR}/EpochRequests"
RAW_REQUEST_CREATE = one(RAW_REQUESTS, DataRetrievalRequest, "POST")
EPOCH_REQUEST_CREATE = one(EPOCH_REQUESTS, DataRetrievalRequest, "POST")
RAW_REQUEST = one(f"{RAW_REQUESTS}/{{tracking_id:text}}", DataRetrievalRequest)
EPOCH_REQUEST = one(f"{EPOCH_REQUESTS}/{{tracking_id:text}}", DataRetrievalRequest)
RAW_REQUEST_FILES = Endpoint(
    "GET", f"{RAW_REQUESTS}/{{tracking_id:text}}/datafiles", DataRetrievalFile, "array"
)
EPOCH_REQUEST_FILES = Endpoint(
    "GET", f"{EPOCH_REQUESTS}/{{tracking_id:text}}/datafiles", DataRetrievalFile, "array"
)
DOWNLOAD_URL = one(f"{DR}/DataFiles/{{file_id:text}}/downloadurl", DownloadUrl)
