"""The product waits with ``asyncio.timeout``, never ``asyncio.wait_for``: in Python 3.11
``wait_for`` returns the awaited result when a cancellation meets it, and the cancelled
task goes on (the AMI monitor kept serving after SIGTERM; tests/agents/test_agents_client.py
``test_a_stop_that_meets_the_reply_is_never_lost``). Read from the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import hotline12345

PACKAGE_DIR = Path(hotline12345.__file__).resolve().parent


def wait_for_calls(source: str) -> list[int]:
    """Lines that call ``asyncio.wait_for`` (or ``wait_for`` imported from asyncio)."""
    tree = ast.parse(source)
    imported = {alias.asname or alias.name for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module == "asyncio"
                for alias in node.names if alias.name == "wait_for"}
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if ((isinstance(f, ast.Attribute) and f.attr == "wait_for"
             and isinstance(f.value, ast.Name) and f.value.id == "asyncio")
                or (isinstance(f, ast.Name) and f.id in imported)):
            lines.append(node.lineno)
    return lines


def test_the_product_never_calls_wait_for() -> None:
    found = [f"{path.relative_to(PACKAGE_DIR.parent)}:{line}"
             for path in sorted(PACKAGE_DIR.rglob("*.py"))
             for line in wait_for_calls(path.read_text(encoding="utf-8"))]
    assert found == [], "use `async with asyncio.timeout(t): await ...` instead"


def test_the_check_finds_both_spellings() -> None:
    assert wait_for_calls("import asyncio\nasync def f(x):\n    await asyncio.wait_for(x, 1)\n"
                          ) == [3]
    assert wait_for_calls("from asyncio import wait_for as w\nasync def f(x):\n"
                          "    await w(x, 1)\n") == [3]
    assert wait_for_calls("import threading\nthreading.Condition().wait_for(bool, 1)\n") == []
