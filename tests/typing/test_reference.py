"""The API reference documents every public name, where users import it from.

The reference (``docs/api/``) is read by Sphinx as the docs build reads it (autodoc importing
the package; about 20 seconds), and the Python objects it describes are compared with the
``__all__`` of every public module. It lives beside the typing checks because it needs the
``dev`` extra's tools (Sphinx); ``nox -s typing`` runs this directory.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sphinx.application import Sphinx

import centrepoint_async

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _conf() -> ModuleType:
    """docs/conf.py, loaded as Sphinx loads it (it lists the public modules)."""
    spec = importlib.util.spec_from_file_location("docs_conf", DOCS / "conf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONF = _conf()


def _public_names() -> Iterator[str]:
    for module in CONF.PUBLIC_MODULES:
        loaded = importlib.import_module(module)
        for name in getattr(loaded, "__all__", ()):
            yield f"{module}.{name}"


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The Python objects the reference describes, by full name (a read of docs/api only)."""
    out = tmp_path_factory.mktemp("reference")
    warnings = io.StringIO()
    app = Sphinx(
        srcdir=DOCS,
        confdir=DOCS,
        outdir=out / "out",
        doctreedir=out / "doctrees",
        buildername="dummy",
        confoverrides={"root_doc": "api/index", "include_patterns": ["api/**"]},
        status=None,
        warning=warnings,
        freshenv=True,
    )
    app.builder.read()
    failed = [line for line in warnings.getvalue().splitlines() if "autodoc" in line]
    assert not failed, "\n".join(failed)
    objects: dict[str, Any] = app.env.get_domain("py").objects  # type: ignore[attr-defined]
    return objects


def test_every_public_name_is_in_the_reference(described: dict[str, Any]) -> None:
    """Each name of a public ``__all__`` has an entry under the path users import it from."""
    names = list(_public_names())
    assert len(names) > 140  # the walk sees the API (a wrong module list would check nothing)
    missing = [name for name in names if name not in described]
    assert not missing, f"not in the API reference: {missing}"


def test_every_public_name_is_placed_on_a_page() -> None:
    """No public name waits in the reference's "Other names" section: each is on a topic page.

    A name added to an ``__all__`` shows there until one of ``docs/api/*.rst`` takes it in (an
    ``.. autoclass::`` or ``.. autofunction::`` line under the page's ``currentmodule``).
    """
    assert CONF.unplaced_names() == {}


def test_objects_are_described_under_public_paths(described: dict[str, Any]) -> None:
    """No class, function or method is described under a private module's path
    (``centrepoint_async._namespaces.Subjects``); aliases Sphinx records for cross-references
    are not descriptions."""
    private = [
        name
        for name, entry in described.items()
        if not entry.aliased and entry.objtype != "module" and "._" in name
    ]
    assert not private


def test_what_a_client_holds_is_described(described: dict[str, Any]) -> None:
    """The class of every public attribute of a client (``client.subjects``,
    ``client.transport``, ``client.stats``) is in the reference under a public name."""
    client = centrepoint_async.CentrePointClient(token="unused")  # no I/O until first use
    held = {type(v) for k, v in vars(client).items() if not k.startswith("_") and v is not None}
    ours = {cls for cls in held if cls.__module__.startswith("centrepoint_async")}
    assert len(ours) >= 15
    for cls in ours:
        assert f"centrepoint_async.{cls.__name__}" in described, cls


def test_the_client_comes_before_the_errors() -> None:
    """A reader meets the client, its namespaces and models before the error classes."""
    pages = [
        line.strip()
        for line in (DOCS / "api" / "index.rst").read_text(encoding="utf-8").splitlines()
        if line.startswith("   ") and not line.strip().startswith(":")
    ]
    assert pages.index("client") < pages.index("namespaces") < pages.index("errors")
