"""asterisklint (PyPI, 0.4.3) over a configuration directory, through its Python API.

Its limits, and how this module routes around them:

- It describes applications as of Asterisk 13. ``Originate()`` there has no ``options``
  argument (Asterisk 18 added ``a``, ``c``, ``n``, ``v()``...), so the rendered three-way call
  would be ``E_APP_ARG_MANY``. Before checking, :func:`_register_asterisk22_apps` replaces its
  Originate with Asterisk 22's (seven arguments; options a b B C c n v, checked).
- Config templates: its section regex accepts only a one-character template list, so
  ``[name](template)`` is a bogus ``E_CONF_BAD_LINE`` and ``[name](!)`` an ``I_NOTIMPL_TEMPLATES``.
  The renderer writes no templates; in site-managed include files both become warnings.
- ``[general](+)`` (add to a section defined earlier, here the host's own manager.conf
  ``[general]``) is read as a bad line, and every entry under it as outside any section. A
  file with such headers is linted as a copy without the ``(+)`` (same lines, same numbers);
  :mod:`hotline12345.asterisk.check` checks the appending itself.
- Only the dialplan file gets semantic checks (applications, functions, gotos, priorities).
  The queues, manager, pjsip and confbridge files get its generic syntax check (sections,
  ``key=value``, whitespace, ``#include``); :mod:`hotline12345.asterisk.check` does the rest.
- It keeps its messages in class-level state and prints them to stderr: each run resets that
  state, mutes printing, and reads the messages back. Runs are serialised with a lock.
- If it crashes on malformed input (``ProgrammingError``), that is reported as an error on
  the file rather than escaping.
- Hints (``H_*``) are style advice and are not reported.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hotline12345.asterisk import names
from hotline12345.asterisk.findings import Finding, Severity

_LOCK = threading.Lock()
_REGISTERED = False
_TEMPLATE_SECTION = re.compile(r"^\s*\[[^\]]+\]\([^)]*\)\s*(;.*)?$")
_APPEND_SECTION = re.compile(r"^(\s*\[[^\]]+\])\(\+\)", re.M)
DIALPLAN_FILES = (names.EXTENSIONS, "extensions.conf")
ORIGINATE_OPTIONS = "abBCcnv"


def _strip_parens(text: str) -> str:
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _register_asterisk22_apps() -> None:
    """Teach asterisklint Asterisk 22's Originate (see the module docstring)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from asterisklint.app.base import E_APP_ARG_BADOPT, App, AppArg
    from asterisklint.application import AppLoader

    class AppOrExten(AppArg):  # type: ignore[misc]
        def validate(self, arg: Any, where: Any) -> None:
            if str(arg) not in ("app", "exten"):
                E_APP_ARG_BADOPT(where, argno=self.argno, app=self.app, opts=str(arg))

    class OriginateOptions(AppArg):  # type: ignore[misc]
        def validate(self, arg: Any, where: Any) -> None:
            letters = _strip_parens(str(arg))
            if "$" in letters:
                return  # built from a variable: nothing to check statically
            bad = "".join(ch for ch in letters if ch not in ORIGINATE_OPTIONS)
            if bad:
                E_APP_ARG_BADOPT(where, argno=self.argno, app=self.app, opts=bad)

    class Originate(App):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(
                args=[AppArg("tech_data"), AppOrExten("type"), AppArg("arg1"), AppArg("arg2"),
                      AppArg("arg3"), AppArg("timeout"), OriginateOptions("options")],
                min_args=3)

    AppLoader().register(Originate())
    _REGISTERED = True


def lint_dir(directory: Path, files: list[str]) -> list[Finding]:
    """asterisklint's messages for ``files`` (names in ``directory``) as findings."""
    from asterisklint import FileConfigParser, FileDialplanParser
    from asterisklint.defines import MessageDefManager

    findings: list[Finding] = []
    with _LOCK:
        _register_asterisk22_apps()
        was_muted = MessageDefManager.muted
        MessageDefManager.muted = True
        try:
            for name in files:
                if not (directory / name).is_file():
                    continue
                MessageDefManager.reset()
                with _lintable(directory, name) as base:
                    path = base / name
                    try:
                        if name in DIALPLAN_FILES:
                            dp_parser = FileDialplanParser()
                            dp_parser.include(str(path))
                            dialplan = next(iter(dp_parser))
                            dialplan.walk_jump_destinations()
                        else:
                            cf_parser = FileConfigParser()
                            cf_parser.include(str(path))
                            for _ in cf_parser:
                                pass
                    except Exception as exc:  # asterisklint bug on odd input: report, go on
                        findings.append(Finding(name, 0, Severity.ERROR, "asterisklint-crash",
                                                f"asterisklint could not parse the file ({exc}); "
                                                "look for a malformed line"))
                    findings += _collect(base, MessageDefManager.raised)
        finally:
            MessageDefManager.reset()
            MessageDefManager.muted = was_muted
    return findings


@contextmanager
def _lintable(directory: Path, name: str) -> Iterator[Path]:
    """The directory to lint ``name`` in: ``directory``, or a scratch copy of the file without
    its ``(+)`` section options (same lines, so the same line numbers)."""
    text = (directory / name).read_text(encoding="utf-8", errors="replace")
    if not _APPEND_SECTION.search(text):
        yield directory
        return
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / name).write_text(_APPEND_SECTION.sub(r"\1", text), encoding="utf-8")
        yield Path(scratch)


def _collect(directory: Path, raised: dict[str, list[Any]]) -> list[Finding]:
    out: list[Finding] = []
    for code, messages in raised.items():
        if code.startswith("H_"):
            continue
        for msg in messages:
            where = msg.where
            file = _relative(directory, str(where.filename))
            text = msg.message.format(**msg.fmtkwargs)
            line_text = where.line.decode("utf-8", "replace") if isinstance(
                where.line, bytes) else str(where.line)
            severity = Severity.ERROR if code.startswith("E_") else Severity.WARNING
            if code == "E_CONF_BAD_LINE" and _TEMPLATE_SECTION.match(line_text):
                severity, text = Severity.WARNING, (
                    "section with a template list: asterisklint cannot check templates")
            elif code.startswith("I_"):
                severity = Severity.WARNING
                text = f"asterisklint cannot check this: {text}"
            previous = getattr(msg.previous, "where", msg.previous)  # a Where, or an object
            if getattr(previous, "lineno", None) is not None:
                text += f" (previous occurrence at line {previous.lineno})"
            out.append(Finding(file, int(where.lineno), severity, code, text))
    return out


def _relative(directory: Path, filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(directory.resolve()))
    except ValueError:
        return filename
