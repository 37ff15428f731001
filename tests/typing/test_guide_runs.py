"""The guide's programs run: every code block that serves itself runs to the end.

A ```python block of the guide that starts its own server or mock (``FakeCentrePoint(`` or
``MockTransport(``) is a whole program a reader may paste and run, so it is run: a block with
``test_`` functions under pytest (asyncio auto mode), any other as a script (``__main__``),
which must print what it shows, in a directory of its own (what it writes stays there). The
area guides (the study, analytics, Data Access, writes, mocking) hold nothing else: every
block of theirs runs. tests/typing/test_typing.py checks the same blocks' types.

Two processes run them all, one for the scripts and one pytest for the tests (a process per
block would cost seconds each), and each block is then one test here, named after it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .helpers import ROOT, snippets

#: Pages whose every ```python block must run against the fake or a mock.
AREA_GUIDES = ("study", "reading-analytics", "data-access", "writes", "mocking")
SERVES_ITSELF = re.compile(r"\b(FakeCentrePoint|MockTransport)\(")
HAS_TESTS = re.compile(r"^(async )?def test_", re.MULTILINE)

#: Runs each script given as ``[name, path, directory]`` in its directory, as ``__main__``;
#: prints one JSON object: by name, what it printed and the traceback it ended with (or null).
DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, os, runpy, sys, traceback
    results = {}
    for name, path, directory in json.loads(sys.argv[1]):
        out = io.StringIO()
        os.chdir(directory)
        try:
            with contextlib.redirect_stdout(out):
                runpy.run_path(path, run_name="__main__")
            error = None
        except BaseException:
            error = traceback.format_exc()
        results[name] = {"stdout": out.getvalue(), "error": error}
    sys.stdout.write(json.dumps(results))
    """
)


def runnable() -> dict[str, str]:
    """The blocks that run, by the name test_typing.py gives them (``docs_study.md-2``)."""
    return {
        name: code
        for name, code in snippets().items()
        if name.startswith("docs_") and SERVES_ITSELF.search(code)
    }


def _module(name: str) -> str:
    return "test_" + re.sub(r"\W", "_", name)  # a name pytest collects


def _run_scripts(blocks: dict[str, str], base: Path) -> dict[str, str | None]:
    """Each script's failure (its traceback, or that it printed nothing), None if it ran."""
    jobs = []
    for name, code in blocks.items():
        directory = base / _module(name)
        directory.mkdir()
        (directory / "main.py").write_text(code, encoding="utf-8")
        jobs.append([name, str(directory / "main.py"), str(directory)])
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(jobs)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    found: dict[str, dict[str, str | None]] = json.loads(result.stdout)
    return {
        name: run["error"] or (None if (run["stdout"] or "").strip() else "printed nothing")
        for name, run in found.items()
    }


def _run_tests(blocks: dict[str, str], base: Path) -> dict[str, str | None]:
    """Each test module's failure (pytest's report), None if all its tests passed."""
    directory = base / "tests"
    directory.mkdir()
    for name, code in blocks.items():
        (directory / f"{_module(name)}.py").write_text(code, encoding="utf-8")
    options = ["-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", *options, "."],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = result.stdout + result.stderr
    outcomes = re.findall(r"^(PASSED|FAILED|ERROR) (\w+)\.py::", report, re.MULTILINE)
    outcome: dict[str, str | None] = {}
    for name in blocks:
        seen = {status for status, module in outcomes if module == _module(name)}
        outcome[name] = None if seen == {"PASSED"} else f"{sorted(seen)}:\n{report[-6000:]}"
    return outcome


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """Every runnable block, run once: its failure by name (None: it ran)."""
    base = tmp_path_factory.mktemp("guide-runs")
    blocks = runnable()
    tests = {name: code for name, code in blocks.items() if HAS_TESTS.search(code)}
    scripts = {name: code for name, code in blocks.items() if name not in tests}
    return _run_scripts(scripts, base) | _run_tests(tests, base)


def test_every_block_of_the_area_guides_runs() -> None:
    """The area guides show whole programs only: each block serves itself, so each one runs."""
    for page in AREA_GUIDES:
        blocks = [name for name in snippets() if name.startswith(f"docs_{page}.md-")]
        assert blocks, f"docs/{page}.md has no ```python block"
        not_run = [name for name in blocks if name not in runnable()]
        assert not not_run, f"blocks that start no FakeCentrePoint or MockTransport: {not_run}"


@pytest.mark.parametrize("name", sorted(runnable()))
def test_the_block_runs(name: str, outcomes: dict[str, str | None]) -> None:
    """The program runs to the end and prints, or its tests pass, as a reader would run it."""
    assert outcomes[name] is None, outcomes[name]


def test_the_runs_use_this_checkout() -> None:
    """The programs import the package the suite tests (an installed copy elsewhere would
    make a passing run say nothing about this code)."""
    found = subprocess.run(
        [sys.executable, "-c", "import centrepoint_async; print(centrepoint_async.__file__)"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(found.stdout.strip()).resolve().is_relative_to(ROOT)
