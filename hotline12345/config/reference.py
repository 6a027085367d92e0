"""The site-file reference (docs/site-file.md), generated from the schema so it cannot drift.

``hotline12345 config reference`` prints it. It is the hand-written introduction
(``reference_intro.txt`` beside this module, in Markdown: the rules of the file, the bounds, the
emergency numbers and the channel variables) followed by one table per section of
:class:`hotline12345.config.schema.SiteFile`, every key with its type, default, an example
and its meaning. The meaning is the schema's own: a class docstring describes its section,
a field's comment (on its line, or the lines just above it) describes the key. The example
is the value the shipped default site gives the key, else one from :data:`EXAMPLES`.
``tests/config/test_reference.py`` fails when docs/site-file.md differs from the output.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import io
import json
import tokenize
import types
import typing
from datetime import date, datetime, time
from importlib import resources
from typing import Any

from ruamel.yaml import YAML

from hotline12345.config import schema
from hotline12345.config.loader import default_site_path

__all__ = ["EXAMPLES", "reference"]

INTRO = "reference_intro.txt"  # Markdown

#: Examples for the keys the shipped default site does not use.
EXAMPLES: dict[str, str] = {
    "centre.trunks[].port": "5080",
    "centre.trunks[].transport": "tcp",
    "centre.trunks[].codecs": "[alaw]",
    "centre.area_codes": '["0571"]',
    "queues[].members": "[PJSIP/8002, PJSIP/8003]",
    "queues[].overflow[].to_centre": "tax-12366",
    "queues[].strategy": "leastrecent",
    "queues[].timeout_s": "90",
    "queues[].wrapup_s": "15",
    "linkage[].transfers_in.dids": '["12345110"]',
    "linkage[].transfers_in.caller_prefixes": '["05718711"]',
    "linkage[].transfers_in.queue": "q-general",
    "prompts.<id>.file": "/var/lib/hotline12345/prompts/welcome.wav",
    "register.use_default": "false",
    "register.remove": '["12318"]',
    "hotlines[].number": '"12319"',
    "hotlines[].name": "某市民热线",
    "hotlines[].department": "市政府办公厅",
    "hotlines[].mode": "整体并入",
    "hotlines[].target": "q-general",
    "hotlines[].prompt": "now-12345",
    "hotlines[].transition_start": "2026-01-01",
    "hotlines[].cutover": "2026-07-01",
    "hotlines[].provenance": "市政府令第12号",
    "hotlines[].after_cutover": "hangup",
    "rules[].when.dialled": '["12345"]',
    "rules[].when.caller": "[_138XXXXXXXX, 13800138000]",
    "rules[].when.time.days": "[6, 7]",
    "rules[].when.time.start": '"18:00"',
    "rules[].when.time.end": '"08:30"',
    "rules[].when.enterprise": "true",
    "rules[].when.language": "[yue]",
    "rules[].when.blocked": "true",
    "rules[].then.priority": "8",
    "rules[].ask.prompt": "ask-language",
    "rules[].ask.retries": "2",
    "rules[].ask.timeout_s": "8",
    "mode_defaults.<mode>.after_cutover": "hangup",
    "blocklist": "[_170XXXXXXXX]",
    "speech.model": "/opt/vosk-model-small-cn-0.22",
    "speech.language": "zh-CN",
    "speech.dither_zero": "false",
    "controller.env_timeout_s": "5",
    "controller.command_timeout_s": "60",
    "controller.session_budget_s": "600",
    "enterprise.numbers_file": "enterprise-numbers.txt",
    "enterprise.ask.digit": '"1"',
    "feeds[].name": "market-webhook",
    "feeds[].department": "市场监督管理局",
    "feeds[].kind": "webhook",
    "feeds[].url": "https://scjg.example.gov.cn/12345/events",
    "feeds[].events": "[dispatched, supervised, closed]",
    "feeds[].full_numbers": "true",
    "feeds[].allow_private_targets": "true",
    "feeds[].timeout_s": "5",
    "feeds[].retry_hours": "48",
    "feeds[].stream": "feed:market",
    "feeds[].max_len": "10000",
    "calendar.holidays": "[2031-01-01]",
    "calendar.workdays": "[2031-02-08]",
    "tickets.limits[].sign_working_days": "0.25",
    "tickets.limits[].return_window_hours": "4",
    "tickets.limits[].return_window_working_days": "0.5",
    "tickets.limits[].revisit_hours": "24",
    "tickets.limits[].revisit_working_days": "2",
}

#: How a ``dict[str, X]`` key is written in a path, by the field that holds it.
_DICT_KEYS = {"prompts": "<id>", "mode_defaults": "<mode>", "options": "<digit>"}


def _comments(cls: type) -> dict[str, str]:
    """Each field's comment in the schema source: the one on its line, or the lines of
    comments right above it."""
    source = inspect.getsource(cls)
    tree = ast.parse(source)
    lines = source.splitlines()
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            line = node.lineno
            text = comments.get(node.end_lineno or line, "")
            if not text:
                above: list[str] = []
                n = line - 1
                while n in comments and lines[n - 1].lstrip().startswith("#"):
                    above.insert(0, comments[n])
                    n -= 1
                text = " ".join(above)
            out[node.target.id] = text
    return out


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(schema))


def _optional(tp: Any) -> Any:
    args = typing.get_args(tp)
    if isinstance(tp, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else tp
    return tp


def _type_text(tp: Any, name: str = "") -> str:
    tp = _optional(tp)
    origin = typing.get_origin(tp)
    if origin is tuple:
        return f"list of {_type_text(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"mapping of {_type_text(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return f"section ({getattr(tp, '__name__', tp)})"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in tp)
    if tp is float:
        return "number (seconds)" if name.endswith("_s") else "number"
    return {str: "text", int: "integer", bool: "true/false", date: "date",
            datetime: "date or date-time", time: 'time "HH:MM"'}.get(tp, str(tp))


def _yaml_text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, time):
        return f'"{value:%H:%M}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_yaml_text(v) for v in value) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        given = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                 if getattr(value, f.name) != f.default}
        return "{" + ", ".join(f"{k}: {_yaml_text(v)}" for k, v in given.items()) + "}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if value == "" or value.isdigit() else value
    return str(value)


def _default_text(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        if f.default is None:
            return "none"
        return f"`{_yaml_text(f.default)}`"
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        if dataclasses.is_dataclass(value):
            return "its defaults"
        return "`{}`" if isinstance(value, dict) else f"`{_yaml_text(value)}`"
    return "**required**"


def _examples_from(node: Any, path: str, out: dict[str, str]) -> None:
    """The first value of each path in the shipped default site."""
    if isinstance(node, dict):
        for key, value in node.items():
            _examples_from(value, f"{path}.{key}" if path else str(key), out)
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        for item in node:
            _examples_from(item, f"{path}[]", out)
    elif path not in out:
        out[path] = _yaml_text(list(node) if isinstance(node, list) else node)


def _default_site_examples() -> dict[str, str]:
    data = YAML(typ="safe").load(default_site_path().read_text(encoding="utf-8"))
    flat: dict[str, str] = {}
    for section in ("prompts", "mode_defaults"):  # mappings keyed by a name
        for value in (data.pop(section, None) or {}).values():
            _examples_from(value, f"{section}.{_DICT_KEYS[section]}", flat)
    for rule in data.get("rules") or []:
        for value in ((rule.get("ask") or {}).pop("options", None) or {}).values():
            _examples_from(value, "rules[].ask.options.<digit>", flat)
    _examples_from(data, "", flat)
    return flat


def _example(cls: type, name: str, key: str, found: dict[str, str],
             by_field: dict[tuple[str, str], str]) -> str:
    """The default site's value for ``key`` (unless empty), else :data:`EXAMPLES`, else the
    example of the same field of the same section elsewhere (``rules[].then.target`` for
    ``rules[].ask.default.target``)."""
    value = found.get(key, "")
    if value in ("", "[]", '""'):
        value = EXAMPLES.get(key, value)
    if value in ("", "[]", '""'):
        value = by_field.get((cls.__name__, name), value)
    if value:
        by_field.setdefault((cls.__name__, name), value)
    return value


def _section(cls: type, path: str, found: dict[str, str],
             out: list[str], done: set[str], by_field: dict[tuple[str, str], str]) -> None:
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    hints = _hints(cls)
    comments = _comments(cls)
    nested: list[tuple[type, str]] = []
    title = path or "top level"
    out += [f"### `{title}`", ""]
    doc = inspect.cleandoc(cls.__doc__ or "")
    if doc and not doc.startswith(f"{cls.__name__}("):
        out += [" ".join(doc.split()).replace("``", "`"), ""]
    out += ["| key | type | default | example | meaning |", "| --- | --- | --- | --- | --- |"]
    for f in fields:
        tp = _optional(hints[f.name])
        key = f"{path}.{f.name}" if path else f.name
        inner = tp
        origin = typing.get_origin(tp)
        if origin is tuple:
            inner = typing.get_args(tp)[0]
            sub = f"{key}[]"
        elif origin is dict:
            inner = _optional(typing.get_args(tp)[1])
            sub = f"{key}.{_DICT_KEYS.get(f.name, '<key>')}"
        else:
            sub = key
        example = _example(cls, f.name, key, found, by_field)
        if dataclasses.is_dataclass(inner):
            nested.append((inner, sub))  # type: ignore[arg-type]
            example = f"see `{sub}`"
        elif not example:
            raise LookupError(f"site-file reference: no example for {key}; give the key a "
                              "value in the default site or add one to EXAMPLES")
        else:
            example = f"`{example}`"
        meaning = comments.get(f.name, "").replace("|", "\\|").replace("``", "`")
        out.append(f"| `{f.name}` | {_type_text(hints[f.name], f.name)} | {_default_text(f)} | "
                   f"{example} | {meaning} |")
    out.append("")
    for inner_cls, sub in nested:
        if sub not in done:
            done.add(sub)
            _section(inner_cls, sub, found, out, done, by_field)


def reference() -> str:
    """docs/site-file.md: the introduction, then every key of the site file."""
    intro = resources.files("hotline12345.config").joinpath(INTRO).read_text(encoding="utf-8")
    out = [intro.rstrip("\n"), "", "## Every key", "",
           "This page is generated: `hotline12345 config reference > docs/site-file.md`, from "
           "the schema (`hotline12345/config/schema.py`: its field comments are the meanings) "
           "and the introduction above (`hotline12345/config/reference_intro.txt`); edit "
           "those, not this page. A key's path reads as in error messages: `queues[]` is each "
           "item of the list, `prompts.<id>` each entry of the mapping. The examples are the "
           "shipped default site's values where it has one.", ""]
    _section(schema.SiteFile, "", _default_site_examples(), out, set(), {})
    return "\n".join(out).rstrip("\n") + "\n"
