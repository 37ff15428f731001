"""Models of the data pipeline's resources: subjects, uploads, data retrieval requests, files.

Frozen attrs classes built by the one converter (``_converter.builder(cls, lenient=True)``,
as the namespaces in ``_data_retrieval`` do): ids are required, every other field is optional
and read leniently. Shapes follow ActiGraph's Subjects, Uploads, Raw Activity
Data Request and Epoch Data Requests documents.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ._models import _Model

__all__ = [
    "DataRetrievalFile",
    "DataRetrievalRequest",
    "DownloadUrl",
    "Subject",
    "Upload",
    "UploadFile",
]


@attrs.frozen(repr=False)
class Subject(_Model):
    """A subject (participant) of a study."""

    id: int
    study_id: int | None = None
    site_id: int | None = None
    site_identifier: str | None = None
    subject_identifier: str | None = None
    dob: str | None = None  # a date ("1970-01-01"), when the study collects it
    gender: str | None = None
    timezone: str | None = None  # IANA name, e.g. "Africa/Abidjan"
    wear_position: str | None = None
    weight: float | None = None
    weight_unit: str | None = None  # "Lbs" or "Kg"
    assignment_status: str | None = None  # e.g. "Not Assigned"


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
    upload_files: tuple[UploadFile, ...] = ()


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
