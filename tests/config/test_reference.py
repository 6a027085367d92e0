"""docs/site-file.md is generated from the schema (``hotline12345 config reference``) and
must not drift from it; the reference names every key of the schema."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

from hotline12345.config import schema
from hotline12345.config.reference import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "site-file.md"


def test_docs_site_file_is_the_generated_reference() -> None:
    run = subprocess.run([sys.executable, "-m", "hotline12345.cli", "config", "reference"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout == reference()
    assert DOC.read_text(encoding="utf-8") == run.stdout, (
        "docs/site-file.md drifted from the schema; regenerate it with "
        "`.venv/bin/hotline12345 config reference > docs/site-file.md`")


def _keys(cls: type, path: str) -> list[str]:
    """Every key path of the schema, as the reference writes them."""
    keys = []
    hints = typing.get_type_hints(cls, vars(schema))
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = f"{path}.{f.name}" if path else f.name
        keys.append(key)
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = tp
        origin = typing.get_origin(tp)
        if origin is tuple:
            inner, key = args[0], f"{key}[]"
        elif origin is dict:
            inner, key = args[1], f"{key}.<"
        elif args and len(args) == 1:
            inner = args[0]
        if dataclasses.is_dataclass(inner):
            keys += _keys(inner, key)  # type: ignore[arg-type]
    return keys


def test_every_key_has_a_row_with_type_default_and_example() -> None:
    text = reference()
    sections = text.split("\n### `")[1:]
    rows = {}
    for section in sections:
        title, _, body = section.partition("`\n")
        for line in body.splitlines():
            if line.startswith("| `"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                rows[(title, cells[0].strip("`"))] = cells
    keys = _keys(schema.SiteFile, "")
    assert len(keys) > 80
    for key in keys:
        parent, _, name = key.rpartition(".")
        title = parent or "top level"
        if title.endswith(".<"):  # a mapping's entries: prompts.<id>, ...
            title = next(t for t, _ in rows if t.startswith(title))
        cells = rows.get((title, name))
        assert cells is not None, f"no row for {key}"
        assert cells[1] and cells[2] and cells[3], f"{key}: {cells}"
    for wanted in ("rules[].when.time", "rules[].when", "hotlines[]", "controller"):
        assert f"### `{wanted}`" in text
