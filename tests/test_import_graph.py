"""No import cycles in hotline12345, between modules or between its packages.

The graph is read from the source (``ast``), not by importing: an edge is a module-level
``import``/``from ... import`` of another hotline12345 module, including those under ``if``
and ``try`` at module level; imports inside functions and under ``if TYPE_CHECKING:`` are
not edges (they run after every module has loaded, or never). ``from package import name``
is an edge to ``package.name`` when that is a module, else to ``package`` (its
``__init__``). The package graph joins the modules of each first-level package
(``hotline12345.config``, ``hotline12345.routing``, ...): ``config`` may be imported by
``routing``, or the other way round, never both.
"""

from __future__ import annotations

import ast
import graphlib
import itertools
from pathlib import Path

import pytest

import hotline12345

PACKAGE_DIR = Path(hotline12345.__file__).resolve().parent
ROOT = "hotline12345"


def _module_name(path: Path, package_dir: Path) -> str:
    parts = [ROOT, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def module_imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """The hotline12345 modules that ``name`` (the file ``path``) imports at module level."""
    found: set[str] = set()
    own_package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = own_package[:len(own_package) - (node.level - 1)]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    found.add(sub if sub in modules else source)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body)
    return {m for m in found if m in modules and m != name}


def module_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    files = {_module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}
    modules = set(files)
    return {name: module_imports(name, path, modules) for name, path in files.items()}


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def package_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {package_of(m): set() for m in modules}
    for module, imported in modules.items():
        graph[package_of(module)].update(package_of(i) for i in imported
                                         if package_of(i) != package_of(module))
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` (empty when there is none)."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def test_the_graph_sees_the_package() -> None:
    graph = module_graph()
    assert "hotline12345.routing.engine" in graph
    assert "hotline12345.config.schema" in graph["hotline12345.config.loader"]
    assert "hotline12345.routing" in package_graph(graph)["hotline12345.ivr"]


def test_no_cycle_between_modules() -> None:
    found = cycle(module_graph())
    assert not found, "import cycle between modules: " + " -> ".join(reversed(found))


def test_no_cycle_between_packages() -> None:
    modules = module_graph()
    found = cycle(package_graph(modules))
    if found:
        steps = list(reversed(found))
        edges = []
        for a, b in itertools.pairwise(steps):
            why = sorted(f"{m} imports {i}" for m in modules if package_of(m) == a
                         for i in modules[m] if package_of(i) == b)
            edges.append(f"{a} -> {b}: {', '.join(why)}")
        pytest.fail("import cycle between packages:\n" + "\n".join(edges))


def test_the_check_finds_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / ROOT
    (package / "a").mkdir(parents=True)
    (package / "b").mkdir()
    (package / "__init__.py").write_text("")
    (package / "a" / "__init__.py").write_text("")
    (package / "b" / "__init__.py").write_text("")
    (package / "a" / "one.py").write_text("from hotline12345.b import two\n")
    (package / "b" / "two.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from hotline12345.a import one\n"
        "def later() -> None:\n    from hotline12345.a import one\n")
    (package / "b" / "three.py").write_text("from ..a.one import x\n")
    modules = module_graph(package)
    assert not cycle(modules)
    assert cycle(package_graph(modules))
    (package / "b" / "two.py").write_text("from . import three\n")
    assert cycle(module_graph(package))
