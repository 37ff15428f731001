"""Models of the Data Access API (scope ``DataAccess``): day files, study programs, datasets.

Shapes follow ActiGraph's Data Access Files, Study Programs, DataSet Files and DataSet Export
Subjects documents. Their quirks are read as sent: a dataset file's link is ``fileUrl`` (a
day file's is ``downloadUrl``); study program ids are GUID text although documented as numbers;
"never" is ``0001-01-01T00:00:00+00:00`` (or ``null``) and is read as ``None``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._models import _Model

__all__ = [
    "DataAccessFile",
    "DatasetFile",
    "ExportSubject",
    "ProgramExecution",
    "StudyDataset",
    "StudyProgram",
]


def _never_is_none() -> Any:
    return attrs.field(default=None, metadata={"never": True})


@attrs.frozen(repr=False)
class DataAccessFile(_Model):
    """One day of one sensor category of a subject, as a file on the storage host.

    ``file_name`` is ``{category}_{YYYY-MM-DD}_{8 hex}.{csv.gz|avro}``; ``modified_date`` moves
    when the day is processed again. ``download_url`` is pre-signed (a credential: never shown)
    and expires at ``download_url_expires_on``; list that day again for a new one.
    """

    file_name: str
    study_id: int | None = None
    subject_id: int | None = None
    data_category: str | None = None  # e.g. "raw-accelerometer"
    date: datetime | None = None  # the day, midnight
    file_format: str | None = None  # "csv" or "avro"
    modified_date: datetime | None = None
    download_url: str | None = attrs.field(default=None, repr=False)
    download_url_expires_on: datetime | None = None


@attrs.frozen(repr=False)
class StudyProgram(_Model):
    """A program ActiGraph runs for a study (CPD processing), e.g. "Activity (30)"."""

    study_program_id: str  # a GUID
    study_id: int | None = None
    study_program_name: str | None = None


@attrs.frozen(repr=False)
class StudyDataset(_Model):
    """A dataset a study program produces (``data_set_name``, e.g. "ActivityDaily8")."""

    data_set_name: str
    study_program_id: str | None = None


@attrs.frozen(repr=False)
class DatasetFile(_Model):
    """A file of a program's dataset for one subject (a gzip CSV on the storage host).

    The API calls its link ``fileUrl``; it is pre-signed for about four hours.
    """

    file_name: str
    study_id: int | None = None
    study_version: int | None = None
    study_program_id: str | None = None
    data_set_name: str | None = None
    subject_id: int | None = None
    file_format: str | None = None
    modified_date: datetime | None = None
    last_successful_program_execution_time_stamp: datetime | None = None
    file_url: str | None = attrs.field(default=None, repr=False)
    download_url_expires_on: datetime | None = None


@attrs.frozen(repr=False)
class ProgramExecution(_Model):
    """When a study program last ran successfully for a subject (``None``: never)."""

    study_program_id: str | None = None
    study_program_name: str | None = None
    last_successful_program_execution_time_stamp: datetime | None = _never_is_none()


@attrs.frozen(repr=False)
class ExportSubject(_Model):
    """A subject's processing state: its last raw upload and its programs' last runs."""

    subject_id: int
    study_id: int | None = None
    last_raw_uploaded_time_stamp: datetime | None = _never_is_none()
    study_program_executions: tuple[ProgramExecution, ...] = ()
