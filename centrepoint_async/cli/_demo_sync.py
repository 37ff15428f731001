"""The demo's sync step: a study's day files mirrored from the fake, one day re-processed at the
fake, and the mirror brought up to date with that one file.

Imported only by ``demo`` when it runs: it needs the fake.
"""

from __future__ import annotations

from pathlib import Path

from .._client import CentrePointClient
from .._mirror import MirrorResult, mirror_study
from ..testing import FakeCentrePoint

__all__ = ["SUBJECTS", "demo_sync", "demo_sync_lines"]

#: Subjects the step mirrors (the fake makes each day file as it sends it: a few keep it quick).
SUBJECTS = 5
CATEGORY = "raw-accelerometer"


async def demo_sync(
    fake: FakeCentrePoint, client: CentrePointClient, directory: Path
) -> tuple[MirrorResult, MirrorResult]:
    """Mirror ``SUBJECTS`` subjects of the fake's first study into ``directory``, re-process
    one of their days at the fake, and sync again: the two runs' results. ``client`` must hold
    the CentrePoint and DataAccess scopes."""
    study = next(iter(fake.dataset.subjects))
    subjects = [s["id"] for s in fake.dataset.subjects[study][:SUBJECTS]]
    first = await mirror_study(client, study, directory, categories=[CATEGORY], subjects=subjects)
    subject = subjects[0]
    fake.dataset.bump_day(study, subject, CATEGORY, fake.dataset.span(subject).start)
    again = await mirror_study(client, study, directory, categories=[CATEGORY], subjects=subjects)
    return first, again


def demo_sync_lines(first: MirrorResult, again: MirrorResult, shown: str) -> list[str]:
    """What the demo prints of its sync step."""
    return [
        f"  sync      {first.files_downloaded} day files of {first.subjects} subjects to {shown} "
        f"({first.bytes_downloaded:,} bytes, each verified before it got its name)",
        f"  sync      again after one day was re-processed: {again.files_downloaded} fetched "
        f"({again.bytes_downloaded:,} bytes), {again.files_skipped} unchanged, "
        f"{len(first.failed) + len(again.failed)} failed",
    ]
