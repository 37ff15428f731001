"""export_history: one writer per file, checkpoints that verify, no repeats after inserts."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import centrepoint_async as cp
from centrepoint_async._lock import OutputLock
from centrepoint_async.testing import Dataset, FakeCentrePoint

from .conftest import STUDY, WEBHOOK, lines, one_history


class Stop(Exception):
    """Raised from a progress callback: the export stops as if killed after a page."""


def stop_after(pages: int) -> Callable[[cp.ExportResult], None]:
    """A progress callback that stops the export once ``pages`` pages are on disk."""

    def progress(result: cp.ExportResult) -> None:
        if result.pages >= pages:
            raise Stop

    return progress


async def interrupted(
    client: cp.CentrePointClient, target: Path, pages: int, **kwargs: Any
) -> None:
    """Leave an export of the one-history dataset interrupted after ``pages`` pages."""
    kwargs.setdefault("page_size", 20)
    with pytest.raises(Stop):
        await cp.export_history(
            client, STUDY, [WEBHOOK], target, progress=stop_after(pages), **kwargs
        )
    assert Path(f"{target}.part").exists() and Path(f"{target}.checkpoint").exists()


async def test_export_holds_exactly_the_served_items(tmp_path: Path) -> None:
    """JSONL to a path or a file object, and CSV: every served item once, in order."""
    async with FakeCentrePoint(dataset=one_history(130), rate_limit=None) as fake:
        served = fake.history_items(STUDY, WEBHOOK)
        async with fake.client() as client:
            target = tmp_path / "h.jsonl"
            result = await cp.export_history(client, STUDY, None, target, page_size=50)
            assert lines(target) == served
            assert (result.items, result.pages, result.webhooks) == (130, 3, 1)
            assert sorted(p.name for p in tmp_path.iterdir()) == ["h.jsonl"]
            buffer = io.BytesIO()
            await cp.export_history(client, STUDY, [WEBHOOK], buffer, format="csv")
            rows = buffer.getvalue().decode().splitlines()
            assert rows[0].startswith("id,webhook_id,")
            assert [int(r.split(",", 1)[0]) for r in rows[1:] if r[:1].isdigit()][:3] == [
                item["id"] for item in served[:3]
            ]


async def test_progress_reports_the_expected_total(tmp_path: Path) -> None:
    """The progress callback learns the total (totalCount) before the first page is written."""
    seen: list[tuple[int | None, int]] = []
    async with FakeCentrePoint(dataset=one_history(90), rate_limit=None) as fake:
        async with fake.client() as client:
            await cp.export_history(
                client,
                STUDY,
                [WEBHOOK],
                tmp_path / "h.jsonl",
                page_size=40,
                progress=lambda r: seen.append((r.expected, r.total_items)),
            )
    # pages of 40 after the first start at their anchor: 40, then 39 new items a page
    assert seen == [(90, 0), (90, 40), (90, 79), (90, 90)]


async def test_half_written_line_after_the_checkpoint_is_cut(tmp_path: Path) -> None:
    """Bytes past the checkpoint (a line cut by a crash) are dropped on resume."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(100), rate_limit=None) as fake:
        async with fake.client() as client:
            await interrupted(client, target, pages=2)
            with open(f"{target}.part", "ab") as part:
                part.write(b'{"id": 12, "webhookId": 10')
            result = await cp.export_history(client, STUDY, [WEBHOOK], target, resume=True)
        assert (result.resumed_items, result.items) == (39, 61)  # pages of 20, then 19
        assert lines(target) == fake.history_items(STUDY, WEBHOOK)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["h.jsonl"]


@pytest.mark.parametrize("inserted", [1, 19, 20, 37, 250])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_resume_after_inserts_neither_loses_nor_repeats(
    tmp_path: Path, inserted: int, fmt: cp._export.Format
) -> None:
    """Deliveries arriving before --resume (newest first: offsets shift) are not written twice.

    The export holds every item that existed when it started, exactly once, in order; newer
    deliveries are the next export's (whatever their number, even past a page).
    """
    target = tmp_path / f"h.{fmt}"
    async with FakeCentrePoint(dataset=one_history(200), rate_limit=None) as fake:
        async with fake.client() as client:
            reference = tmp_path / f"reference.{fmt}"
            await cp.export_history(client, STUDY, [WEBHOOK], reference, format=fmt)
            await interrupted(client, target, pages=3, format=fmt, concurrency=3)
            fake.insert_deliveries(STUDY, WEBHOOK, inserted)
            await cp.export_history(
                client, STUDY, [WEBHOOK], target, format=fmt, resume=True, page_size=20
            )
    assert target.read_bytes() == reference.read_bytes()


