"""Run a call through a rendered dialplan, as Asterisk would, for the checks that are about
what a call *does* (the failover to the next controller, the hop limit, the emergency
numbers) rather than about the text of a line.

:class:`Call` executes the steps of :func:`hotline12345.asterisk.conffile.dialplan` from an
extension with a set of channel variables: ``Set``, ``ExecIf``, ``GotoIf``, ``Goto``,
``Gosub``/``Return`` and ``Hangup`` change its course; every other application is an event
that :meth:`Call.run` may stop at (``AGI``, ``Queue``, ``Dial``...), so the checker can play
the controller's part (set ``AGISTATUS`` and ``HOTLINE_ACTION``) and go on. Expressions
``$[...]`` are evaluated with Asterisk's operators; a value that depends on what only a live
channel knows (a dialplan function the caller did not give) is *unknown*, and a branch that
depends on an unknown value stops the run with :class:`Undecidable`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hotline12345.asterisk.conffile import Step, exten_matches, split_app

#: Applications that end the call.
_HANGUP_APPS = frozenset({"hangup", "congestion", "busy"})
_MAX_STEPS = 500


class Undecidable(Exception):
    """The run reached a branch it cannot decide (``step`` names it)."""

    def __init__(self, step: Step, why: str) -> None:
        super().__init__(f"{step.file}:{step.line}: {why}")
        self.step = step


class _Unknown(Exception):
    pass


@dataclass(slots=True)
class _Frame:
    context: str
    exten: str
    priority: int


@dataclass(slots=True)
class Call:
    """One channel running through ``contexts`` from ``context``/``exten``, priority 1.

    ``variables`` are its channel variables; a key such as ``CHANNEL(channeltype)`` or
    ``PJSIP_HEADER(read,X-Foo)`` gives what that function returns on this channel."""

    contexts: Mapping[str, list[Step]]
    context: str
    exten: str
    variables: dict[str, str | None] = field(default_factory=dict)
    priority: int = 1
    trace: list[Step] = field(default_factory=list)
    ended: str = ""  # why the call stopped running: "hangup", "no step" ...
    _stack: list[_Frame] = field(default_factory=list)

    def run(self, stop: Callable[[Step], bool]) -> Step | None:
        """Run until a step for which ``stop`` is true (returned; the next run goes on after
        it) or the end of the call (None; :attr:`ended` says why)."""
        for _ in range(_MAX_STEPS):
            step = self._current()
            if step is None:
                self.ended = f"no step {self.context},{self.exten},{self.priority}"
                return None
            self.trace.append(step)
            self.variables["EXTEN"] = self.exten
            self.variables["CONTEXT"] = self.context
            self.priority += 1
            app = step.app.lower()
            if app in _HANGUP_APPS:
                self.ended = "hangup"
                return step
            if self._control(step, app, step.data):
                continue
            if stop(step):
                return step
        self.ended = "too many steps (a loop?)"
        return None

    def value(self, name: str) -> str:
        """A variable as the dialplan reads it ("" when unset)."""
        value = self.variables.get(name, "")
        if value is None:
            raise _Unknown(name)
        return value

    def expand(self, text: str) -> str | None:
        """``text`` with its ``${...}`` and ``$[...]`` substituted; None when it depends on
        an unknown value."""
        try:
            return self._subst(text)
        except _Unknown:
            return None

    # -- execution ----------------------------------------------------------------------

    def _current(self) -> Step | None:
        steps = self.contexts.get(self.context, ())
        matching = [s for s in steps if s.exten == self.exten]
        if not matching:
            pattern = next((s.exten for s in steps
                            if s.priority == 1 and exten_matches(s.exten, self.exten)), None)
            matching = [s for s in steps if s.exten == pattern]
        return next((s for s in matching if s.priority == self.priority), None)

    def _control(self, step: Step, app: str, data: str) -> bool:
        """Run ``app`` if it changes variables or the course of the call; False if it is
        an event (any other application)."""
        if app == "set":
            self._set(data)
        elif app == "execif":
            cond, _, branches = data.partition("?")
            true, _, false = branches.partition(":")
            chosen = true if self._condition(step, cond) else false
            if chosen:
                inner_app, inner_data = split_app(chosen)
                if not self._control(step, inner_app.lower(), inner_data):
                    return False
        elif app == "gotoif":
            cond, _, branches = data.partition("?")
            true, _, false = branches.partition(":")
            chosen = true if self._condition(step, cond) else false
            if chosen:
                self._goto(step, chosen)
        elif app == "goto":
            self._goto(step, data)
        elif app == "gosub":
            target, args = data, ""
            if target.endswith(")") and "(" in target:
                target, _, args = target[:-1].partition("(")
            self._stack.append(_Frame(self.context, self.exten, self.priority))
            self._goto(step, target)
            for i, arg in enumerate(args.split(",") if args else [], 1):
                self.variables[f"ARG{i}"] = self.expand(arg)
        elif app == "return":
            if not self._stack:
                raise Undecidable(step, "Return() without a Gosub")
            frame = self._stack.pop()
            self.context, self.exten, self.priority = frame.context, frame.exten, \
                frame.priority
            self.variables["GOSUB_RETVAL"] = self.expand(data)
        else:
            return False
        return True

    def _set(self, data: str) -> None:
        name, _, value = data.partition("=")
        name = name.strip()
        if "(" in name:  # a function (CHANNEL(...), PJSIP_HEADER(add,...), SHARED(...))
            return
        self.variables[name.lstrip("_")] = self.expand(value)

    def _condition(self, step: Step, cond: str) -> bool:
        value = self.expand(cond)
        if value is None:
            raise Undecidable(step, f"{step.app}({step.data}) depends on a value only a live "
                              "channel knows")
        value = value.strip()
        if not value:
            return False
        try:
            return float(value) != 0
        except ValueError:
            return True

    def _goto(self, step: Step, target: str) -> None:
        expanded = self.expand(target)
        if expanded is None:
            raise Undecidable(step, f"{step.app} to {target}: an unknown destination")
        parts = [p.strip() for p in expanded.split(",")]
        if len(parts) == 3:
            self.context, self.exten = parts[0], parts[1]
        elif len(parts) == 2:
            self.exten = parts[0]
        prio = parts[-1]
        if prio.isdigit():
            self.priority = int(prio)
            return
        label = next((s for s in self.contexts.get(self.context, ())
                      if s.label == prio and (s.exten == self.exten or
                                              exten_matches(s.exten, self.exten))), None)
        if label is None:
            raise Undecidable(step, f"{step.app} to label {prio}, which does not exist")
        self.priority = label.priority

    # -- substitution -------------------------------------------------------------------

    def _subst(self, text: str) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            if text.startswith("${", i) or text.startswith("$[", i):
                close = _matching(text, i + 1)
                inner = self._subst(text[i + 2:close])
                out.append(self._resolve(inner) if text[i + 1] == "{" else evaluate(inner))
                i = close + 1
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def _resolve(self, inner: str) -> str:
        if inner in self.variables or "(" not in inner:
            name, _, sub = inner.partition(":")
            if inner in self.variables:
                name, sub = inner, ""
            value = self.value(name)
            if sub:
                offset, _, length = sub.partition(":")
                start = int(offset or 0)
                value = value[start:]
                if length:
                    value = value[:int(length)]
            return value
        func, _, args = inner.partition("(")
        args = args.removesuffix(")")
        if func == "FILTER":
            allowed, _, value = args.partition(",")
            return "".join(c for c in value if _in_set(c, allowed))
        if func == "LEN":
            return str(len(args))
        if func == "CUT":  # CUT(varname,delimiter,field): the field-th piece, 1-based
            name, _, rest = args.partition(",")
            delim, _, fieldspec = rest.rpartition(",")
            pieces = self.value(name).split(delim.replace("\\", "") or "-")
            index = int(fieldspec or 1)
            return pieces[index - 1] if 0 < index <= len(pieces) else ""
        raise _Unknown(inner)


def _in_set(char: str, allowed: str) -> bool:
    i = 0
    while i < len(allowed):
        if i + 2 < len(allowed) and allowed[i + 1] == "-":
            if allowed[i] <= char <= allowed[i + 2]:
                return True
            i += 3
        else:
            if allowed[i] == char:
                return True
            i += 1
    return False


def _matching(text: str, open_at: int) -> int:
    """Index of the bracket closing the one at ``open_at`` (``{`` or ``[``)."""
    opening = text[open_at]
    closing = "}" if opening == "{" else "]"
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i
    raise _Unknown(f"unbalanced {text!r}")


# -- $[...] expressions -------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:("[^"]*")|(!=|<=|>=|=~|[|&=<>+\-*/%()!])|([^\s|&=<>+\-*/%()!"]+))')


def evaluate(expression: str) -> str:
    """An Asterisk ``$[...]`` expression's value: ``|`` ``&``, comparisons (numeric when
    both sides are numbers), ``+ - * / %``, ``!``, parentheses, quoted strings."""
    tokens: list[str] = []
    pos = 0
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if m is None or m.end() == pos:
            if expression[pos:].strip():
                raise _Unknown(f"cannot read {expression!r}")
            break
        tokens.append(m.group(0).strip())
        pos = m.end()
    parser = _Parser([t for t in tokens if t])
    value = parser.either()
    return value


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _truthy(value: str) -> bool:
    number = _number(value)
    return bool(value) and (number is None or number != 0)


def _fmt(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.i = 0

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self) -> str:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def either(self) -> str:
        left = self.both()
        while self._peek() == "|":
            self._take()
            right = self.both()
            left = left if _truthy(left) else right
        return left

    def both(self) -> str:
        left = self.compare()
        while self._peek() == "&":
            self._take()
            right = self.compare()
            left = left if _truthy(left) and _truthy(right) else "0"
        return left

    def compare(self) -> str:
        left = self.sum()
        while self._peek() in ("=", "!=", "<", ">", "<=", ">="):
            op = self._take()
            right = self.sum()
            a, b = _number(left), _number(right)
            pair: tuple[float, float] | tuple[str, str] = (a, b) if a is not None and \
                b is not None else (left, right)
            x, y = pair
            result = {"=": x == y, "!=": x != y, "<": x < y, ">": x > y,  # type: ignore[operator]
                      "<=": x <= y, ">=": x >= y}[op]  # type: ignore[operator]
            left = "1" if result else "0"
        return left

    def sum(self) -> str:
        left = self.product()
        while self._peek() in ("+", "-"):
            op = self._take()
            right = self.product()
            a, b = _number(left), _number(right)
            if a is None or b is None:
                raise _Unknown(f"{left} {op} {right}")
            left = _fmt(a + b if op == "+" else a - b)
        return left

    def product(self) -> str:
        left = self.unary()
        while self._peek() in ("*", "/", "%"):
            op = self._take()
            right = self.unary()
            a, b = _number(left), _number(right)
            if a is None or b is None or (op != "*" and b == 0):
                raise _Unknown(f"{left} {op} {right}")
            left = _fmt(a * b if op == "*" else (a // b if op == "/" else a % b))
        return left

    def unary(self) -> str:
        token = self._peek()
        if token == "!":
            self._take()
            return "0" if _truthy(self.unary()) else "1"
        if token == "-" and self.i + 1 < len(self.tokens):
            self._take()
            number = _number(self.unary())
            if number is None:
                raise _Unknown("-")
            return _fmt(-number)
        if token == "(":
            self._take()
            inner = self.either()
            if self._peek() == ")":
                self._take()
            return inner
        if token is None:
            return ""
        self._take()
        return token[1:-1] if token.startswith('"') and token.endswith('"') else token
