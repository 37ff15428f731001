"""Models of the Analytics API (scope ``Analytics``): per-subject tables and their settings.

Minute summaries, daily statistics, Dustin-Tracy sleep periods and event markers, and the
algorithm settings that produced them. Shapes follow ActiGraph's Minute Summary, Daily
Statistics, Dustin Tracy Sleep Periods, Event Markers and Algorithm Settings documents, with
their quirks read as sent: aggregations documented as objects arrive as arrays (a tuple here,
one item as a rule), the generic cutpoint keys are PascalCase (``AlgorithmName``,
``CutpointBuckets``), the settings' ``cutPointSettingIds`` is also spelled
``cutpointSettingIds``. Keys the model does not know are kept in ``extra`` on the aggregations.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._models import (
    CrouterAggregation,
    EpochAggregation,
    FreedsonAggregation,
    StaudenmayerAggregation,
    StepsAggregation,
    _Model,
)

__all__ = [
    "AlgorithmSetting",
    "CutpointBucket",
    "DailyStatistic",
    "EventMarker",
    "EventMarkerAggregation",
    "EvensonAggregation",
    "GenericCutpointAggregation",
    "GenericCutpointMinute",
    "MetCalorieAggregation",
    "MinuteSummary",
    "SleepPeriod",
    "SummarySetting",
]


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False)


@attrs.frozen(repr=False)
class CutpointBucket(_Model):
    """Seconds of a minute in one bucket of a generic cutpoint (``{"Name", "NumberOfSeconds"}``)."""

    json_style = "pascal"

    name: str | None = None
    number_of_seconds: float | None = None


@attrs.frozen(repr=False)
class GenericCutpointMinute(_Model):
    """A generic cutpoint's buckets for one minute (sent with PascalCase keys)."""

    json_style = "pascal"

    minute_aggregation_settings_id: str | None = None
    algorithm_name: str | None = None  # e.g. "Kim VM Wrist"
    cutpoint_buckets: tuple[CutpointBucket, ...] = ()
    aggregate_buckets: tuple[CutpointBucket, ...] = ()
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class MinuteSummary(_Model):
    """One minute of a subject's activity (counts, wear, sleep, optional steps and METs)."""

    timestamp_utc: datetime
    subject_id: int | None = None
    study_id: int | None = None
    activity_monitor_serial: str | None = None
    minute_summary_settings_id: str | None = None
    is_wear: bool | None = None
    is_sleep: bool | None = None
    x: float | None = None
    y: float | None = None
    z: float | None = None
    vector_magnitude: float | None = None
    steps: float | None = None  # when steps were calculated
    long_press_counts: int | None = None  # when event markers exist
    press_counts: int | None = None
    mets: float | None = None  # when METs / calories were configured
    calories: float | None = None
    crouter_cut_points_minute_aggregations: tuple[Mapping[str, Any], ...] = ()
    freedson_cut_points_minute_aggregations: tuple[Mapping[str, Any], ...] = ()
    evenson_cut_points_minute_aggregations: tuple[Mapping[str, Any], ...] = ()
    staudenmayer_cut_points_minute_aggregations: tuple[Mapping[str, Any], ...] = ()
    generic_cutpoint_minute_aggregations: tuple[GenericCutpointMinute, ...] = attrs.field(
        default=(), metadata={"json": "GenericCutpointMinuteAggregations"}
    )


@attrs.frozen(repr=False)
class EvensonAggregation(_Model):
    """Daily Evenson cutpoint minutes (its wear-and-awake keys have no "Filtered")."""

    non_filtered_sedentary: float | None = None
    non_filtered_light: float | None = None
    non_filtered_moderate: float | None = None
    non_filtered_vigorous: float | None = None
    non_filtered_mvpa: float | None = None
    wear_filtered_sedentary: float | None = None
    wear_filtered_light: float | None = None
    wear_filtered_moderate: float | None = None
    wear_filtered_vigorous: float | None = None
    wear_filtered_mvpa: float | None = None
    wear_awake_sedentary: float | None = None
    wear_awake_light: float | None = None
    wear_awake_moderate: float | None = None
    wear_awake_vigorous: float | None = None
    wear_awake_mvpa: float | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class GenericCutpointAggregation(_Model):
    """Daily seconds per bucket of a generic cutpoint: each bucket map is name -> seconds."""

    json_style = "pascal"

    algorithm_name: str | None = None
    total_buckets: Mapping[str, Any] = attrs.field(factory=dict)
    wear_buckets: Mapping[str, Any] = attrs.field(factory=dict)
    awake_buckets: Mapping[str, Any] = attrs.field(factory=dict)
    wear_awake_buckets: Mapping[str, Any] = attrs.field(factory=dict)
    total_aggregate_buckets: Mapping[str, Any] = attrs.field(factory=dict)
    wear_aggregate_buckets: Mapping[str, Any] = attrs.field(factory=dict)
    awake_aggregate_buckets: Mapping[str, Any] = attrs.field(factory=dict)
    wear_awake_aggregate_buckets: Mapping[str, Any] = attrs.field(factory=dict)
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class MetCalorieAggregation(_Model):
    """Daily METs and calories (Hildebrand, or Crouter youth)."""

    non_filtered_mets: float | None = None
    wear_mets: float | None = None
    wear_awake_mets: float | None = None
    non_filtered_mets_average: float | None = None
    wear_mets_average: float | None = None
    wear_awake_mets_average: float | None = None
    non_filtered_calories: float | None = None
    wear_calories: float | None = None
    wear_awake_calories: float | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(repr=False)