async def test_every_webhook_of_a_study_resumes_in_order(tmp_path: Path) -> None:
    """A study export interrupted in its second webhook continues there, first one untouched."""
    target = tmp_path / "study.jsonl"
    dataset = Dataset.generate(
        2, studies=1, webhooks_per_study=2, deliveries=250, include_seed_example=False
    )
    async with FakeCentrePoint(dataset=dataset, rate_limit=None) as fake:
        study = STUDY
        hooks = [h["id"] for h in dataset.webhooks[study]]
        async with fake.client() as client:
            with pytest.raises(Stop):
                await cp.export_history(
                    client, study, None, target, page_size=100, progress=stop_after(4)
                )
            result = await cp.export_history(client, study, None, target, resume=True)
        assert result.webhooks == 1 and result.resumed_items == 350
        assert lines(target) == [i for h in hooks for i in fake.history_items(study, h)]


def sealed(data: dict[str, Any]) -> bytes:
    """A checkpoint's fields with the digest they would get if written that way."""
    fields = {k: v for k, v in data.items() if k != "digest"}
    digest = hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return orjson.dumps(fields | {"digest": digest})


def _mutate(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(checkpoint: dict[str, Any]) -> None:
        where = checkpoint
        *parents, last = key.split(".")
        for parent in parents:
            where = where[parent]
        if value is KeyError:
            del where[last]
        else:
            where[last] = value

    return mutate


HOOK = f"webhooks.{WEBHOOK}"
CORRUPTIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "bytes 0": _mutate("bytes", 0),
    "bytes 1.5": _mutate("bytes", 1.5),
    "bytes -1": _mutate("bytes", -1),
    "bytes past the part": _mutate("bytes", 10**9),
    "bytes true": _mutate("bytes", True),
    "bytes missing": _mutate("bytes", KeyError),
    "another hash": _mutate("sha256", hashlib.sha256(b"other").hexdigest()),
    "hash of nothing": _mutate("sha256", "0" * 63),
    "offset 10**9": _mutate(f"{HOOK}.offset", 10**9),
    "offset -5": _mutate(f"{HOOK}.offset", -5),
    "offset below the items": _mutate(f"{HOOK}.offset", 3),
    "items 0": _mutate(f"{HOOK}.items", 0),
    "last ids of nothing": _mutate(f"{HOOK}.last_ids", []),
    "last id not the last record": _mutate(f"{HOOK}.last_ids", [1, 2, 3]),
    "last id as text, another id": _mutate(f"{HOOK}.last_ids", ["7"]),
    "last id not an id": _mutate(f"{HOOK}.last_ids", [1.5]),
    "done not a bool": _mutate(f"{HOOK}.done", "no"),
    "record start past the end": _mutate("last_record_start", 10**9),
    "record start moved": _mutate("last_record_start", 5),
    "another format": _mutate("job.format", "csv"),
    "another study": _mutate("job.study_id", STUDY + 1),
    "another webhook list": _mutate("job.webhook_ids", [WEBHOOK, WEBHOOK + 1]),
    "an unknown webhook": _mutate("webhooks.999", {"offset": 0, "items": 0, "last_ids": []}),
    "another version": _mutate("version", 1),
    "version 2 (no digest then)": _mutate("version", 2),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
async def test_a_checkpoint_that_does_not_verify_leaves_the_part_untouched(
    tmp_path: Path, corruption: str
) -> None:
    """Every wrong value in a checkpoint is a CheckpointError, and the part keeps every byte.

    Each is sealed with a matching digest (as a bug, not a hand, would write it), so that each
    field's own check is what refuses it.
    """
    target = tmp_path / "h.jsonl"
    checkpoint = Path(f"{target}.checkpoint")
    part = Path(f"{target}.part")
    async with FakeCentrePoint(dataset=one_history(100), rate_limit=None) as fake:
        async with fake.client() as client:
            await interrupted(client, target, pages=2)
            data = orjson.loads(checkpoint.read_bytes())
            CORRUPTIONS[corruption](data)
            checkpoint.write_bytes(sealed(data))
            with open(part, "ab") as handle:
                handle.write(b'{"id": 1, "cut": "by a cr')  # past the checkpoint: kept too
            before = part.read_bytes()
            with pytest.raises(cp.CheckpointError):
                await cp.export_history(client, STUDY, [WEBHOOK], target, resume=True)
    assert part.read_bytes() == before
    assert not target.exists()


def _companion(suffix: str, change: Callable[[Path], object]) -> Callable[[Path], object]:
    """``change`` applied to ``target`` + ``suffix`` (the part or the checkpoint)."""
    return lambda target: change(Path(f"{target}{suffix}"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_companion(".part", lambda p: p.write_bytes(p.read_bytes()[:-10])), "fewer than"),
        (_companion(".part", lambda p: p.write_bytes(b"X" + p.read_bytes()[1:])), "SHA-256"),
        (_companion(".part", Path.unlink), "missing"),
        (_companion(".checkpoint", lambda p: p.write_bytes(b"not json")), "not JSON"),
        (_companion(".checkpoint", Path.unlink), "no checkpoint"),
    ],
)
async def test_a_damaged_part_or_checkpoint_is_refused(
    tmp_path: Path, damage: Callable[[Path], object], message: str
) -> None:
    """A part that differs from its checkpoint, or a checkpoint that is not one, is refused."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(100), rate_limit=None) as fake:
        async with fake.client() as client:
            await interrupted(client, target, pages=2)
            damage(target)
            with pytest.raises(cp.CheckpointError, match=message):
                await cp.export_history(client, STUDY, [WEBHOOK], target, resume=True)


async def test_history_that_lost_the_last_written_item_is_refused(tmp_path: Path) -> None:
    """If the last written item cannot be found again, the resume stops instead of leaving a gap."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(100), rate_limit=None) as fake:
        async with fake.client() as client:
            await interrupted(client, target, pages=2)
            before = Path(f"{target}.part").read_bytes()
        async with FakeCentrePoint(dataset=one_history(30), rate_limit=None) as other:
            async with other.client() as client:
                with pytest.raises(cp.HistoryChangedError, match="no longer in its history"):
                    await cp.export_history(client, STUDY, [WEBHOOK], target, resume=True)
    assert Path(f"{target}.part").read_bytes() == before


