"""The shape of the house: imports point one way, functions stay small, the core loads no
adapter or test aid."""

from __future__ import annotations

import ast
from pathlib import Path

import centrepoint_async as cp

PACKAGE = Path(cp.__file__).parent
NAME = "centrepoint_async"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every package module ``name`` imports, anywhere in it (TYPE_CHECKING blocks and
    function bodies included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
    return {m for m in found if m in known and m != name}


def test_no_import_cycle_in_the_package() -> None:
    """No module imports, directly or not, a module that imports it back (TYPE_CHECKING and
    function-level imports count: they are cycles hidden, not removed). The package's
    ``__init__`` modules, which re-export, are the only importers of their own children."""
    known = modules()
    graph = {n: imports_of(n, p, set(known)) for n, p in known.items()}
    # an __init__ re-exporting its children is not a cycle; a child importing its package is
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            cycles.append([*stack[stack.index(node) :], node])
            return
        if node in done:
            return
        for target in sorted(graph[node]):
            visit(target, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        visit(name, [], done)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles[:10])


def test_no_function_over_sixty_lines() -> None:
    """Every function of the package fits on a screen."""
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > 60:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({size})")
    assert long == []


def test_every_path_lives_in_the_declarations() -> None:
    """No module but the declarations spells an API path (one place to read them all)."""
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_endpoints.py" or "testing" in path.parts:
            continue
        text = path.read_text()
        for prefix in (
            "/centrepoint/v3/",
            "/dataaccess/v3/",
            "/analytics/v3/",
            "/dataretrieval/v3/",
        ):
            if f'"{prefix}' in text or f'f"{prefix}' in text:
                spelled.append(f"{path.relative_to(PACKAGE)}: {prefix}")
    assert spelled == []
