"""The client's namespaces (``client.subjects`` ...): thin views over the declarations.

Each method names its endpoint (``_endpoints``), passes the ids in path order and the filters
as keywords, and returns what :meth:`Endpoint.call` or :meth:`Endpoint.pager` gives. Writes
check their required fields before anything is sent, and are sent again only when they surely
never reached the server.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, Unpack, cast

from . import _endpoints as ep
from ._analytics import (
    AlgorithmSetting,
    DailyStatistic,
    EventMarker,
    MinuteSummary,
    SleepPeriod,
    SummarySetting,
)
from ._data_access_models import (
    DataAccessFile,
    DatasetFile,
    ExportSubject,
    StudyDataset,
    StudyProgram,
)
from ._deliveries import WebhookDelivery, structure_delivery
from ._download import MIN_RATE, Link, destination, download_file
from ._endpoints import Caller, id_value
from ._exceptions import ConfigurationError, DownloadError
from ._models import DailyStatisticsCompleteEvent, Study, Webhook, WebhookEvent
from ._pager import AsyncPager, Paging
from ._protocol import check_id
from ._resources import (
    ActivityMonitor,
    Assignment,
    DevicePin,
    Site,
    StudyMilestone,
    Subject,
    SubjectMilestone,
    TimezoneChange,
    Upload,
)

__all__ = [
    "ActivityMonitors",
    "Analytics",
    "Assignments",
    "DailyStatistics",
    "DataAccess",
    "DataCategory",
    "Milestones",
    "Namespace",
    "Sites",
    "Studies",
    "Subjects",
    "Uploads",
    "WebhookEvents",
    "Webhooks",
]

#: The Data Access sensor categories the API documents (others are accepted as they come).
DataCategory = Literal[
    "raw-accelerometer",
    "temperature",
    "ppg-green",
    "ppg-green-100-hz",
    "barometer",
    "imu",
    "ppg-red-ir-50-hz",
]
DATA_CATEGORIES: tuple[str, ...] = typing.get_args(DataCategory)
FileFormat = Literal["csv", "avro"]
SortOrder = Literal["asc", "desc"]
When = date | datetime
T = TypeVar("T")


class Namespace:
    """Base of the namespaces: holds the client (anything with ``request`` and ``paginate``)."""

    __slots__ = ("_client",)

    def __init__(self, client: Caller) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} namespace>"


class Studies(Namespace):
    """``client.studies``: the studies the credentials can see (scope ``CentrePoint``)."""

    __slots__ = ()

    def list(self, **paging: Unpack[Paging]) -> AsyncPager[Study]:
        """Every study, page by page."""
        return ep.STUDIES.pager(self._client, paging=paging)

    async def get(self, study_id: int) -> Study:
        """One study by id."""
        study: Study = await ep.STUDY_ONE.call(self._client, study_id)
        return study


class Sites(Namespace):
    """``client.sites``: a study's sites."""

    __slots__ = ()

    def list(self, study_id: int, **paging: Unpack[Paging]) -> AsyncPager[Site]:
        """Every site of a study."""
        return ep.SITES.pager(self._client, study_id, paging=paging)

    async def get(self, study_id: int, site_id: int) -> Site:
        """One site."""
        site: Site = await ep.SITE.call(self._client, study_id, site_id)
        return site


#: The fields a subject is created or edited with, by keyword, and their API names.
SUBJECT_FIELDS = {
    "dob": "dob",
    "gender": "gender",
    "weight": "weight",
    "weight_unit": "weightUnit",
    "height": "height",
    "height_unit": "heightUnit",
    "wear_position": "wearPosition",
    "timezone": "timezone",
}