async def test_existing_output_is_refused_without_resume_or_overwrite(tmp_path: Path) -> None:
    """A finished or an interrupted export is never overwritten silently."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(60), rate_limit=None) as fake:
        async with fake.client() as client:
            await cp.export_history(client, STUDY, [WEBHOOK], target)
            finished = target.read_bytes()
            with pytest.raises(cp.OutputExistsError, match=r"h\.jsonl exists; not overwritten"):
                await cp.export_history(client, STUDY, [WEBHOOK], target)
            with pytest.raises(cp.NothingToResumeError, match="complete"):
                await cp.export_history(client, STUDY, [WEBHOOK], target, resume=True)
            assert target.read_bytes() == finished
            target.unlink()
            await interrupted(client, target, pages=1)
            part = Path(f"{target}.part").read_bytes()
            with pytest.raises(cp.OutputExistsError, match=r"earlier export \(h\.jsonl\.part, h"):
                await cp.export_history(client, STUDY, [WEBHOOK], target)
            assert Path(f"{target}.part").read_bytes() == part
            await cp.export_history(client, STUDY, [WEBHOOK], target, overwrite=True)
        assert lines(target) == fake.history_items(STUDY, WEBHOOK)


async def test_finished_between_rename_and_cleanup_is_complete(tmp_path: Path) -> None:
    """A checkpoint left beside a finished output (killed at the very end) is cleaned up."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(30), rate_limit=None) as fake:
        async with fake.client() as client:
            await interrupted(client, target, pages=1, page_size=10)
            os.replace(f"{target}.part", target)
            with pytest.raises(cp.NothingToResumeError):
                await cp.export_history(client, STUDY, [WEBHOOK], target, resume=True)
    assert not Path(f"{target}.checkpoint").exists()


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("{tmp}", "is a directory"),
        ("{tmp}/missing/h.jsonl", "not an existing directory"),
        ("/sys/h.jsonl", "cannot create files"),
    ],
)
async def test_output_is_checked_before_the_first_request(
    tmp_path: Path, output: str, message: str
) -> None:
    """A directory, a missing folder or an unwritable place fails before any request."""
    async with FakeCentrePoint(dataset=one_history(10), rate_limit=None) as fake:
        async with fake.client() as client:
            with pytest.raises(cp.OutputPathError, match=message):
                await cp.export_history(
                    client, STUDY, [WEBHOOK], output.format(tmp=tmp_path), resume=True
                )
        assert fake.requests == []


