"""What users copy type-checks: the README's and the guide's code, every example, and the
public API's inferred types (check_*.py), under ``mypy --strict`` and pyright strict.

Both checkers run once per session over every file; each file is then one test, so a failure
names the snippet or example. ``nox -s typing`` runs this directory.

Every block fenced ```python is checked as a module of its own, so it must be a whole program
(imports included). A fragment that cannot be one is fenced ```py instead: shown the same way,
not checked.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path

import pytest

import centrepoint_async as cp

from .helpers import ROOT, snippets

HERE = Path(__file__).resolve().parent


def _receiver_class() -> type:
    from centrepoint_async.receiver import WebhookReceiver

    return WebhookReceiver


def _lacks_from_env() -> bool:
    return not hasattr(cp.CentrePointClient, "from_env")


def _ids_optional() -> bool:
    """True while resource ids are still typed ``int | None`` (before #18 is merged)."""
    return type(None) in typing.get_args(typing.get_type_hints(cp.Webhook)["id"])


def _lacks(module: str, *names: str) -> Callable[[], bool]:
    """A ``pending()`` test: True while ``module`` (or one of its ``names``) does not exist."""

    def pending() -> bool:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # its parent package is missing
            return True
        if not found:
            return True
        loaded = importlib.import_module(module)
        return not all(hasattr(loaded, name) for name in names)

    return pending


def _any(*tests: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: any(test() for test in tests)


#: What depends on work not merged yet: the check is expected to fail while ``pending()`` is
#: True and must pass once it is False. Keys: a file's test name, or a text only that snippet
#: holds (snippets are numbered in order, and a block added above one would shift its number).
PENDING: dict[str, tuple[Callable[[], bool], str]] = {
    "check_required_ids.py": (_ids_optional, "ids are int | None until #18 is merged"),
    "client.webhooks.history(1064, hook.id, concurrency=8)": (
        _ids_optional,
        "the ten lines: hook.id is int | None until ids are required (#18)",
    ),
    'app.mount("/centrepoint/webhooks", receiver.asgi())': (
        _any(_lacks("fastapi"), lambda: not hasattr(_receiver_class(), "asgi")),
        "WebhookReceiver.asgi() and fastapi come with #12 (receiver)",
    ),
    "from centrepoint_async.redis import RedisRateLimit": (
        _any(_lacks("centrepoint_async.redis", "RedisRateLimit"), _lacks_from_env),
        "RedisRateLimit comes with #15, CentrePointClient.from_env with #14",
    ),
}


def _pending(name: str) -> tuple[Callable[[], bool], str]:
    code = snippets().get(name, "")
    for key, value in PENDING.items():
        if key == name or (code and key in code):
            return value
    return (lambda: False), ""


def _module_file(snippet_dir: Path, name: str) -> Path:
    """Where a snippet is written: a module name of its own, so names never clash."""
    return snippet_dir / f"{name.replace('.', '_').replace('-', '_')}.py"


def checked_files(snippet_dir: Path) -> dict[str, Path]:
    """Every file the checkers see, by test name: snippets, examples, check_*.py."""
    files = {name: _module_file(snippet_dir, name) for name in snippets()}
    files |= {f"examples/{p.name}": p for p in sorted((ROOT / "examples").glob("*.py"))}
    files |= {p.name: p for p in sorted(HERE.glob("check_*.py"))}
    return files


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def snippet_dir() -> Path:
    """The snippets written out as modules, always at the same place (build/ is ignored).

    mypy's cache knows a module by its name and its file: a new temporary directory each run
    would make it report a snippet's errors under the path of an earlier run.
    """
    directory = ROOT / "build" / "typing-snippets"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, code in snippets().items():
        _module_file(directory, name).write_text(code, encoding="utf-8")
    return directory


def _errors_by_file(lines: list[tuple[str, str]], files: dict[str, Path]) -> dict[str, list[str]]:
    by_path = {p.resolve(): name for name, p in files.items()}
    found: dict[str, list[str]] = {name: [] for name in files}
    for path, message in lines:
        name = by_path.get(Path(path).resolve())
        if name is not None:
            found[name].append(message)
    return found


@pytest.fixture(scope="session")
def mypy_errors(snippet_dir: Path) -> dict[str, list[str]]:
    """``mypy --strict`` (the project's configuration) over every checked file, once."""
    files = checked_files(snippet_dir)
    # a cache of its own: mypy's cache keeps a module's errors under the file it was first
    # checked at, so sharing the project's cache with other runs can misplace them
    cache = ROOT / "build" / "mypy-typing-cache"
    args = ["--strict", "--cache-dir", str(cache), *map(str, files.values())]
    result = _run([sys.executable, "-m", "mypy", *args])
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    pattern = re.compile(r"^(?P<path>[^:\n]+):\d+: error: (?P<msg>.*)$", re.MULTILINE)
    lines = [(m["path"], m.group(0)) for m in pattern.finditer(result.stdout)]
    return _errors_by_file(lines, files)


@pytest.fixture(scope="session")
def pyright_errors(snippet_dir: Path) -> dict[str, list[str]]:
    """pyright, strict (``[tool.pyright]`` in pyproject.toml), over every checked file, once."""
    files = checked_files(snippet_dir)
    result = _run([sys.executable, "-m", "pyright", "--outputjson", *map(str, files.values())])
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:  # pyright could not start (e.g. no node.js): fail, loudly
        pytest.fail(f"pyright did not run: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    lines = [
        (d["file"], f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}")
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    return _errors_by_file(lines, files)


def _cases() -> list[object]:
    names = [*checked_files(Path("/snippets"))]
    cases: list[object] = []
    for name in names:
        pending, reason = _pending(name)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if pending() else []
        cases.append(pytest.param(name, marks=marks, id=name))
    return cases


def test_the_readme_has_code_to_check() -> None:
    """The README's example and the guide's are found (a fence change would silently check
    nothing): the README keeps its ten lines, the guide pages the rest."""
    names = snippets()
    assert sum(name.startswith("README.md-") for name in names) >= 1
    assert sum(not name.startswith("README.md-") for name in names) >= 10


@pytest.mark.parametrize("name", _cases())
def test_mypy_strict(name: str, mypy_errors: dict[str, list[str]]) -> None:
    """The file passes ``mypy --strict``."""
    assert mypy_errors[name] == []


@pytest.mark.parametrize("name", _cases())
def test_pyright_strict(name: str, pyright_errors: dict[str, list[str]]) -> None:
    """The file passes pyright in strict mode."""
    assert pyright_errors[name] == []
