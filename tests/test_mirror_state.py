"""The mirror's plan of a folder, without I/O: names kept apart and checked, states decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

import centrepoint_async as cp
from centrepoint_async._download import mtime_ns
from centrepoint_async._files import check_file_name
from centrepoint_async._mirror_state import Entry, OnDisk, entry_for, plan_folder, superseded

DAY = datetime(2024, 1, 1, tzinfo=UTC)
MODIFIED = datetime(2024, 1, 2, 20, 43, 57, tzinfo=UTC)

names = st.one_of(
    st.sampled_from(["day.csv.gz", "DAY.CSV.GZ", "a.avro", "../x", "/abs", "c:d", "x\x00", ""]),
    st.text(min_size=0, max_size=12),
)


def day_file(name: str, day: int = 0, modified: datetime = MODIFIED) -> cp.DataAccessFile:
    return cp.DataAccessFile(
        file_name=name,
        date=DAY + timedelta(days=day),
        file_format="csv",
        modified_date=modified,
    )


@given(st.lists(st.tuples(names, st.integers(0, 5)), max_size=12))
def test_every_listed_file_gets_a_safe_name_of_its_own_or_fails_alone(
    listing: list[tuple[str, int]],
) -> None:
    """Whatever the server lists: each file is planned under a checked name no other file has
    (case-insensitively), or reported failed by its own name; none is lost."""
    files = [day_file(name, day) for name, day in listing]
    plan = plan_folder(files, {}, {})
    stored = [p.stored for p in plan.fetch]
    assert len({s.casefold() for s in stored}) == len(stored)
    assert all(check_file_name(s) == s for s in stored)
    repeats = len(files) - len({(f.file_name, f.date) for f in files})
    assert len(plan.fetch) + len(plan.failed) + repeats >= len(files)
    assert plan.listed == len(plan.fetch) + len(plan.failed)


def test_the_states_of_a_listed_file() -> None:
    """Recorded and whole: unchanged; recorded but cut: fetched; unrecorded with its version
    as its time: adopted; another time: fetched; missing: new."""
    found = day_file("d.csv.gz")
    entry = entry_for(found, 10)
    right, wrong = mtime_ns(MODIFIED), mtime_ns(MODIFIED) + 1
    cases = [
        ({"d.csv.gz": entry}, {"d.csv.gz": OnDisk(10, wrong)}, "unchanged"),
        ({"d.csv.gz": entry}, {"d.csv.gz": OnDisk(9, right)}, "changed"),
        ({}, {"d.csv.gz": OnDisk(9, right)}, "adopted"),
        ({"d.csv.gz": entry_for(day_file("d.csv.gz", modified=DAY), 10)},
         {"d.csv.gz": OnDisk(7, right)}, "adopted"),  # killed after the rename of a new version
        ({}, {"d.csv.gz": OnDisk(10, wrong)}, "changed"),
        ({"d.csv.gz": entry}, {}, "new"),
    ]  # fmt: skip
    for entries, disk, state in cases:
        plan = plan_folder([found], entries, disk)
        if state in ("unchanged", "adopted"):
            assert list(plan.keep) == ["d.csv.gz"] and plan.adopted == (state == "adopted")
        else:
            assert [p.reason for p in plan.fetch] == [state]


def test_a_new_name_for_a_day_supersedes_the_old_name_of_that_day_and_format_only() -> None:
    """The old name of the same day and format goes; another day's file, another format's,
    and a name still listed stay."""
    entries = {
        "new.csv.gz": Entry("new.csv.gz", "2024-01-01", "csv", "b", 1),
        "old.csv.gz": Entry("old.csv.gz", "2024-01-01", "csv", "a", 1),
        "old.avro": Entry("old.avro", "2024-01-01", "avro", "a", 1),
        "other.csv.gz": Entry("other.csv.gz", "2024-01-02", "csv", "a", 1),
        "listed.csv.gz": Entry("listed.csv.gz", "2024-01-01", "csv", "a", 1),
    }
    current = {"new.csv.gz", "listed.csv.gz"}
    assert superseded(entries, "new.csv.gz", current) == ["old.csv.gz"]
