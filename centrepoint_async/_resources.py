"""Models of a study's resources (scope ``CentrePoint``) and of data retrieval requests.

Frozen attrs classes built by the one converter (``_converter.builder(cls, lenient=True)``):
the identifying field is required, every other field is optional and read leniently (a value
that cannot be read is ``None``, never an error). Shapes follow ActiGraph's Sites, Subjects,
Activity Monitors, Assignments, Milestones, Uploads, Raw Activity Data Request and Epoch Data
Requests documents; values the documents give in two spellings are read in both.
"""

from __future__ import annotations

from datetime import date, datetime

import attrs

from ._models import _Model

__all__ = [
    "ActivityMonitor",
    "Assignment",
    "DataRetrievalFile",
    "DataRetrievalRequest",
    "DevicePin",
    "DownloadUrl",
    "Site",
    "StudyMilestone",
    "Subject",
    "SubjectMilestone",
    "TimezoneChange",
    "Upload",
    "UploadFile",
]


@attrs.frozen(repr=False)
class Site(_Model):
    """A site of a study (its ``timezone`` is a Windows-style display text, kept as sent)."""

    id: int
    study_id: int | None = None
    site_name: str | None = None
    site_identifier: str | None = None  # the prefix of its subjects' identifiers
    description: str | None = None
    require_dob: bool | None = None
    require_gender: bool | None = None
    require_weight: bool | None = None
    require_height: bool | None = None
    require_site_identifier: bool | None = None
    default_shipment_country_code: str | None = None  # e.g. "USA"
    depot: bool | None = None
    date_format: str | None = None  # a .NET format, e.g. "M/d/yyyy"
    default_weight_unit: str | None = None  # "Lbs" or "kg"
    default_height_unit: str | None = None  # "in" or "cm"
    timezone: str | None = None  # e.g. "(UTC +05:30) Asia/Kolkata"


@attrs.frozen(repr=False)
class Subject(_Model):
    """A subject (participant) of a study."""

    id: int
    study_id: int | None = None
    site_id: int | None = None
    site_identifier: str | None = None
    subject_identifier: str | None = None
    dob: date | None = None  # when the study collects it
    gender: str | None = None
    timezone: str | None = None  # IANA name, e.g. "Africa/Abidjan"
    wear_position: str | None = None
    weight: float | None = None
    weight_unit: str | None = None  # "Lbs" or "kg"
    height: float | None = None
    height_unit: str | None = None  # "cm" or "in"
    assignment_status: str | None = None  # e.g. "Not Assigned"
    assignment_id: int | None = None  # when assigned


@attrs.frozen(repr=False)
class SubjectMilestone(_Model):
    """A milestone a subject reached."""

    id: int
    name: str | None = None
    subject_id: int | None = None
    study_milestone_id: int | None = None
    timestamp: datetime | None = None  # UTC
    timestamp_subject_tz: datetime | None = attrs.field(
        default=None, metadata={"json": "timestampSubjectTZ"}
    )  # sent with the subject's offset; read as UTC


@attrs.frozen(repr=False)
class TimezoneChange(_Model):
    """An entry of a subject's time zone history."""

    effective_date_utc: datetime
    subject_id: int | None = None
    timezone: str | None = None  # IANA name


@attrs.frozen(repr=False)
class DevicePin(_Model):
    """A PIN that pairs a subject's phone with CentrePoint (``pin`` is text: "06093")."""

    pin: str
    subject_id: int | None = None
    expire_date: datetime | None = None


@attrs.frozen(repr=False)
class ActivityMonitor(_Model):
    """A device of a study's inventory."""

    serial: str  # e.g. "TAS1Z12345678"
    study_id: int | None = None
    site_id: int | None = None
    assignment_id: int | None = None
    assignment_status: str | None = None  # e.g. "Assigned"
    data_hub_serial_number: str | None = None
    description: str | None = None  # the model, e.g. "Link GT9X", where sent


