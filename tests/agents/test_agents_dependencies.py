"""panoramisk is a dev dependency (the tests' and benches' baseline): the product must not
import it, or an installation without the dev extra breaks."""

from __future__ import annotations

import ast
from pathlib import Path

import hotline12345

PACKAGE = Path(hotline12345.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_product_never_imports_panoramisk() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 50  # the whole package was read
    importing = [str(p.relative_to(PACKAGE)) for p in sources
                 if any(m.split(".")[0] == "panoramisk" for m in imported_modules(p))]
    assert importing == []