class Subjects(Namespace):
    """``client.subjects``: a study's subjects, their milestones and time zones, and the
    writes an EDC integration makes (create, edit, a device PIN)."""

    __slots__ = ()

    def list(self, study_id: int, **paging: Unpack[Paging]) -> AsyncPager[Subject]:
        """Every subject of a study."""
        return ep.SUBJECTS.pager(self._client, study_id, paging=paging)

    async def get(self, study_id: int, subject_id: int) -> Subject:
        """One subject."""
        subject: Subject = await ep.SUBJECT_ONE.call(self._client, study_id, subject_id)
        return subject

    def milestones(
        self, study_id: int, subject_id: int, **paging: Unpack[Paging]
    ) -> AsyncPager[SubjectMilestone]:
        """The milestones a subject reached."""
        return ep.SUBJECT_MILESTONES.pager(self._client, study_id, subject_id, paging=paging)

    def timezone_history(
        self, study_id: int, subject_id: int, **paging: Unpack[Paging]
    ) -> AsyncPager[TimezoneChange]:
        """The time zones a subject has had, with the date each took effect."""
        return ep.TIMEZONE_HISTORY.pager(self._client, study_id, subject_id, paging=paging)

    async def create(
        self,
        study_id: int,
        *,
        subject_identifier: str | None = None,
        site_id: int | None = None,
        **fields: Any,
    ) -> Subject:
        """Create a subject; returns it as the API made it (201).

        ``subject_identifier`` (unique in the study, without the site prefix) and ``site_id``
        are required. ``fields``: ``dob`` (a ``date``), ``gender``, ``weight``,
        ``weight_unit``, ``height``, ``height_unit``, ``wear_position``, ``timezone``; the
        site decides which it requires. Never sent twice unless it surely never arrived.
        """
        body = {
            "subjectIdentifier": _required_text(subject_identifier, "subject_identifier"),
            "siteId": _required_id(site_id, "site_id"),
            **_fields(fields, SUBJECT_FIELDS),
        }
        subject: Subject = await ep.SUBJECT_CREATE.call(self._client, study_id, json=body)
        return subject

    async def update(
        self, study_id: int, subject_id: int, *, change_reason: str | None = None, **fields: Any
    ) -> Subject:
        """Edit a subject; ``change_reason`` is required (it goes to the audit trail).

        ``fields`` as for :meth:`create` (the site cannot change). Returns the subject as it
        now is (read again when the API answers without a body). Never sent twice unless it
        surely never arrived.
        """
        body = {"changeReason": _required_text(change_reason, "change_reason")}
        body.update(_fields(fields, SUBJECT_FIELDS))
        if "siteId" in body or "site_id" in fields:
            raise ConfigurationError("a subject's site cannot be changed")
        answer = await self._client.request(
            "PUT", ep.SUBJECT_UPDATE.fill((study_id, subject_id)), json=body
        )
        if isinstance(answer, dict) and answer:
            subject: Subject = ep.SUBJECT_UPDATE.read("PUT subject")(answer)
            return subject
        return await self.get(study_id, subject_id)

    async def device_pin(self, study_id: int, subject_id: int) -> DevicePin:
        """A new PIN to pair the subject's phone (CentrePoint Connect)."""
        pin: DevicePin = await ep.DEVICE_PIN.call(self._client, study_id, subject_id)
        return pin


class ActivityMonitors(Namespace):
    """``client.activity_monitors``: a study's device inventory."""

    __slots__ = ()

    def list(self, study_id: int, **paging: Unpack[Paging]) -> AsyncPager[ActivityMonitor]:
        """Every device of a study."""
        return ep.ACTIVITY_MONITORS.pager(self._client, study_id, paging=paging)

    async def get(self, study_id: int, serial: str) -> ActivityMonitor:
        """One device by serial number (e.g. ``"TAS1Z12345678"``)."""
        monitor: ActivityMonitor = await ep.ACTIVITY_MONITOR.call(self._client, study_id, serial)
        return monitor


class Assignments(Namespace):
    """``client.assignments``: devices assigned to subjects, and the assignment workflow."""

    __slots__ = ()

    def list(self, study_id: int, **paging: Unpack[Paging]) -> AsyncPager[Assignment]:
        """Every assignment of a study."""
        return ep.ASSIGNMENTS.pager(self._client, study_id, paging=paging)

    async def get(self, study_id: int, assignment_id: int) -> Assignment:
        """One assignment."""
        found: Assignment = await ep.ASSIGNMENT.call(self._client, study_id, assignment_id)
        return found

    async def create(
        self,
        study_id: int,
        *,
        subject_id: int | None = None,
        activity_monitor_serial: str | None = None,
    ) -> Assignment:
        """Assign a device to a subject: a partial assignment (``Incomplete Assignment``),
        completed when the device is docked. Never sent twice unless it surely never arrived."""
        body = {
            "subjectId": _required_id(subject_id, "subject_id"),
            "activityMonitorSerial": _required_text(
                activity_monitor_serial, "activity_monitor_serial"
            ),
        }
        created: Assignment = await ep.ASSIGNMENT_CREATE.call(self._client, study_id, json=body)
        return created

    async def stop(self, study_id: int, assignment_id: int) -> Assignment:
        """Stop the device's collection (``Collection Stopped``); docking it again ends it."""
        return await self._set_status(study_id, assignment_id, "Collection Stopped")

    async def force_end(self, study_id: int, assignment_id: int) -> Assignment:
        """End an assignment whose device is lost or broken (``Forcefully Ended``)."""
        return await self._set_status(study_id, assignment_id, "Forcefully Ended")

    async def _set_status(self, study_id: int, assignment_id: int, status: str) -> Assignment:
        body = {"status": status}
        updated: Assignment = await ep.ASSIGNMENT_UPDATE.call(
            self._client, study_id, assignment_id, json=body
        )
        return updated


