"""Typed models of CentrePoint resources and webhook event payloads.

All are frozen, slotted ``attrs`` classes with snake_case fields, and plain data: no validators,
converters or ``__attrs_post_init__`` (the converter's generated builders rely on it, and check
it). They are built by the one converter in ``_converter`` (its docstring lists the rules); a
resource's ``id`` is required, any other value the API leaves out is ``None`` (or an empty tuple
for lists). Resources are read leniently, event payloads (``_Payload``) strictly: the class
attribute ``lenient`` says which (the converter's rule 6). The history items
(``WebhookDelivery`` and its request and response) live in ``_deliveries``: they parse headers
and payloads lazily through the converter. Event classes keep the keys they do not know in
``extra``, under their original JSON names. Fields whose JSON name is not the plain camelCase
of the field name say so in ``metadata={"json": ...}``; an optional datetime the API may send
as ``0001-01-01T00:00:00+00:00`` for "never" says ``metadata={"never": True}``.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal, cast

import attrs

__all__ = [
    "BoutCount",
    "Cp2DailyStatisticsCompleteEvent",
    "CrouterAggregation",
    "DailyStatisticsCompleteEvent",
    "DataFile",
    "DataRetrievalCompleteEvent",
    "EpochAggregation",
    "Event",
    "FreedsonAggregation",
    "RawProcessingCompleteEvent",
    "StaudenmayerAggregation",
    "StepsAggregation",
    "Study",
    "UnknownEvent",
    "UploadEvent",
    "ValidationEvent",
    "Webhook",
    "WebhookEvent",
]

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxdict = 6
_repr.maxlist = 6
_MAX_REPR = 400


def _alias(name: str) -> Any:
    return attrs.field(default=None, metadata={"json": name})


class _Model:
    """Base of every model: a ``repr`` that shows set fields only and stays short."""

    __slots__ = ()
    #: How JSON keys are spelled when the model is written back out.
    json_style: ClassVar[Literal["camel", "snake", "pascal"]] = "camel"
    #: The converter's rule 6: a value that cannot be read leaves its field at the default
    #: (resources), rather than failing the whole object (event payloads: ``_Payload``).
    lenient: ClassVar[bool] = True

    def __repr__(self) -> str:
        shown = []
        for field in attrs.fields(cast(Any, type(self))):
            value = getattr(self, field.name)
            if not field.repr or value is None or value in ((), {}):
                continue
            shown.append(f"{field.name}={_repr.repr(value)}")
        text = f"{type(self).__name__}({', '.join(shown)})"
        return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 4] + "...)"


# --- resources -------------------------------------------------------------------------------


@attrs.frozen(repr=False)
class Study(_Model):
    """A CentrePoint study."""

    id: int
    name: str | None = None
    organization_name: str | None = None
    created_date_time: datetime | None = None
    study_status: str | None = None  # e.g. "Active"
    default_wear_position: str | None = None
    wear_positions: tuple[str, ...] = ()
    monitor_data_collection_mode: str | None = None  # e.g. "Raw Only", "Epoch+Raw"


@attrs.frozen(repr=False)
class WebhookEvent(_Model):
    """A kind of event a webhook can subscribe to (``upload``, ``raw_processing_complete``...)."""

    id: int
    name: str | None = None
    description: str | None = None


@attrs.frozen(repr=False)
class Webhook(_Model):
    """A webhook registration of a study."""

    id: int
    study_id: int | None = None
    url: str | None = None
    created_date: datetime | None = None
    is_disabled: bool | None = None
    webhook_events: tuple[WebhookEvent, ...] = ()


# --- event payloads --------------------------------------------------------------------------


class _Payload(_Model):
    """Base of event payloads and their parts: read strictly (a value that cannot be read
    makes the whole payload an ``UnknownEvent``)."""

    __slots__ = ()
    lenient: ClassVar[bool] = False


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False)
class UploadEvent(_Payload):
    """``upload``: EPOCH processing of an upload started, completed or failed."""

    status: str | None = None  # "started", "completed" or "error"
    upload_id: int | None = None
    study_id: int | None = None
    subject_id: int | None = None
    message: str | None = None  # error only
    first_epoch_utc: datetime | None = _alias("firstEpochUTC")
    first_epoch_subject_tz: datetime | None = _alias("firstEpochSubjectTZ")
    last_epoch_utc: datetime | None = _alias("lastEpochUTC")
    last_epoch_subject_tz: datetime | None = _alias("lastEpochSubjectTZ")
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class RawProcessingCompleteEvent(_Payload):
    """``raw_processing_complete``: RAW sub-second data of an upload is processed."""

    json_style: ClassVar[Literal["camel", "snake", "pascal"]] = "snake"
    study_id: int | None = None
    subject_id: int | None = None
    subject_identifier: str | None = None
    monitor_serial: str | None = None
    created_at_utc: datetime | None = None
    min_event_timestamp: datetime | None = None
    max_event_timestamp: datetime | None = None
    status: str | None = None  # "Completed" or "Error"
    error_message: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class DataFile(_Payload):
    """One file made by a data retrieval request."""

    json_style: ClassVar[Literal["camel", "snake", "pascal"]] = "snake"
    monitor_serial: str | None = None
    file_type: str | None = None  # e.g. "avro", "summary"
    min_event_timestamp: datetime | None = None
    max_event_timestamp: datetime | None = None
    file_size: int | None = None
    file_index: int | None = None
    file_name: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class DataRetrievalCompleteEvent(_Payload):
    """``data_retrieval_complete``: files of a data retrieval request are ready."""

    json_style: ClassVar[Literal["camel", "snake", "pascal"]] = "snake"
    client_id: str | None = None
    tracking_id: str | None = None
    study_id: int | None = None
    subject_id: int | None = None
    subject_identifier: str | None = None
    created_at_utc: datetime | None = None
    started_at_utc: datetime | None = None
    completed_at_utc: datetime | None = None
    request_status: str | None = None
    error_message: str | None = None
    files: tuple[DataFile, ...] = ()
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class EpochAggregation(_Payload):
    """Daily summary of epoch data (minutes, axis counts, vector magnitudes, epoch times)."""

    wear_minutes: float | None = None
    non_wear_minutes: float | None = None
    sleep_minutes: float | None = None
    awake_minutes: float | None = None
    wear_awake_minutes: float | None = None
    wear_sleep_minutes: float | None = None
    total_non_filtered_minutes: float | None = None
    total_non_filtered_axis_x_counts: float | None = None
    total_non_filtered_axis_y_counts: float | None = None
    total_non_filtered_axis_z_counts: float | None = None
    wear_filtered_axis_x_counts: float | None = None
    wear_filtered_axis_y_counts: float | None = None
    wear_filtered_axis_z_counts: float | None = None
    wear_awake_filtered_axis_x_counts: float | None = None
    wear_awake_filtered_axis_y_counts: float | None = None
    wear_awake_filtered_axis_z_counts: float | None = None
    wear_sleep_filtered_axis_x_counts: float | None = None
    wear_sleep_filtered_axis_y_counts: float | None = None
    wear_sleep_filtered_axis_z_counts: float | None = None
    total_non_filtered_vector_magnitude: float | None = None
    wear_filtered_vector_magnitude: float | None = None
    wear_awake_filtered_vector_magnitude: float | None = None
    wear_sleep_filtered_vector_magnitude: float | None = None
    first_epoch_date_time_utc: datetime | None = None
    last_epoch_date_time_utc: datetime | None = None
    first_epoch_date_time_local: datetime | None = None
    last_epoch_date_time_local: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class FreedsonAggregation(_Payload):
    """Freedson Adult (VA) cut points: minutes by intensity, by wear/awake/sleep filter."""

    non_filtered_va_sedentary: float | None = None
    non_filtered_va_light: float | None = None
    non_filtered_va_moderate: float | None = None
    non_filtered_va_vigorous: float | None = None
    non_filtered_va_very_vigorous: float | None = None
    wear_filtered_va_sedentary: float | None = None
    wear_filtered_va_light: float | None = None
    wear_filtered_va_moderate: float | None = None
    wear_filtered_va_vigorous: float | None = None
    wear_filtered_va_very_vigorous: float | None = None
    wear_awake_filtered_va_sedentary: float | None = None
    wear_awake_filtered_va_light: float | None = None
    wear_awake_filtered_va_moderate: float | None = None
    wear_awake_filtered_va_vigorous: float | None = None
    wear_awake_filtered_va_very_vigorous: float | None = None
    wear_sleep_filtered_va_sedentary: float | None = None
    wear_sleep_filtered_va_light: float | None = None
    wear_sleep_filtered_va_moderate: float | None = None
    wear_sleep_filtered_va_vigorous: float | None = None
    wear_sleep_filtered_va_very_vigorous: float | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class StaudenmayerAggregation(_Payload):
    """Staudenmayer cut points: intensity, sedentary and locomotion minutes, by filter."""

    non_filtered_light: float | None = None
    non_filtered_moderate: float | None = None
    non_filtered_vigorous: float | None = None
    non_filtered_mvpa: float | None = None
    non_filtered_sedentary: float | None = None
    non_filtered_non_sedentary: float | None = None
    non_filtered_locomotion: float | None = None
    non_filtered_non_locomotion: float | None = None
    wear_filtered_light: float | None = None
    wear_filtered_moderate: float | None = None
    wear_filtered_vigorous: float | None = None
    wear_filtered_mvpa: float | None = None
    wear_filtered_sedentary: float | None = None
    wear_filtered_non_sedentary: float | None = None
    wear_filtered_locomotion: float | None = None
    wear_filtered_non_locomotion: float | None = None
    wear_awake_filtered_light: float | None = None
    wear_awake_filtered_moderate: float | None = None
    wear_awake_filtered_vigorous: float | None = None
    wear_awake_filtered_mvpa: float | None = None
    wear_awake_filtered_sedentary: float | None = None
    wear_awake_filtered_non_sedentary: float | None = None
    wear_awake_filtered_locomotion: float | None = None
    wear_awake_filtered_non_locomotion: float | None = None
    wear_sleep_filtered_light: float | None = None
    wear_sleep_filtered_moderate: float | None = None
    wear_sleep_filtered_vigorous: float | None = None
    wear_sleep_filtered_mvpa: float | None = None
    wear_sleep_filtered_sedentary: float | None = None
    wear_sleep_filtered_non_sedentary: float | None = None
    wear_sleep_filtered_locomotion: float | None = None
    wear_sleep_filtered_non_locomotion: float | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class CrouterAggregation(_Payload):
    """Crouter-Child cut points, vector magnitude (VM) and vertical axis (VA), by filter."""

    non_filtered_vm_sedentary: float | None = None
    non_filtered_vm_light: float | None = None
    non_filtered_vm_moderate: float | None = None
    non_filtered_vm_vigorous: float | None = None
    non_filtered_vm_mvpa: float | None = None
    wear_filtered_vm_sedentary: float | None = None
    wear_filtered_vm_light: float | None = None
    wear_filtered_vm_moderate: float | None = None
    wear_filtered_vm_vigorous: float | None = None
    wear_filtered_vm_mvpa: float | None = None
    wear_awake_filtered_vm_sedentary: float | None = None
    wear_awake_filtered_vm_light: float | None = None
    wear_awake_filtered_vm_moderate: float | None = None
    wear_awake_filtered_vm_vigorous: float | None = None
    wear_awake_filtered_vm_mvpa: float | None = None
    wear_sleep_filtered_vm_sedentary: float | None = None
    wear_sleep_filtered_vm_light: float | None = None
    wear_sleep_filtered_vm_moderate: float | None = None
    wear_sleep_filtered_vm_vigorous: float | None = None
    wear_sleep_filtered_vm_mvpa: float | None = None
    non_filtered_va_sedentary: float | None = None
    non_filtered_va_light: float | None = None
    non_filtered_va_moderate: float | None = None
    non_filtered_va_vigorous: float | None = None
    non_filtered_va_mvpa: float | None = None
    wear_filtered_va_sedentary: float | None = None
    wear_filtered_va_light: float | None = None
    wear_filtered_va_moderate: float | None = None
    wear_filtered_va_vigorous: float | None = None
    wear_filtered_va_mvpa: float | None = None
    wear_awake_filtered_va_sedentary: float | None = None
    wear_awake_filtered_va_light: float | None = None
    wear_awake_filtered_va_moderate: float | None = None
    wear_awake_filtered_va_vigorous: float | None = None
    wear_awake_filtered_va_mvpa: float | None = None
    wear_sleep_filtered_va_sedentary: float | None = None
    wear_sleep_filtered_va_light: float | None = None
    wear_sleep_filtered_va_moderate: float | None = None
    wear_sleep_filtered_va_vigorous: float | None = None
    wear_sleep_filtered_va_mvpa: float | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class StepsAggregation(_Payload):
    """Daily steps by filter (MAVMv1 ``mavmAggregation`` and UWF ``uwfAggregations``)."""

    non_filtered_steps: float | None = None
    wear_filtered_steps: float | None = None
    wear_awake_filtered_steps: float | None = None
    wear_sleep_filtered_steps: float | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class DailyStatisticsCompleteEvent(_Payload):
    """``daily_statistics_complete``: a subject's daily aggregates are ready.

    The algorithm aggregations are documented as objects but sent as arrays of objects:
    both arrive here as tuples.
    """

    id: int | None = None
    study_id: int | None = None
    site_id: int | None = None
    subject_id: int | None = None
    subject_identifier: str | None = None
    date: datetime | None = None  # in the subject's time zone
    activity_monitor_serials: tuple[str, ...] = ()
    epoch_aggregation: EpochAggregation | None = None
    freedson_aggregations: tuple[FreedsonAggregation, ...] = ()
    staudenmayer_aggregations: tuple[StaudenmayerAggregation, ...] = ()
    crouter_aggregations: tuple[CrouterAggregation, ...] = ()
    uwf_aggregations: tuple[StepsAggregation, ...] = ()
    mavm_aggregation: StepsAggregation | None = None
    first_epoch_date_time_utc: datetime | None = None
    last_epoch_date_time_utc: datetime | None = None
    first_epoch_date_time_local: datetime | None = None
    last_epoch_date_time_local: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class BoutCount(_Payload):
    """A named bucket and its count (``bouts`` and ``cutpoints`` of CP2 daily statistics)."""

    name: str | None = None
    count: float | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class Cp2DailyStatisticsCompleteEvent(_Payload):
    """``cp2_daily_statistics_complete``: CP2 daily statistics of a subject are ready."""

    study_id: int | None = None
    subject_id: int | None = None
    site_id: int | None = None
    day_stat_id: int | None = None
    subject_identifier: str | None = None
    date: datetime | None = None
    bouts: tuple[BoutCount, ...] = ()
    calories: float | None = None
    cutpoints: tuple[BoutCount, ...] = ()
    axis_x_counts: float | None = None
    axis_y_counts: float | None = None
    axis_z_counts: float | None = None
    epochs: float | None = None
    mvpa: float | None = None
    steps: float | None = None
    total_minutes: float | None = None
    mets: float | None = None
    wear_filtered_bouts: tuple[BoutCount, ...] = ()
    wear_filtered_calories: float | None = None
    wear_filtered_cut_points: tuple[BoutCount, ...] = ()
    wear_filtered_axis_x_counts: float | None = None
    wear_filtered_axis_y_counts: float | None = None
    wear_filtered_axis_z_counts: float | None = None
    wear_filtered_mvpa: float | None = None
    wear_filtered_steps: float | None = None
    wear_minutes: float | None = None
    wear_filtered_mets: float | None = None
    awake_wear_minutes: float | None = None
    awake_wear_filtered_axis_x_counts: float | None = None
    awake_wear_filtered_axis_y_counts: float | None = None
    awake_wear_filtered_axis_z_counts: float | None = None
    awake_wear_filtered_mvpa: float | None = None
    awake_wear_filtered_cut_points: tuple[BoutCount, ...] = ()
    awake_wear_filtered_bouts: tuple[BoutCount, ...] = ()
    awake_wear_filtered_calories: float | None = None
    awake_wear_filtered_steps: float | None = None
    awake_wear_filtered_mets: float | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class ValidationEvent(_Payload):
    """``validation``: the handshake CentrePoint sends before a webhook goes live."""

    json_style: ClassVar[Literal["camel", "snake", "pascal"]] = "pascal"
    webhook_id: int | None = None
    validation_code: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class UnknownEvent(_Payload):
    """An event of a name we do not know, or a body that does not fit its type.

    ``data`` is what could be read: the decoded JSON, or the raw text if it is not JSON.
    """

    name: str = ""
    data: Any = None


#: Any typed event payload: the union narrowed by ``isinstance`` or ``match``.
Event = (
    UploadEvent
    | RawProcessingCompleteEvent
    | DataRetrievalCompleteEvent
    | DailyStatisticsCompleteEvent
    | Cp2DailyStatisticsCompleteEvent
    | ValidationEvent
    | UnknownEvent
)