async def test_one_writer_per_output(tmp_path: Path) -> None:
    """A second export of a locked output fails at once, naming the holder's pid."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(10), rate_limit=None) as fake:
        async with fake.client() as client:
            with OutputLock(target):
                with pytest.raises(cp.OutputLockedError, match=f"pid {os.getpid()}, started"):
                    await cp.export_history(client, STUDY, [WEBHOOK], target)
            assert fake.requests == []
            with OutputLock(target):
                Path(f"{target}.lock").write_bytes(b"garbage")
                with pytest.raises(cp.OutputLockedError, match="holder unknown"):
                    await cp.export_history(client, STUDY, [WEBHOOK], target)
            # a dead holder's lock file (kill -9) holds no lock: it is taken over
            Path(f"{target}.lock").write_bytes(b'{"pid": 999999999, "started": 0}')
            await cp.export_history(client, STUDY, [WEBHOOK], target)
        assert lines(target) == fake.history_items(STUDY, WEBHOOK)
        assert not Path(f"{target}.lock").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"format": "xml"}, "format"),
        ({"resume": True, "overwrite": True}, "exclude"),
        ({"output": io.BytesIO(), "resume": True}, "output path"),
    ],
)
async def test_bad_arguments_are_configuration_errors(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    """Invalid arguments raise ConfigurationError in the library's words, before any request."""
    output = kwargs.pop("output", tmp_path / "h.jsonl")
    async with FakeCentrePoint(dataset=one_history(10), rate_limit=None) as fake:
        async with fake.client() as client:
            with pytest.raises(cp.ConfigurationError, match=message) as caught:
                await cp.export_history(client, STUDY, [WEBHOOK], output, **kwargs)
        assert fake.requests == []
    assert "--" not in str(caught.value)  # library words, not the command line's


async def test_a_checkpoint_edited_by_hand_is_refused(tmp_path: Path) -> None:
    """A checkpoint edited to say ``"done": true`` (246 of 1,000 written) is refused, naming
    its digest; the part keeps every byte and nothing is finished with a gap."""
    target = tmp_path / "h.jsonl"
    checkpoint, part = Path(f"{target}.checkpoint"), Path(f"{target}.part")
    async with FakeCentrePoint(dataset=one_history(1000), rate_limit=None) as fake:
        async with fake.client() as client:
            await interrupted(client, target, pages=5, page_size=50, concurrency=1)
            data = orjson.loads(checkpoint.read_bytes())
            assert data["webhooks"][str(WEBHOOK)]["items"] == 50 + 4 * 49  # anchored pages
            data["webhooks"][str(WEBHOOK)]["done"] = True
            checkpoint.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            before = part.read_bytes()
            with pytest.raises(cp.CheckpointError, match="do not match its digest"):
                await cp.export_history(client, STUDY, [WEBHOOK], target, resume=True)
    assert part.read_bytes() == before and not target.exists()


