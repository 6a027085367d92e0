"""Turns a YAML tree (ruamel round-trip nodes, which carry line and column) into frozen
dataclasses, collecting every error instead of stopping at the first.

Field types understood: str, int, float, bool, date, datetime, time, enums, nested dataclasses,
``tuple[X, ...]``, ``dict[str, X]`` and ``X | None``. Unknown keys are errors.
A list of dataclasses whose first field is named ``name`` or ``number`` is addressed by
that key in paths (``queues[tax]``), otherwise by index.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from hotline12345.config.errors import ConfigIssue

_MISSING = dataclasses.MISSING


class Positions:
    """Field path -> (line, column), both 1-based, for errors found after decoding."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._pos: dict[str, tuple[int, int]] = {}

    def set(self, path: str, line: int, col: int) -> None:
        self._pos.setdefault(path, (line, col))

    def issue(self, path: str, message: str) -> ConfigIssue:
        line, col = self.lookup(path)
        return ConfigIssue(self.file, line, col, path, message)

    def lookup(self, path: str) -> tuple[int, int]:
        probe = path
        while probe:
            if probe in self._pos:
                return self._pos[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return self._pos.get("", (0, 0))


def _key_pos(node: Any, key: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        line, col = lc.key(key)
    except (KeyError, TypeError, AttributeError):
        return None
    return line + 1, col + 1


def _value_pos(node: Any, key: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if isinstance(key, int):
            line, col = lc.item(key)
        else:
            line, col = lc.value(key)
    except (KeyError, TypeError, AttributeError, IndexError):
        return None
    return line + 1, col + 1


def _node_pos(node: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return None
    return lc.line + 1, lc.col + 1


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, int):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {str(value)!r}"
    return f"{type(value).__name__} {value!r}"


class Decoder:
    def __init__(self, positions: Positions, timezone: str = "Asia/Shanghai") -> None:
        self.positions = positions
        self.issues: list[ConfigIssue] = []
        self.tz = ZoneInfo(timezone)
        # Paths of the fields and list or mapping items already reported as invalid: later
        # checks skip what follows from them ("queues[tax]" left out is still defined).
        self.invalid: set[str] = set()

    def error(self, path: str, message: str) -> None:
        self.issues.append(self.positions.issue(path, message))
        self.invalid.add(path)

    def decode(self, cls: type[Any], node: Any, path: str) -> Any:
        """Decode ``node`` into ``cls``; returns None after recording errors."""
        return self._decode_dataclass(cls, node, path)

    def _decode_dataclass(self, cls: type[Any], node: Any, path: str) -> Any:
        if not isinstance(node, dict):
            self.error(path, f"expected a mapping of fields, got {_describe(node)}")
            return None
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        values: dict[str, Any] = {}
        ok = True
        for key in node:
            kpath = f"{path}.{key}" if path else str(key)
            pos = _key_pos(node, key)
            if pos:
                self.positions.set(kpath, *pos)
            if key not in fields:
                known = ", ".join(sorted(fields))
                # Reported, but the rest still decodes so cross-checks can run too.
                self.error(kpath, f'unknown key "{key}"; known keys here: {known}')
        for name, field in fields.items():
            fpath = f"{path}.{name}" if path else name
            if name not in node:
                if field.default is _MISSING and field.default_factory is _MISSING:
                    self.error(path, f'missing required field "{name}"')
                    ok = False
                continue
            vpos = _value_pos(node, name)
            if vpos:
                self.positions.set(fpath, *_key_pos(node, name) or vpos)
            value = self.decode_value(hints[name], node[name], fpath, vpos)
            if value is not _INVALID:
                values[name] = value
            elif field.default is _MISSING and field.default_factory is _MISSING:
                ok = False
            # else: reported; the default stands in, so that the rest of the file is still
            # checked (cross-references included) and every error is listed in one run
        if not ok:
            return None
        try:
            return cls(**values)
        except ValueError as exc:
            self.error(path, str(exc))
            return None

    def decode_value(self, tp: Any, value: Any, path: str, pos: tuple[int, int] | None) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            inner = [a for a in args if a is not type(None)]
            if value is None:
                return None
            return self.decode_value(inner[0], value, path, pos)
        if origin is tuple:
            if not isinstance(value, list):
                example = ""
                if isinstance(value, str | int) and not isinstance(value, bool):
                    example = f' in brackets: [{value}], or ["{value}"] for a number'
                self.error(path, f"expected a list, got {_describe(value)}; write it as a "
                           f"list{example or ' such as [a, b]'}")
                return _INVALID
            out = []
            bad = False
            for i, item in enumerate(value):
                ipath = f"{path}[{self._item_key(args[0], item, i)}]"
                ipos = _value_pos(value, i)
                if ipos:
                    self.positions.set(ipath, *ipos)
                decoded = self.decode_value(args[0], item, ipath, ipos)
                if decoded is _INVALID or (decoded is None and dataclasses.is_dataclass(args[0])):
                    bad = True
                    self.invalid.add(ipath)
                else:
                    out.append(decoded)
            # A bad item is reported and left out; a list of records keeps the good ones, so
            # that cross-references to them still resolve.
            return tuple(out) if not bad or dataclasses.is_dataclass(args[0]) else _INVALID
        if origin is dict:
            if not isinstance(value, dict):
                self.error(path, f"expected a mapping, got {_describe(value)}")
                return _INVALID
            result = {}
            bad = False
            for key in value:
                kpath = f"{path}[{key}]"
                kpos = _key_pos(value, key)
                if kpos:
                    self.positions.set(kpath, *kpos)
                decoded = self.decode_value(args[1], value[key], kpath, _value_pos(value, key))
                if decoded is _INVALID or (decoded is None and dataclasses.is_dataclass(args[1])):
                    bad = True
                    self.invalid.add(kpath)
                else:
                    result[str(key)] = decoded
            return result if not bad or dataclasses.is_dataclass(args[1]) else _INVALID
        if dataclasses.is_dataclass(tp):
            decoded = self._decode_dataclass(tp, value, path)  # type: ignore[arg-type]
            return _INVALID if decoded is None else decoded
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            allowed = [str(m.value) for m in tp]
            if str(value) in allowed:
                return tp(str(value))
            self.error(path, f"{_describe(value)} is not one of: {', '.join(allowed)}")
            return _INVALID
        if tp is bool:
            if isinstance(value, bool):
                return value
            self.error(path, f"expected true or false, got {_describe(value)}")
            return _INVALID
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            self.error(path, f"expected a whole number, got {_describe(value)}")
            return _INVALID
        if tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            self.error(path, f"expected a number, got {_describe(value)}")
            return _INVALID
        if tp is str:
            if isinstance(value, str):
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                # A number written unquoted. YAML drops leading zeros (057112345 reads as
                # 57112345); ruamel keeps the written width, so such a number is refused.
                width = getattr(value, "_width", None)
                if width is not None and width > len(str(value)):
                    written = str(value).zfill(width)
                    self.error(path, f'write "{written}" in quotes: unquoted, YAML reads it as '
                               f"the number {value} and drops the leading zero")
                    return _INVALID
                return str(value)
            self.error(path, f'expected text, got {_describe(value)}; quote it, e.g. "..."')
            return _INVALID
        if tp is datetime:
            return self._decode_datetime(value, path)
        if tp is time:
            return self._decode_time(value, path)
        if tp is date:
            return self._decode_date(value, path)
        raise TypeError(f"decoder does not handle {tp!r} at {path}")  # programming error

    def _decode_datetime(self, value: Any, path: str) -> Any:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=self.tz)
        if isinstance(value, date):
            return datetime.combine(value, time(0, 0), self.tz)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError as exc:
                # A date-shaped value says what is wrong with it (month must be in 1..12).
                why = f" ({exc})" if re.match(r"\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", value) else ""
                self.error(path, f'"{value}" is not a valid date or date-time{why}; write '
                           'e.g. 2021-01-01 or "2021-01-01 08:30"')
                return _INVALID
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.tz)
        self.error(path, f'expected a date or date-time such as 2021-01-01 or "2021-01-01 08:30", '
                   f"got {_describe(value)}")
        return _INVALID

    def _decode_date(self, value: Any, path: str) -> Any:
        if isinstance(value, datetime):
            self.error(path, f"{value:%Y-%m-%d %H:%M} has a time of day; give the date alone, "
                       f"e.g. {value:%Y-%m-%d}")
            return _INVALID
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError as exc:
                try:
                    moment = datetime.fromisoformat(value.strip())
                except ValueError:
                    pass
                else:
                    self.error(path, f'"{value}" has a time of day; give the date alone, e.g. '
                               f"{moment:%Y-%m-%d}")
                    return _INVALID
                why = f" ({exc})" if re.match(r"\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}\s*$",
                                              value) else ""
                self.error(path, f'"{value}" is not a valid date{why}; write e.g. 2027-01-01')
                return _INVALID
        self.error(path, f"expected a date such as 2027-01-01, got {_describe(value)}")
        return _INVALID

    def _decode_time(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            try:
                return time.fromisoformat(value.strip())
            except ValueError:
                pass
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads 08:30 unquoted as sexagesimal 510.
            self.error(path, f'write times in quotes, e.g. "08:30" (YAML read {value!r})')
            return _INVALID
        self.error(path, f'expected a time of day such as "08:30", got {_describe(value)}')
        return _INVALID

    @staticmethod
    def _item_key(item_type: Any, item: Any, index: int) -> str:
        """Items of a list of dataclasses are addressed by their first field when it is
        ``name`` or ``number`` (``queues[tax]``, ``hotlines[12366]``), else by index."""
        if isinstance(item, dict) and dataclasses.is_dataclass(item_type):
            key = dataclasses.fields(item_type)[0].name
            if key in ("name", "number") and isinstance(item.get(key), str | int):
                return str(item[key]) or str(index)
        return str(index)


class _Invalid:
    pass


_INVALID: Any = _Invalid()