class Milestones(Namespace):
    """``client.milestones``: the milestones defined for a study."""

    __slots__ = ()

    def list(self, study_id: int, **paging: Unpack[Paging]) -> AsyncPager[StudyMilestone]:
        """Every milestone of a study."""
        return ep.STUDY_MILESTONES.pager(self._client, study_id, paging=paging)


class Uploads(Namespace):
    """``client.uploads``: a subject's uploads."""

    __slots__ = ()

    def list(self, study_id: int, subject_id: int, **paging: Unpack[Paging]) -> AsyncPager[Upload]:
        """Every upload of a subject, with its ``upload_files``."""
        return ep.UPLOADS.pager(self._client, study_id, subject_id, paging=paging)

    async def get(self, study_id: int, subject_id: int, upload_id: int) -> Upload:
        """One upload."""
        upload: Upload = await ep.UPLOAD.call(self._client, study_id, subject_id, upload_id)
        return upload


class WebhookEvents(Namespace):
    """``client.webhook_events``: the kinds of events webhooks can subscribe to."""

    __slots__ = ()

    def list(self, **paging: Unpack[Paging]) -> AsyncPager[WebhookEvent]:
        """Every webhook event type."""
        return ep.WEBHOOK_EVENTS.pager(self._client, paging=paging)


def _delivery_id(item: Any) -> Any:
    return item.id


class Webhooks(Namespace):
    """``client.webhooks``: a study's webhook registrations and their delivery history."""

    __slots__ = ()

    def list(self, study_id: int, **paging: Unpack[Paging]) -> AsyncPager[Webhook]:
        """The webhooks a study is subscribed to."""
        return ep.WEBHOOKS.pager(self._client, study_id, paging=paging)

    async def get(self, study_id: int, webhook_id: int) -> Webhook:
        """One webhook registration."""
        hook: Webhook = await ep.WEBHOOK.call(self._client, study_id, webhook_id)
        return hook

    def history(
        self, study_id: int, webhook_id: int, **paging: Unpack[Paging]
    ) -> AsyncPager[WebhookDelivery]:
        """Every delivery attempt of a webhook, in the order the server lists them."""
        path = _history_path(study_id, webhook_id)
        return self._client.paginate(path, structure_delivery, key=_delivery_id, **paging)

    def raw_history(
        self, study_id: int, webhook_id: int, **paging: Unpack[Paging]
    ) -> AsyncPager[Any]:
        """The same deliveries as :meth:`history`, each exactly as the API sent it.

        Items are the decoded JSON (a dict per delivery, nothing parsed or renamed; anything
        else the server sends is passed on unchanged), for exports that must keep every byte
        of meaning. Paging, ordering, repeats dropped by ``id`` (a number or its text alike)
        and ``resume_offset`` are those of :meth:`history`.
        """
        path = _history_path(study_id, webhook_id)
        return self._client.paginate(path, None, key=raw_id, **paging)


def raw_id(item: Any) -> Any:
    """The ``id`` of a history item as sent (decoded JSON), an int whatever its JSON type."""
    return id_value(item.get("id")) if isinstance(item, dict) else None


def _history_path(study_id: int, webhook_id: int) -> str:
    return ep.HISTORY.fill((study_id, webhook_id))


