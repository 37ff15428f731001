"""nox sessions: tests (every Python the classifiers list), coverage, lint, typecheck, typing,
docs, bench, demo.

A Python that is not installed is skipped with a message on a workstation and fails the run in
CI (``CI`` set), so CI can never pass by testing fewer versions than the package claims.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

#: The versions in pyproject.toml's classifiers (tests/test_packaging.py keeps them equal).
PYTHONS = ["3.11", "3.12", "3.13"]

#: The docs build, as CI runs it: nitpicky (-n), warnings are errors (-W), all reported.
DOCS_BUILD = ["sphinx-build", "-n", "-W", "--keep-going", "-q", "-b", "html", "docs", "build/docs"]

nox.options.sessions = ["tests", "lint", "typecheck", "typing", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))

# pyenv keeps interpreters out of PATH (its shims only run the selected ones); put each one's bin
# directory on PATH so that nox finds python3.12 and python3.13 as it would a system install.
_pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
for _bin in sorted(_pyenv.glob("3.*/bin"), reverse=True):
    os.environ["PATH"] = f"{_bin}{os.pathsep}{os.environ['PATH']}"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (warnings are errors) on every supported Python.

    tests/typing needs the checkers of the ``dev`` extra: the ``typing`` session runs it.
    """
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "--ignore=tests/typing", *session.posargs)


@nox.session(python="3.11")
def coverage(session: nox.Session) -> None:
    """The test suite under branch coverage, with a floor (pyproject.toml)."""
    session.install("-e", ".[dev]")
    session.run("coverage", "run", "-m", "pytest", "-q")
    session.run("coverage", "report")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, tests, examples and benchmarks."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python="3.11")
def typing(session: nox.Session) -> None:
    """The README's and the guide's code, the examples and tests/typing under mypy and pyright
    (both strict; both check for Python 3.11, the oldest supported, whatever runs them)."""
    session.install("-e", ".[dev]")
    session.run("pytest", "-q", "tests/typing", *session.posargs)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation (Sphinx); any warning, a broken reference included, fails it.

    autodoc imports every public module, the pytest plugin and the Redis one included, so the
    environment is the developers' one (``dev``: test and docs tools).
    """
    session.install("-e", ".[dev]")
    session.run(*DOCS_BUILD)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Every benchmark; each prints ratios against baselines measured in the same run."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """The demo export against the built-in fake server."""
    session.install("-e", ".")
    session.run("centrepoint-async", "demo")
