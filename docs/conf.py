"""Sphinx configuration: the user guide (Markdown, MyST) and the API reference (autodoc).

Built with ``nox -s docs`` and in CI as ``sphinx-build -n -W --keep-going``: nitpicky, so a
reference to a name of this package that does not exist fails the build. References to other
libraries (aiohttp, multidict, the standard library) are not checked: resolving them needs
intersphinx inventories from the web, which the build must not depend on.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import centrepoint_async  # noqa: E402 (after the path is set)

project = "centrepoint-async"
author = "centrepoint-async developers"
copyright = "centrepoint-async developers"
release = centrepoint_async.__version__
version = ".".join(release.split(".")[:2])

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated"]
myst_heading_anchors = 3
html_theme = "furo"
html_title = f"centrepoint-async {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}

nitpicky = True
# only names of this package are checked (see the module docstring); TypeVars are not targets
nitpick_ignore_regex = [
    (r"py:.*", r"(?!centrepoint_async\b).*"),
    (r"py:.*", r"centrepoint_async\..*\b[A-Z]"),
    (r"py:.*", r"centrepoint_async\..*\._\w+"),  # private bases (_Model): not documented
    # a type hint naming a class of a private module that no public module exports (after
    # _public_target's mapping): a gap in the public API, not a broken link in the text
    (r"py:class", r"centrepoint_async\.(?:\w+\.)*_\w+\.\w+"),
]

#: The public modules: every name of their ``__all__`` is in the reference (tests/typing/
#: test_reference.py checks it, on a build of the reference).
PUBLIC_MODULES = (
    "centrepoint_async",
    "centrepoint_async.receiver",
    "centrepoint_async.redis",
    "centrepoint_async.testing",
    "centrepoint_async.testing.pytest_plugin",
)

_TARGET = re.compile(r"^\.\. (?:auto|py:)?(?P<kind>\w+):: +(?P<name>[\w.]+)", re.MULTILINE)
_MODULE_KINDS = {"module", "currentmodule"}


def placed_names() -> set[str]:
    """The full names the hand-written reference pages (``docs/api/*.rst``) describe.

    A directive's name is taken in the module the page set last (``automodule``,
    ``py:module``, ``currentmodule``), as Sphinx takes it.
    """
    placed: set[str] = set()
    for page in sorted((HERE / "api").glob("*.rst")):
        module = ""
        for match in _TARGET.finditer(page.read_text(encoding="utf-8")):
            kind, name = match["kind"], match["name"]
            if kind in _MODULE_KINDS:
                module = name
                placed.add(name)
            elif name.startswith("centrepoint_async") or not module:
                placed.add(name)
            else:
                placed.add(f"{module}.{name}")
    return placed


def unplaced_names() -> dict[str, list[str]]:
    """Public names no reference page describes yet, by module (see :func:`_write_reference`)."""
    placed = placed_names()
    found: dict[str, list[str]] = {}
    for module in PUBLIC_MODULES:
        if importlib.util.find_spec(module) is None:
            continue
        names = getattr(importlib.import_module(module), "__all__", ())
        missing = [name for name in names if f"{module}.{name}" not in placed]
        if missing:
            found[module] = missing
    return found


def _directive(obj: object) -> str:
    if isinstance(obj, type):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    return "autofunction" if inspect.isroutine(obj) else "autodata"


def _write_reference() -> None:
    """docs/_generated/: the names no page describes yet, and the examples in full.

    The reference pages place each public name by hand, in an order a reader follows; a name
    added to an ``__all__`` since appears on the reference's index page, under "Other names",
    until a page takes it in. So no public name is ever left out of the reference.
    """
    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    sections = []
    for module, names in unplaced_names().items():
        loaded = importlib.import_module(module)
        lines = [f".. currentmodule:: {module}", ""]
        lines += [f".. {_directive(getattr(loaded, name))}:: {name}" for name in names]
        sections.append("\n".join(lines) + "\n")
    if sections:
        title = "Other names"
        sections.insert(0, f"{title}\n{'-' * len(title)}\n\nNot yet on a page of their own.\n")
    (out / "unplaced.rst").write_text("\n".join(sections), encoding="utf-8")
    examples = []
    for path in sorted((HERE.parent / "examples").glob("[!_]*.py")):
        title = f"``{path.name}``"
        examples.append(
            f"{title}\n{'-' * len(title)}\n\n"
            f".. literalinclude:: /../examples/{path.name}\n   :language: python\n"
        )
    (out / "examples.rst").write_text("\n".join(examples), encoding="utf-8")


_write_reference()

_PRIVATE = re.compile(r"^(?P<public>[\w.]*?)\.(?:_\w+\.)+(?P<name>[A-Za-z]\w*(?:\.\w+)*)$")


def _public_target(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> Any:
    """Type hints name classes where they are defined (``centrepoint_async._models.Study``); the
    reference documents them where users import them (``centrepoint_async.Study``)."""
    if node.get("refdomain") != "py":
        return None
    match = _PRIVATE.match(node["reftarget"])
    if match is None:
        return None
    domain = env.get_domain("py")
    candidates = [f"{match['public']}.{match['name']}", f"centrepoint_async.{match['name']}"]
    for target in candidates:
        resolved = domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
        )
        if resolved is not None:
            return resolved
    return None


#: Class attributes that steer the converter, not the user (JSON key spelling, leniency).
_INTERNAL_MEMBERS = {"json_style", "lenient"}


def _skip_internal(
    app: Sphinx, what: str, name: str, obj: object, skip: bool, options: object
) -> bool | None:
    return True if name in _INTERNAL_MEMBERS else None


def _defining_comment(name: str) -> list[str]:
    """The ``#:`` comment (or the string below) of the assignment that made a re-exported
    constant or type alias (``EVENT_TYPES``, ``DataCategory``), from the module that made it:
    the public module only imports the value, so autodoc finds no comment there."""
    module_name, _, short = name.rpartition(".")
    value = getattr(sys.modules.get(module_name), short, None)
    holders = [
        module.__name__
        for module in list(sys.modules.values())
        if getattr(module, "__name__", "").startswith("centrepoint_async")
        and getattr(module, short, None) is value
    ]
    for holder in holders:
        try:
            lines = ModuleAnalyzer.for_module(holder).find_attr_docs().get(("", short))
        except PycodeError:
            continue
        if lines:
            return list(lines)
    return []


def _data_comment(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """A constant or type alias gets the comment it was documented with, not the docstring
    of its value's type (``float``'s, a union's)."""
    if what == "data":
        found = _defining_comment(name)
        if found:
            lines[:] = found


def _public_bases(app: Sphinx, name: str, obj: object, options: object, bases: list[Any]) -> None:
    """A private base (``_Model``, ``_Payload``) is shown as its first public ancestor
    (``object``): the reference has no entry for it, and "Bases: _Model" tells a reader
    nothing."""
    shown: list[Any] = []
    for base in bases:
        if isinstance(base, type) and base.__name__.startswith("_"):
            base = next(c for c in base.__mro__ if not c.__name__.startswith("_"))
        if base not in shown:
            shown.append(base)
    bases[:] = shown


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _public_target)
    app.connect("autodoc-skip-member", _skip_internal)
    app.connect("autodoc-process-docstring", _data_comment)
    app.connect("autodoc-process-bases", _public_bases)