class Analytics(Namespace):
    """``client.analytics``: a subject's analytics tables and the settings behind them
    (scope ``Analytics``).

    ``from_date``/``to_date`` are inclusive; a ``date`` is sent as ``YYYY-MM-DD``, a naive
    ``datetime`` as is (the subject's local time), an aware one in UTC. ``setting_id`` picks
    one setting's rows when the study has several.
    """

    __slots__ = ()

    def _table(
        self,
        endpoint: ep.Endpoint[T],
        study_id: int,
        subject_id: int,
        from_date: When | None,
        to_date: When | None,
        setting_id: str | None,
        paging: Paging,
    ) -> AsyncPager[T]:
        """A subject's table between two dates (the four tables take the same filters)."""
        return endpoint.pager(
            self._client,
            study_id,
            subject_id,
            paging=paging,
            from_date=from_date,
            to_date=to_date,
            setting_id=setting_id,
        )

    def minute_summaries(
        self,
        study_id: int,
        subject_id: int,
        *,
        from_date: When | None = None,
        to_date: When | None = None,
        setting_id: str | None = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[MinuteSummary]:
        """One row per minute (1,440 a day, 15 pages of 100)."""
        return self._table(
            ep.MINUTE_SUMMARIES, study_id, subject_id, from_date, to_date, setting_id, paging
        )

    def daily_statistics(
        self,
        study_id: int,
        subject_id: int,
        *,
        from_date: When | None = None,
        to_date: When | None = None,
        setting_id: str | None = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[DailyStatistic]:
        """One row per day, with every aggregation the study computes."""
        return self._table(
            ep.DAILY_STATISTICS, study_id, subject_id, from_date, to_date, setting_id, paging
        )

    def sleep_periods(
        self,
        study_id: int,
        subject_id: int,
        *,
        from_date: When | None = None,
        to_date: When | None = None,
        setting_id: str | None = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[SleepPeriod]:
        """Dustin-Tracy sleep periods (``setting_id``: its ``algorithmSettingId``)."""
        return self._table(
            ep.SLEEP_PERIODS, study_id, subject_id, from_date, to_date, setting_id, paging
        )

    def event_markers(
        self,
        study_id: int,
        subject_id: int,
        *,
        from_date: When | None = None,
        to_date: When | None = None,
        setting_id: str | None = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[EventMarker]:
        """Button presses of CentrePoint Insight Watches."""
        return self._table(
            ep.EVENT_MARKERS, study_id, subject_id, from_date, to_date, setting_id, paging
        )

    def algorithm_settings(
        self, study_id: int, *, algorithm_type: str | None = None, **paging: Unpack[Paging]
    ) -> AsyncPager[AlgorithmSetting]:
        """The algorithms configured for a study (``algorithm_type``: e.g. "UWF Steps")."""
        return ep.ALGORITHM_SETTINGS.pager(
            self._client, study_id, paging=paging, algorithm_type=algorithm_type
        )

    def minute_summary_settings(
        self, study_id: int, *, ids: list[str] | None = None, **paging: Unpack[Paging]
    ) -> AsyncPager[SummarySetting]:
        """The settings of the study's minute summaries (``ids``: only these)."""
        return ep.MINUTE_SUMMARY_SETTINGS.pager(self._client, study_id, paging=paging, ids=ids)

    async def minute_summary_setting(self, study_id: int, setting_id: str) -> SummarySetting:
        """One minute summary setting."""
        found: SummarySetting = await ep.MINUTE_SUMMARY_SETTING.call(
            self._client, study_id, setting_id
        )
        return found

    def daily_statistics_settings(
        self, study_id: int, *, ids: list[str] | None = None, **paging: Unpack[Paging]
    ) -> AsyncPager[SummarySetting]:
        """The settings of the study's daily statistics (``ids``: only these)."""
        return ep.DAILY_STATISTICS_SETTINGS.pager(self._client, study_id, paging=paging, ids=ids)

    async def daily_statistics_setting(self, study_id: int, setting_id: str) -> SummarySetting:
        """One daily statistics setting."""
        found: SummarySetting = await ep.DAILY_STATISTICS_SETTING.call(
            self._client, study_id, setting_id
        )
        return found

    def sleep_period_settings(
        self, study_id: int, *, ids: list[str] | None = None, **paging: Unpack[Paging]
    ) -> AsyncPager[AlgorithmSetting]:
        """The Dustin-Tracy sleep period settings (with their ``settings`` parameters)."""
        return ep.SLEEP_PERIOD_SETTINGS.pager(self._client, study_id, paging=paging, ids=ids)

    async def sleep_period_setting(self, study_id: int, setting_id: str) -> AlgorithmSetting:
        """One sleep period setting."""
        found: AlgorithmSetting = await ep.SLEEP_PERIOD_SETTING.call(
            self._client, study_id, setting_id
        )
        return found

    def event_marker_settings(
        self, study_id: int, *, ids: list[str] | None = None, **paging: Unpack[Paging]
    ) -> AsyncPager[AlgorithmSetting]:
        """The event marker settings."""
        return ep.EVENT_MARKER_SETTINGS.pager(self._client, study_id, paging=paging, ids=ids)

    async def event_marker_setting(self, study_id: int, setting_id: str) -> AlgorithmSetting:
        """One event marker setting."""
        found: AlgorithmSetting = await ep.EVENT_MARKER_SETTING.call(
            self._client, study_id, setting_id
        )
        return found


class DailyStatistics(Namespace):
    """``client.daily_statistics`` (0.2): a subject's daily statistics as the objects a
    ``daily_statistics_complete`` event carries; ``client.analytics.daily_statistics`` gives
    every field of the API."""

    __slots__ = ()

    def list(
        self, study_id: int, subject_id: int, **paging: Unpack[Paging]
    ) -> AsyncPager[DailyStatisticsCompleteEvent]:
        """Every day of statistics."""
        return ep.DAILY_STATISTICS_EVENTS.pager(self._client, study_id, subject_id, paging=paging)


class DataAccess(Namespace):
    """``client.data_access``: pre-made day files of each subject and sensor, and the
    programs ActiGraph runs for a study (scope ``DataAccess``)."""

    __slots__ = ()

    def files(
        self,
        study_id: int,
        subject_id: int,
        category: DataCategory | str,
        *,
        start: When | None = None,
        end: When | None = None,
        file_format: FileFormat | None = None,
        sort_order: SortOrder = "asc",
        year: int | None = None,
        month: int | None = None,
        day: int | None = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[DataAccessFile]:
        """A subject's day files of one category, by date.

        ``start``/``end`` (inclusive) bound the range; or ``year`` (with ``month``, and
        ``day``) picks the by-year/month/day routes. ``file_format`` ``"csv"`` or ``"avro"``
        (without it the API lists both, one item each a day). Categories other than the seven
        documented are sent as given (the API adds categories over time).
        """
        ids: tuple[object, ...] = (study_id, subject_id, check_category(category))
        filters: dict[str, Any] = {
            "sort_order": _choice(sort_order, ("asc", "desc"), "sort_order"),
            "file_format": None
            if file_format is None
            else _choice(file_format, ("csv", "avro"), "file_format"),
        }
        if year is None:
            if month is not None or day is not None:
                raise ConfigurationError("month and day need a year")
            endpoint = ep.DATA_ACCESS_FILES
            filters.update(start=start, end=end)
        else:
            if start is not None or end is not None:
                raise ConfigurationError("give start/end or year/month/day, not both")
            endpoint, route = _calendar_route(year, month, day)
            ids += route
        return endpoint.pager(self._client, *ids, paging=paging, **filters)

    async def download(
        self,
        data_access_file: DataAccessFile,
        dest: str | os.PathLike[str],
        *,
        max_attempts: int = 8,
        read_timeout: float = 60.0,
        min_rate: float = MIN_RATE,
    ) -> Path:
        """Download a day file to ``dest`` (a directory keeps its ``fileName``, else a path).

        Streamed to ``<name>.part`` and resumed with ``Range`` after a failure (a part left by
        an earlier run of the same version of the day is continued; another is discarded);
        verified before it gets its name (the storage host's size; a ``.csv.gz`` is a whole
        gzip stream, an ``.avro`` starts with the Avro magic); renamed atomically. An expired
        link is renewed by listing that day again; the bearer token never goes to the storage
        host. A server-given name that is unsafe is a :class:`DecodeError` before anything is
        written; a day processed again under a new name meanwhile is a :class:`DownloadError`
        (list it again). Returns the final path.
        """
        path = destination(dest, data_access_file.file_name)
        modified = data_access_file.modified_date
        done = await download_file(
            self._client.storage_session(),
            path,
            lambda: self._renew(data_access_file),
            link=_link(data_access_file),
            version=None if modified is None else modified.isoformat(),
            max_attempts=max_attempts,
            read_timeout=read_timeout,
            min_rate=min_rate,
            proxy_for=self._client.storage_proxy,
        )
        return done.path

    async def _renew(self, stale: DataAccessFile) -> Link:
        """A fresh link for ``stale``'s day: that day listed again."""
        study, subject, category, when = (
            stale.study_id,
            stale.subject_id,
            stale.data_category,
            stale.date,
        )
        if study is None or subject is None or category is None or when is None:
            raise DownloadError(f"{stale.file_name}: its link expired and its day is unknown")
        day = when.date()
        listing = self.files(
            study,
            subject,
            category,
            start=day,
            end=day,
            file_format=cast(FileFormat | None, stale.file_format),
        )
        async for fresh in listing:
            if fresh.file_name == stale.file_name:
                if fresh.modified_date != stale.modified_date:  # new bytes: never mixed in
                    raise DownloadError(
                        f"{stale.file_name}: processed again since it was listed "
                        f"(modifiedDate {fresh.modified_date}): list the day again"
                    )
                link = _link(fresh)
                if link is not None:
                    return link
        raise DownloadError(
            f"{stale.file_name}: no longer listed for {day} (processed again under another "
            "name, or removed): list the day again"
        )

    def programs(self, study_id: int, **paging: Unpack[Paging]) -> AsyncPager[StudyProgram]:
        """The programs ActiGraph runs for a study (empty until processing was asked for)."""
        return ep.PROGRAMS.pager(self._client, study_id, paging=paging)

    async def program(self, study_id: int, program_id: str) -> StudyProgram:
        """One study program."""
        found: StudyProgram = await ep.PROGRAM.call(self._client, study_id, program_id)
        return found

    def datasets(
        self, study_id: int, program_id: str, **paging: Unpack[Paging]
    ) -> AsyncPager[StudyDataset]:
        """The datasets a program produces."""
        return ep.DATASETS.pager(self._client, study_id, program_id, paging=paging)

    def dataset_files(
        self,
        study_id: int,
        *,
        subject_id: int | None = None,
        program_id: str | None = None,
        dataset_name: str | None = None,
        **paging: Unpack[Paging],
    ) -> AsyncPager[DatasetFile]:
        """The files of a study's datasets, optionally of one subject, program or dataset."""
        return ep.DATASET_FILES.pager(
            self._client,
            study_id,
            paging=paging,
            subject_id=subject_id,
            program_id=program_id,
            dataset_name=dataset_name,
        )

    def export_subjects(self, study_id: int, **paging: Unpack[Paging]) -> AsyncPager[ExportSubject]:
        """Each subject's last raw upload and its programs' last successful runs."""
        return ep.EXPORT_SUBJECTS.pager(self._client, study_id, paging=paging)

    async def export_subject(self, study_id: int, subject_id: int) -> ExportSubject:
        """One subject's processing state."""
        found: ExportSubject = await ep.EXPORT_SUBJECT.call(self._client, study_id, subject_id)
        return found


def _link(found: DataAccessFile) -> Link | None:
    """The file's pre-signed link, if the listing gave one."""
    if not found.download_url:
        return None
    return Link(found.download_url, found.download_url_expires_on)


_CATEGORY = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def check_category(category: str) -> str:
    """``category`` if it reads as a Data Access category (documented or not), else an error."""
    if not isinstance(category, str) or not _CATEGORY.fullmatch(category):
        raise ConfigurationError(
            f"category must be one of {', '.join(DATA_CATEGORIES)} (or a newer one of the same "
            f"form), got {category!r}"
        )
    return category


def _calendar_route(
    year: int, month: int | None, day: int | None
) -> tuple[ep.Endpoint[DataAccessFile], tuple[object, ...]]:
    """The by-year, by-month or by-day route and its path values."""
    checked = _bounded(year, "year", 1, 9999)
    if month is None:
        if day is not None:
            raise ConfigurationError("day needs a month")
        return ep.DATA_ACCESS_FILES_YEAR, (checked,)
    if day is None:
        return ep.DATA_ACCESS_FILES_MONTH, (checked, _bounded(month, "month", 1, 12))
    try:
        date(year, month, day)
    except (TypeError, ValueError):
        raise ConfigurationError(f"no such day: {year}-{month}-{day}") from None
    return ep.DATA_ACCESS_FILES_DAY, (year, month, day)


def _bounded(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise ConfigurationError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _choice(value: object, choices: tuple[str, ...], name: str) -> str:
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _required_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} is required (non-empty text), got {value!r}")
    return value


def _required_id(value: object, name: str) -> int:
    if value is None:
        raise ConfigurationError(f"{name} is required")
    return check_id(value, name)


def _fields(given: Mapping[str, Any], known: Mapping[str, str]) -> dict[str, Any]:
    """The JSON of a write's optional fields (unknown keywords refused, ``None`` left out)."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigurationError(
            f"unknown field(s) {', '.join(unknown)}; expected some of {', '.join(known)}"
        )
    body: dict[str, Any] = {}
    for keyword, value in given.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        body[known[keyword]] = value
    return body