@attrs.frozen(repr=False)
class Assignment(_Model):
    """A device assigned to a subject, and where its collection stands."""

    id: int
    activity_monitor_serial: str | None = None
    subject_id: int | None = None
    study_id: int | None = None
    status: str | None = None  # "Incomplete Assignment", "Collection Stopped", "Ended", ...
    created_date: datetime | None = None
    collection_started_date: datetime | None = None
    collection_stopped_date: datetime | None = None
    ended_date: datetime | None = None
    scheduled_collection_stop_date: datetime | None = None


@attrs.frozen(repr=False)
class StudyMilestone(_Model):
    """A milestone defined for a study."""

    id: int
    study_id: int | None = None
    name: str | None = None
    order: int | None = None


@attrs.frozen(repr=False)
class UploadFile(_Model):
    """One file received with an upload."""

    id: int
    file_type: str | None = None  # e.g. "RAW"
    total_records: int | None = None
    records_inserted: int | None = None
    begin_of_data: datetime | None = None
    end_of_data: datetime | None = None


@attrs.frozen(repr=False)
class Upload(_Model):
    """An upload of a subject's activity monitor."""

    id: int
    study_id: int | None = None
    subject_id: int | None = None
    activity_monitor_serial: str | None = None
    assignment_id: int | None = None
    date_uploaded_utc: datetime | None = None
    activity_monitor_battery_voltage: float | None = None
    activity_monitor_firmware: str | None = None
    activity_monitor_sample_rate_hz: int | None = None
    #: As sent: the documents show both a number and text (``"79%"``); see ``battery_percent``.
    activity_monitor_battery_percentage: str | None = None
    upload_files: tuple[UploadFile, ...] = ()

    @property
    def battery_percent(self) -> float | None:
        """The battery level as a number (``"79%"`` is 79.0), ``None`` if not sent or unreadable."""
        text = (self.activity_monitor_battery_percentage or "").strip().rstrip("%").strip()
        try:
            return float(text) if text else None
        except ValueError:
            return None


#: Statuses after which a request changes no more (compared in lower case).
FINAL_STATUSES = frozenset({"completed", "error"})


@attrs.frozen(repr=False)
class DataRetrievalRequest(_Model):
    """A raw activity or epoch data request, tracked by its ``id`` (a GUID).

    ``status`` is as sent (``pending``/``Pending``, ``processing``, ``completed``, ``error``):
    compare :attr:`state`, its lower-case form.
    """

    id: str
    status: str | None = None
    file_format: str | None = None  # as sent: "avro", "Csv", ...
    study_id: int | None = None
    subject_id: int | None = None
    begin_timestamp_utc: datetime | None = None
    end_timestamp_utc: datetime | None = None
    created_date_time_utc: datetime | None = None
    start_date_time_utc: datetime | None = None
    completed_date_time_utc: datetime | None = None
    summary_length_seconds: int | None = None  # epoch requests only
    include_partial_epochs: bool | None = None  # epoch requests only
    activity_monitor_serial: str | None = None  # epoch requests only

    @property
    def state(self) -> str:
        """``status`` in lower case (``""`` if absent)."""
        return (self.status or "").lower()

    @property
    def done(self) -> bool:
        """True once the request is completed or has failed."""
        return self.state in FINAL_STATUSES


@attrs.frozen(repr=False)
class DataRetrievalFile(_Model):
    """A file of a completed request (an item of the ``datafiles`` array)."""

    id: str  # a GUID
    file_name: str | None = None
    expiration_date_utc: datetime | None = None  # the file itself, not its download link
    file_size_bytes: int | None = None


@attrs.frozen(repr=False)
class DownloadUrl(_Model):
    """A pre-signed link to a data file on the storage host, valid for about two minutes."""

    # its query string is a credential; "" only if the answer had none (download_url() refuses it)
    download_url: str = attrs.field(default="", repr=False)
    expiration_date_utc: datetime | None = None
