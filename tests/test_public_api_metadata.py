"""The package's metadata tells users the truth: the Pythons it is tested on, where to read
more, and no pytest plugin forced on them."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _nox_pythons() -> list[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "PYTHONS" for t in targets):
                assert node.value is not None
                value: list[str] = ast.literal_eval(node.value)
                return value
    raise AssertionError("noxfile.py has no PYTHONS")


def test_classifiers_list_exactly_the_pythons_nox_tests() -> None:
    """Every Python the classifiers claim is one nox tests on, and the other way round."""
    prefix = "Programming Language :: Python :: 3."
    classifiers = PROJECT["classifiers"]
    claimed = [f"3.{c.removeprefix(prefix)}" for c in classifiers if c.startswith(prefix)]
    assert claimed == _nox_pythons()
    assert PROJECT["requires-python"] == f">={claimed[0]}"


def test_classifiers_are_sorted_and_typed() -> None:
    """Classifiers are sorted (as PyPI shows them) and say the package ships type hints."""
    classifiers = PROJECT["classifiers"]
    assert classifiers == sorted(classifiers)
    assert "Typing :: Typed" in classifiers
    assert (ROOT / "centrepoint_async" / "py.typed").exists()


def test_project_urls_point_somewhere() -> None:
    """Project-URLs are present and every one is an https address."""
    urls = PROJECT["urls"]
    assert urls
    assert all(url.startswith("https://") for url in urls.values())


def test_no_pytest_plugin_is_registered_on_install() -> None:
    """The wheel registers no pytest11 entry point: the fixtures are opt-in (pytest_plugins)."""
    assert "pytest11" not in PROJECT.get("entry-points", {})
