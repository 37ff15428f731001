"""The fake's records shared by its modules, and the view of a dataset they work on.

:class:`DatasetView` is what the study, access and analytics modules need of a
:class:`~centrepoint_async.testing.Dataset`: they take it as a view, so that they need not
import the module that imports them (imports point one way).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Protocol

import attrs

__all__ = ["NEVER", "DatasetView", "Revision", "Span", "StudyPlan"]

#: "Never" as the export subjects send it (.NET DateTimeOffset.MinValue).
NEVER = "0001-01-01T00:00:00+00:00"


@attrs.frozen
class Span:
    """The days a subject has data for: ``days`` days from ``start`` (UTC days)."""

    start: date
    days: int

    @property
    def end(self) -> date:
        """The last day with data."""
        return self.start + timedelta(days=max(0, self.days - 1))

    def dates(self) -> list[date]:
        """Every day with data, in order."""
        return [self.start + timedelta(days=d) for d in range(self.days)]


@attrs.define
class StudyPlan:
    """What a study collects and allows, beyond what its own JSON says."""

    categories: tuple[str, ...]  # Data Access categories its devices record
    partial_workflow: bool  # "Allow Partial Monitor Assignment Workflow"
    settings: dict[str, list[dict[str, Any]]] = attrs.field(factory=dict)  # by family
    programs: list[dict[str, Any]] = attrs.field(factory=list)  # study programs and datasets


@attrs.frozen
class Revision:
    """How often a day was re-processed: its content and its name, and when last."""

    content: int = 0
    name: int = 0
    modified: datetime | None = None


class DatasetView(Protocol):
    """The part of a ``Dataset`` the fake's families read and change."""

    seed: int
    studies: list[dict[str, Any]]
    subjects: dict[int, list[dict[str, Any]]]
    sites: dict[int, list[dict[str, Any]]]
    activity_monitors: dict[int, list[dict[str, Any]]]
    assignments: dict[int, list[dict[str, Any]]]
    milestones: dict[int, list[dict[str, Any]]]
    spans: dict[int, Span]
    revisions: dict[tuple[int, str, date], Revision]
    changes: list[dict[str, Any]]
    day_file_size: int
    never: str | None

    def study(self, study_id: int) -> dict[str, Any] | None: ...
    def subject(self, study_id: int, subject_id: int) -> dict[str, Any] | None: ...
    def site(self, study_id: int, site_id: object) -> dict[str, Any] | None: ...
    def activity_monitor(self, study_id: int, serial: str) -> dict[str, Any] | None: ...
    def assignment_of(self, study_id: int, subject_id: int) -> dict[str, Any] | None: ...
    def span(self, subject_id: int) -> Span: ...
    def plan(self, study_id: int) -> StudyPlan: ...
    def new_id(self) -> int: ...
    def new_subject_id(self, study_id: int) -> int: ...