def _ids_as_text(fake: FakeCentrePoint) -> None:
    """Serve the history with every ``id`` a JSON string (``"10000001"``), as some APIs do."""
    history = fake.dataset.histories[WEBHOOK]
    history.fixed = [item | {"id": str(item["id"])} for item in history]
    history.size = 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_ids_sent_as_json_strings_resume(tmp_path: Path, fmt: cp._export.Format) -> None:
    """Ids are ids whatever their JSON type: an export of string ids resumes after inserts,
    each item once, byte for byte what an uninterrupted export writes."""
    target, reference = tmp_path / f"h.{fmt}", tmp_path / f"reference.{fmt}"
    async with FakeCentrePoint(dataset=one_history(200), rate_limit=None) as fake:
        _ids_as_text(fake)
        async with fake.client() as client:
            await cp.export_history(client, STUDY, [WEBHOOK], reference, format=fmt)
            await interrupted(client, target, pages=3, format=fmt)
            fake.insert_deliveries(STUDY, WEBHOOK, 7)
            result = await cp.export_history(
                client, STUDY, [WEBHOOK], target, format=fmt, resume=True, page_size=20
            )
    assert target.read_bytes() == reference.read_bytes()
    assert (result.resumed_items, result.total_items, result.shortfalls) == (58, 200, [])


async def test_a_listing_short_of_its_total_is_reported(tmp_path: Path) -> None:
    """A history that ends (a short page) before its totalCount: the result names the webhook,
    what was announced and what was got; a full one reports nothing."""
    async with FakeCentrePoint(dataset=one_history(537), rate_limit=None) as fake:
        fake.dataset.histories[WEBHOOK].total_count_override = 2000
        async with fake.client() as client:
            result = await cp.export_history(client, STUDY, None, tmp_path / "a.jsonl")
            assert result.shortfalls == [cp.Shortfall(WEBHOOK, expected=2000, got=537)]
            assert not result.complete and result.total_items == 537
            fake.dataset.histories[WEBHOOK].total_count_override = None
            result = await cp.export_history(client, STUDY, None, tmp_path / "b.jsonl")
    assert result.complete and result.shortfalls == []


async def test_a_resumed_listing_short_of_its_total_is_reported_and_inserts_are_not(
    tmp_path: Path,
) -> None:
    """After a resume, what is expected counts the items written and those after the last one
    (deliveries inserted meanwhile belong to the next export, and are no shortfall)."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(200), rate_limit=None) as fake:
        async with fake.client() as client:
            await interrupted(client, target, pages=3, concurrency=1)
            fake.insert_deliveries(STUDY, WEBHOOK, 37)
            result = await cp.export_history(client, STUDY, [WEBHOOK], target, resume=True)
            assert result.shortfalls == []
            target.unlink()
            await interrupted(client, target, pages=3, concurrency=1)
            # 237 items now (the 37 are part of this export); totalCount says 100 more
            fake.dataset.histories[WEBHOOK].total_count_override = 237 + 100
            result = await cp.export_history(client, STUDY, [WEBHOOK], target, resume=True)
    assert result.shortfalls == [cp.Shortfall(WEBHOOK, expected=337, got=237)]


async def test_a_new_export_that_writes_nothing_leaves_nothing(tmp_path: Path) -> None:
    """A 404 before the first item, or an interruption before it: no part, no checkpoint, and
    the corrected export runs without overwrite=True."""
    target = tmp_path / "h.jsonl"
    async with FakeCentrePoint(dataset=one_history(50), rate_limit=None) as fake:
        async with fake.client() as client:
            with pytest.raises(cp.NotFoundError):
                await cp.export_history(client, STUDY, [WEBHOOK + 1], target)
            assert list(tmp_path.iterdir()) == []
            with pytest.raises(Stop):  # stopped before the first page is written
                await cp.export_history(client, STUDY, [WEBHOOK], target, progress=stop_after(0))
            assert list(tmp_path.iterdir()) == []
            await cp.export_history(client, STUDY, [WEBHOOK], target)
        assert lines(target) == fake.history_items(STUDY, WEBHOOK)


NO_FCNTL = """
import importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "fcntl":
            raise ImportError("no fcntl here (as on Windows)")

sys.modules.pop("fcntl", None)
sys.meta_path.insert(0, Refuse())
import centrepoint_async, centrepoint_async.cli
print(centrepoint_async.export_history.__name__)
try:
    import fcntl
except ImportError:
    print("fcntl refused")
"""


def test_the_package_imports_without_fcntl() -> None:
    """``import centrepoint_async`` (and its command line) works where fcntl does not exist:
    the lock imports it only when it is taken."""
    done = subprocess.run(
        [sys.executable, "-c", NO_FCNTL], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["export_history", "fcntl", "refused"]