class EventMarkerAggregation(_Model):
    """A day's event marker button counts."""

    long_press_count: int | None = None
    press_count: int | None = None
    release_count: int | None = None


@attrs.frozen(repr=False)
class DailyStatistic(_Model):
    """One day of a subject's statistics (``date``: midnight of the day)."""

    id: int
    subject_id: int | None = None
    study_id: int | None = None
    site_id: int | None = None
    daily_statistics_setting_id: str | None = None
    date: datetime | None = None
    activity_monitor_serials: tuple[str, ...] = ()
    first_epoch_date_time_utc: datetime | None = None
    last_epoch_date_time_utc: datetime | None = None
    first_epoch_date_time_local: datetime | None = None
    last_epoch_date_time_local: datetime | None = None
    epoch_aggregation: EpochAggregation | None = None
    event_marker_aggregation: EventMarkerAggregation | None = None
    crouter_aggregations: tuple[CrouterAggregation, ...] = ()
    freedson_aggregations: tuple[FreedsonAggregation, ...] = ()
    evenson_aggregations: tuple[EvensonAggregation, ...] = ()
    staudenmayer_aggregations: tuple[StaudenmayerAggregation, ...] = ()
    generic_cutpoint_aggregations: tuple[GenericCutpointAggregation, ...] = ()
    mavm_aggregation: StepsAggregation | None = None
    uwf_aggregation: StepsAggregation | None = None
    hildebrand_met_calorie_aggregation: MetCalorieAggregation | None = None
    crouter_youth_met_calorie_aggregation: MetCalorieAggregation | None = None


@attrs.frozen(repr=False)
class SleepPeriod(_Model):
    """A Dustin-Tracy sleep period (in bed to out of bed)."""

    id: int
    study_id: int | None = None
    subject_id: int | None = None
    algorithm_setting_id: str | None = None
    activity_monitor_serial: str | None = None
    in_bed_time: datetime | None = None
    out_bed_time: datetime | None = None
    duration_minutes: int | None = None
    time_asleep_minutes: float | None = None
    time_awake_minutes: float | None = None
    awakening_count: int | None = None
    average_awakening: float | None = None
    total_counts: int | None = None
    efficiency: float | None = None  # 0 to 1
    wake_after_onset_minutes: float | None = None
    sleep_fragmentation_index: float | None = None
    sleep_movement_index: float | None = None
    total_sleep_fragmentation_index: float | None = None


@attrs.frozen(repr=False)
class EventMarker(_Model):
    """Button presses on a CentrePoint Insight Watch at one time."""

    id: int
    study_id: int | None = None
    subject_id: int | None = None
    algorithm_setting_id: str | None = None
    activity_monitor_serial: str | None = None  # text ("CPW1A00000001"), documented as a number
    timestamp_utc: datetime | None = None
    long_press_count: int | None = None
    press_count: int | None = None
    release_count: int | None = None


@attrs.frozen(repr=False)
class AlgorithmSetting(_Model):
    """An algorithm configured for a study (``algorithm_type``: e.g. "Choi Wear Periods")."""

    id: str  # a GUID
    study_id: int | None = None
    name: str | None = None
    algorithm_type: str | None = None
    #: The algorithm's parameters, where sent (the sleep period settings' ``settings``).
    settings: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(repr=False)
class SummarySetting(_Model):
    """The settings a minute summary or daily statistics table was computed with.

    ``cutpoint_setting_ids`` reads ``cutPointSettingIds`` and ``cutpointSettingIds`` alike.
    """

    id: str  # a GUID
    study_id: int | None = None
    wear_period_setting_id: str | None = None
    sleep_period_setting_id: str | None = None
    epoch_summary_setting_id: str | None = None
    cutpoint_setting_ids: tuple[str, ...] = ()
    steps_setting_id: str | None = None  # when steps are configured
    mets_calories_setting_id: str | None = None  # when METs / calories are configured
