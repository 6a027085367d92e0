"""A small reader for Asterisk configuration files, keeping file and line of every entry.

It follows Asterisk's own rules closely enough for cross-checks: ``;`` starts a comment
unless escaped (``\\;``), ``[name]`` or ``[name](options)`` opens a section, ``key=value``
and ``key => value`` are entries, ``#include``/``#tryinclude`` pull in files relative to the
including file. :func:`dialplan` turns extensions.conf sections into steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SECTION = re.compile(r"^\[([^\]]+)\](?:\(([^)]*)\))?$")
_INCLUDE = re.compile(r'^#(try)?include\s+[<"]?([^>"]+)[>"]?$')


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    value: str
    file: str
    line: int
    arrow: bool = False  # "=>" rather than "="


@dataclass(slots=True)
class Section:
    name: str
    file: str
    line: int
    options: str = ""
    entries: list[Entry] = field(default_factory=list)

    def get(self, key: str) -> Entry | None:
        return next((e for e in self.entries if e.key == key), None)

    def values(self, key: str) -> list[str]:
        return [e.value for e in self.entries if e.key == key]

    @property
    def type(self) -> str:
        entry = self.get("type")
        return entry.value if entry else ""


@dataclass(slots=True)
class ConfFile:
    sections: list[Section]
    problems: list[tuple[str, int, str]]  # (file, line, message) for lines it could not read
    files: list[str]  # this file and the files it included

    def named(self, name: str) -> list[Section]:
        return [s for s in self.sections if s.name == name]

    def first(self, name: str, type_: str | None = None) -> Section | None:
        return next((s for s in self.sections if s.name == name and
                     (type_ is None or s.type == type_)), None)


def strip_comment(line: str) -> str:
    out, i = [], 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


def include_target(line: str) -> tuple[str, bool] | None:
    """``#include x.conf`` -> (``x.conf``, False); ``#tryinclude x.conf`` -> (``x.conf``, True);
    any other line -> None."""
    inc = _INCLUDE.match(strip_comment(line))
    return (inc.group(2).strip(), bool(inc.group(1))) if inc else None


def read(directory: Path, name: str) -> ConfFile:
    """Read ``directory/name`` (and its includes); names in results are relative."""
    conf = ConfFile([], [], [])
    _read_into(conf, directory, name, None, depth=0)
    return conf


def _read_into(conf: ConfFile, directory: Path, name: str, current: Section | None,
               depth: int) -> Section | None:
    path = directory / name
    conf.files.append(name)
    text = path.read_text(encoding="utf-8", errors="replace")
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = strip_comment(raw)
        if not line:
            continue
        inc = _INCLUDE.match(line)
        if inc:
            target = str(Path(name).parent / inc.group(2).strip())
            if (directory / target).is_file() and depth < 10:
                current = _read_into(conf, directory, target, current, depth + 1)
            elif not inc.group(1):
                conf.problems.append((name, lineno, f"#include {inc.group(2)}: file not found"))
            continue
        sec = _SECTION.match(line)
        if sec:
            current = Section(sec.group(1).strip(), name, lineno, sec.group(2) or "")
            conf.sections.append(current)
            continue
        key, arrow, value = _split(line)
        if key is None:
            conf.problems.append((name, lineno, f"cannot read {raw.strip()[:40]!r}: expected "
                                  "key=value, key => value or [section]"))
            continue
        if current is None:
            conf.problems.append((name, lineno, f"{key} is set before any [section]"))
            continue
        current.entries.append(Entry(key, value, name, lineno, arrow))
    return current


def _split(line: str) -> tuple[str | None, bool, str]:
    arrow = line.find("=>")
    equals = line.find("=")
    if arrow != -1 and arrow == equals:
        return line[:arrow].strip(), True, line[arrow + 2:].strip()
    if equals > 0:
        return line[:equals].strip(), False, line[equals + 1:].strip()
    return None, False, ""


# -- the dialplan -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    context: str
    exten: str
    priority: int  # resolved: n counts from the previous priority
    label: str
    app: str
    data: str
    file: str
    line: int


_STEP = re.compile(r"^([^,]+),([^,(]+)(?:\(([^)]*)\))?,(.*)$", re.S)
_SAME = re.compile(r"^([^,(]+)(?:\(([^)]*)\))?,(.*)$", re.S)


def split_app(text: str) -> tuple[str, str]:
    """``Goto(a,b,1)`` -> (``Goto``, ``a,b,1``); an application without parentheses gets
    empty data."""
    text = text.strip()
    paren = text.find("(")
    if paren == -1:
        return text, ""
    data = text[paren + 1:]
    if data.endswith(")"):
        data = data[:-1]
    return text[:paren].strip(), data


def dialplan(conf: ConfFile) -> tuple[dict[str, list[Step]], list[tuple[str, int, str]]]:
    """Contexts -> steps, and lines that are not valid dialplan."""
    contexts: dict[str, list[Step]] = {}
    problems: list[tuple[str, int, str]] = []
    for sec in conf.sections:
        if sec.name in ("general", "globals"):
            continue
        steps = contexts.setdefault(sec.name, [])
        exten, prio = "", 0
        for e in sec.entries:
            if e.key == "exten":
                m = _STEP.match(e.value)
                if not m:
                    problems.append((e.file, e.line, f"cannot read extension {e.value[:40]!r}"))
                    continue
                exten, pr, label, app = m.group(1).strip(), m.group(2).strip(), m.group(3), \
                    m.group(4)
                prio = 1 if pr == "1" else (prio + 1 if pr == "n" else _int(pr, prio))
            elif e.key == "same":
                m = _SAME.match(e.value)
                if not m or not exten:
                    problems.append((e.file, e.line, "same => before any exten =>"))
                    continue
                pr, label, app = m.group(1).strip(), m.group(2), m.group(3)
                prio = prio + 1 if pr == "n" else _int(pr, prio)
            else:
                continue  # include =>, switch => ...
            name, data = split_app(app)
            steps.append(Step(sec.name, exten, prio, label or "", name, data, e.file, e.line))
    return contexts, problems


_PATTERN_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}


def exten_matches(exten: str, dialled: str) -> bool:
    """Whether the dialplan extension ``exten`` (a name, or a ``_`` pattern: X Z N,
    ``[+0-9]`` sets, ``.`` one or more, ``!`` zero or more) takes the number ``dialled``.
    Dashes are ignored, as Asterisk ignores them."""
    if not exten.startswith("_"):
        return exten.replace("-", "") == dialled.replace("-", "")
    out: list[str] = []
    body, i = exten[1:], 0
    while i < len(body):
        ch = body[i]
        if ch.upper() in _PATTERN_CLASSES:
            out.append(_PATTERN_CLASSES[ch.upper()])
        elif ch == "[":
            close = body.find("]", i + 1)
            if close == -1:
                return False  # Asterisk rejects the pattern
            members = body[i + 1:close]
            out.append("[" + "".join(re.escape(c) if c != "-" else "-" for c in members) + "]")
            i = close
        elif ch == ".":
            out.append(".+")
        elif ch == "!":
            out.append(".*")
        elif ch != "-":
            out.append(re.escape(ch))
        i += 1
    try:
        return re.fullmatch("".join(out), dialled) is not None
    except re.error:
        return False


def _int(text: str, fallback: int) -> int:
    try:
        return int(text)
    except ValueError:
        return fallback
