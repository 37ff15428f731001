"""What the checks of this directory share: where the README's and the guide's code is."""

from __future__ import annotations

import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)  # not ```py


@functools.cache
def snippets() -> dict[str, str]:
    """Every ```python block of the README and of docs/, by ``<file>-<n>`` (n from 1)."""
    found: dict[str, str] = {}
    for path in MARKDOWN:
        if not path.exists():
            continue
        name = path.relative_to(ROOT).as_posix().replace("/", "_")
        for n, block in enumerate(FENCE.findall(path.read_text(encoding="utf-8")), start=1):
            found[f"{name}-{n}"] = block
    return found
