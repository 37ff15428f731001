"""Sphinx configuration: the user guide (Markdown, MyST) and the API reference (autodoc).

Built with ``nox -s docs`` and in CI as ``sphinx-build -n -W --keep-going``: nitpicky, so a
reference to a name of this package that does not exist fails the build. References to other
libraries (aiohttp, multidict, the standard library) are not checked: resolving them needs
intersphinx inventories from the web, which the build must not depend on.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

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

autodoc_member_order = "groupwise"
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

#: The public modules, in the order the reference shows them; those not in this build skipped.
PUBLIC_MODULES = {
    "centrepoint_async": "The client, its models and errors",
    "centrepoint_async.receiver": "Receiving webhooks",
    "centrepoint_async.testing": "Testing: the fake server",
    "centrepoint_async.testing.pytest_plugin": "The pytest fixtures",
    "centrepoint_async.redis": "Many processes: Redis",
}


def _namespaces() -> list[type]:
    """The classes a client hands out as attributes (``client.webhooks``): found, not listed,
    so namespaces other work adds appear in the reference without an edit here."""
    client = centrepoint_async.CentrePointClient(token="unused")  # noqa: S106 (no I/O until first use)
    found = [type(v) for name, v in vars(client).items() if not name.startswith("_")]
    return [
        cls
        for cls in dict.fromkeys(found)
        if cls.__module__.startswith("centrepoint_async")
        and getattr(centrepoint_async, cls.__name__, None) is not cls  # exported: documented
    ]


def _write_reference() -> None:
    """docs/_generated/*.rst: one section per public module, the client's namespaces."""
    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    present = [m for m in PUBLIC_MODULES if importlib.util.find_spec(m) is not None]
    sections = []
    for module in present:
        # a name exported by a deeper public module too (cp.InboundEvent) is documented there
        # only: Sphinx allows one description of an object
        loaded = importlib.import_module(module)
        deeper: set[str] = set()
        for other in (importlib.import_module(o) for o in present if o.startswith(f"{module}.")):
            for name in getattr(other, "__all__", ()):
                if getattr(loaded, name, None) is getattr(other, name):
                    deeper.add(name)
        title = PUBLIC_MODULES[module]
        section = f"{title}\n{'-' * len(title)}\n\n.. automodule:: {module}\n"
        if deeper:
            section += f"   :exclude-members: {', '.join(sorted(deeper))}\n"
        sections.append(section)
    (out / "modules.rst").write_text("\n".join(sections), encoding="utf-8")
    classes = [f".. autoclass:: {c.__module__}.{c.__qualname__}\n" for c in _namespaces()]
    (out / "namespaces.rst").write_text("\n".join(classes), encoding="utf-8")
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


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _public_target)
    app.connect("autodoc-skip-member", _skip_internal)
