"""Shared by the mirror's tests: small studies, the oracle's view of a mirror, what is on disk."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import pytest

from centrepoint_async.testing import Dataset, FakeCentrePoint, set_testing

__all__ = ["STUDY", "expected", "mirrored", "no_backoff", "small_study", "wrote_nothing_outside"]

STUDY = 100  # records raw-accelerometer, temperature and imu


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries follow each other at once (set_testing turns backoff off): imported by the
    mirror's test modules."""
    set_testing()
    yield
    set_testing(False)


def small_study(subjects: int = 4, days: int = 3, size: int = 2048) -> Dataset:
    """One study (100) of ``subjects`` subjects with ``days`` days of ``size``-byte files."""
    return Dataset.generate(
        0,
        studies=1,
        webhooks_per_study=1,
        deliveries=1,
        subjects_per_study=subjects,
        include_seed_example=False,
        days=days,
        day_file_size=size,
    )


def expected(
    fake: FakeCentrePoint,
    categories: Iterable[str],
    *,
    file_format: str = "csv",
    subjects: Iterable[int] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, bytes]:
    """What a mirror of the study must hold, by path under DIR: the oracle's bytes."""
    data = fake.dataset
    chosen = [s["id"] for s in data.subjects[STUDY]] if subjects is None else list(subjects)
    found: dict[str, bytes] = {}
    for subject in chosen:
        for category in categories:
            listed = data.day_files(
                STUDY, subject, category, file_format=file_format, start=start, end=end
            )
            for item in listed:
                day = date.fromisoformat(item["date"][:10])
                served = data.day_file(STUDY, subject, category, day, file_format)
                found[f"subject-{subject}/{category}/{item['fileName']}"] = served.content()
    return found


def mirrored(root: Path) -> dict[str, bytes]:
    """Every data file under ``root`` by path (the mirror's own files and parts left out)."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            if name.startswith(".centrepoint-mirror") or ".part" in name:
                continue
            path = Path(folder, name)
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def wrote_nothing_outside(root: Path) -> bool:
    """True when every file under ``root``'s parent that is not in ``root`` predates the run
    (the tests put ``root`` alone in a temporary directory)."""
    return sorted(p.name for p in root.parent.iterdir()) == [root.name]
