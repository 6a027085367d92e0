"""The number formats the site file writes: Asterisk extension patterns (``_138XXXXXXXX``)
for caller-number conditions, and area codes."""

from __future__ import annotations

import re

#: An area code as the site file writes it: the trunk prefix 0, then 2-3 digits.
AREA_CODE = re.compile(r"0(?:10|[2-9][0-9]{1,2})")

_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}


class PatternError(ValueError):
    pass


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a number or an Asterisk pattern to an anchored regex.

    A plain number matches itself. A pattern starts with ``_``: X is any digit, Z 1-9,
    N 2-9, ``[15-7]`` a set, ``.`` one or more characters, ``!`` zero or more.
    """
    if not pattern:
        raise PatternError("empty pattern; write a number such as 13800138000 or a pattern "
                           "such as _138XXXXXXXX")
    if not pattern.startswith("_"):
        if not re.fullmatch(r"\+?[0-9*#]+", pattern):
            raise PatternError(f'"{pattern}" is neither a number nor a pattern; patterns start '
                               "with _ (e.g. _0571XXXXXXXX)")
        return re.compile(re.escape(pattern))
    out: list[str] = []
    body = pattern[1:]
    i = 0
    while i < len(body):
        ch = body[i].upper()
        if ch in _CLASSES:
            out.append(_CLASSES[ch])
        elif ch == "[":
            close = body.find("]", i)
            if close < 0:
                raise PatternError(f'"{pattern}": "[" at position {i + 2} is never closed by "]"')
            members = body[i + 1 : close]
            if not members or not re.fullmatch(r"[0-9*#-]+", members):
                raise PatternError(f'"{pattern}": set "[{members}]" must list digits or ranges '
                                   "such as [1-5]")
            for low, high in re.findall(r"(.)-(.)", members):
                if low > high:
                    raise PatternError(f'"{pattern}": range "{low}-{high}" runs backwards; write '
                                       f"[{high}-{low}]")
            out.append(f"[{members}]")
            i = close
        elif ch == ".":
            out.append(".+")
        elif ch == "!":
            out.append(".*")
        elif ch in "0123456789*#+":
            out.append(re.escape(ch))
        else:
            raise PatternError(f'"{pattern}": character "{body[i]}" is not allowed in a pattern; '
                               "use digits, X, Z, N, [..], . or !")
        i += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:  # anything the checks above missed still names the pattern
        raise PatternError(f'"{pattern}" is not a valid pattern ({exc})') from None
