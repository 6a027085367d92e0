"""Phone numbers in the forms carriers deliver, normalised once before routing.

Pure: no I/O, no globals that change. The router (:class:`hotline12345.routing.Router`)
builds one :class:`NumberPlan` from the site and applies it to every call context before
its rules, the enterprise list, the block list and the register see a number; the number
as received stays on the call record and in ``HOTLINE_DIALLED``. docs/numbers.md lists the
forms.

Dialled numbers are rewritten only to a number the site gives a meaning to (an access
number, a register row, a linkage number, a number a rule or the enterprise question
names, a transfer-in DID): ``+8612366``, ``8612366``, ``008612366``, ``+8657112317``,
``057112317``, ``57112317`` -> ``12366`` / ``12317``. A number the site itself names is
never rewritten (``057112345`` stays an access number, ``12345`` stays ``12345``).

Callers' numbers are brought to the national form: mobiles as their 11 digits
(``+8613800138000``, ``8613800138000``, ``008613800138000``, ``013800138000`` ->
``13800138000``), landlines with the trunk prefix 0 and their area code
(``+8657187654321``, ``57187654321`` -> ``057187654321``; a local ``87654321`` gets the
centre's first area code). Service numbers (``95598``, ``110``) and anything else stay as
received.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hotline12345.config.patterns import AREA_CODE

#: A mobile number's national form: 11 digits, 13x-19x.
MOBILE = re.compile(r"1[3-9][0-9]{9}")
#: A landline's national significant number (without its trunk prefix 0): Beijing's 10 and
#: eight digits, or a 2- or 3-digit area code starting 2-9 and 7-8 digits (10-11 in all).
#: 400 and 800 numbers are national service numbers, not landlines.
_LANDLINE_NSN = re.compile(r"(?!400|800)(?:10[0-9]{8}|[2-9][0-9]{9,10})")
#: A local landline number, dialled without its area code.
_LOCAL = re.compile(r"[2-9][0-9]{6,7}")


def _national_significant(nsn: str) -> str | None:
    """A caller's number after its country code, in national form; None if it is neither a
    mobile nor a landline."""
    if MOBILE.fullmatch(nsn):
        return nsn
    if _LANDLINE_NSN.fullmatch(nsn):
        return "0" + nsn
    return None


@dataclass(frozen=True, slots=True)
class Normalised:
    """A number as routing reads it, and why it differs from the number as received
    (empty when it does not)."""

    number: str
    why: str = ""


@dataclass(frozen=True, slots=True)
class NumberPlan:
    """What normalisation needs from the site: its area codes (written ``0571``) and the
    dialled numbers it gives a meaning to."""

    area_codes: tuple[str, ...] = ()
    known: frozenset[str] = frozenset()

    @classmethod
    def of(cls, area_codes: Iterable[str], known: Iterable[str]) -> NumberPlan:
        return cls(tuple(area_codes), frozenset(known))

    # -- dialled numbers -------------------------------------------------------------

    def dialled(self, received: str) -> Normalised:
        """The dialled number routing uses. Rewritten only to a number the site knows."""
        known = self.known
        if received in known or not received:
            return Normalised(received)
        national: str | None = None
        prefix = ""
        for prefix in ("+86", "0086", "86"):
            if received.startswith(prefix) and len(received) > len(prefix):
                national = received[len(prefix):]
                break
        if national is not None:
            for candidate in (national, "0" + national):
                if candidate in known:
                    return Normalised(candidate, f"dialled {received} read as {candidate} "
                                                 f"(country code {prefix} removed)")
            short = self._after_area_code(national, with_zero=False)
            if short is not None:
                return Normalised(short, f"dialled {received} read as {short} (country code "
                                         f"{prefix} and area code removed)")
            if prefix != "86" and national.isdigit():  # +86 / 0086 are never anything else
                number = _national_significant(national) or national
                return Normalised(number, f"dialled {received} read as {number} (country "
                                          f"code {prefix} removed)")
            return Normalised(received)
        short = self._after_area_code(received, with_zero=True)
        if short is None:
            short = self._after_area_code(received, with_zero=False)
        if short is not None:
            return Normalised(short, f"dialled {received} read as {short} (area code "
                                     "removed before a short number)")
        return Normalised(received)

    def _after_area_code(self, number: str, *, with_zero: bool) -> str | None:
        for code in self.area_codes:
            written = code if with_zero else code[1:]
            if number.startswith(written):
                rest = number[len(written):]
                if rest in self.known:
                    return rest
        return None

    # -- callers' numbers ------------------------------------------------------------

    def caller(self, received: str | None) -> Normalised | None:
        """The caller's number in national form (None stays None: an unknown caller)."""
        if received is None:
            return None
        if len(received) == 11 and received[0] == "1" and MOBILE.fullmatch(received):
            return Normalised(received)  # the usual mobile: nothing to do
        for prefix in ("+86", "0086", "86"):
            if received.startswith(prefix):
                rest = received[len(prefix):]
                # 86 without + or 00 only before a whole national number (12-13 digits in
                # all), so that a local number starting with 86 stays as it is.
                if prefix == "86" and len(received) < 12:
                    break
                number = _national_significant(rest)
                if number is None and prefix != "86" and rest.isdigit():
                    number = rest  # a service number called from abroad's form (+8695598)
                if number is not None:
                    return Normalised(number, f"caller {received} read as {number} (country "
                                              f"code {prefix} removed)")
                break
        if received.startswith("0") and MOBILE.fullmatch(received[1:]):
            return Normalised(received[1:], f"caller {received} read as {received[1:]} "
                                            "(trunk prefix 0 before a mobile removed)")
        if _LANDLINE_NSN.fullmatch(received):
            number = "0" + received
            return Normalised(number, f"caller {received} read as {number} (the area code's "
                                      "leading 0 added)")
        if self.area_codes and _LOCAL.fullmatch(received):
            number = self.area_codes[0] + received
            return Normalised(number, f"caller {received} read as {number} (local number: "
                                      f"area code {self.area_codes[0]} added)")
        return Normalised(received)


def derive_area_codes(access_numbers: Iterable[str], short_numbers: Iterable[str]) -> tuple[
        str, ...]:
    """The area codes a site's access numbers show: ``057112345`` with ``12345`` known as a
    short number gives ``0571``. Used when the site file lists no ``centre.area_codes``."""
    shorts = sorted(set(short_numbers), key=len, reverse=True)
    found: dict[str, None] = {}
    for number in access_numbers:
        for short in shorts:
            if number != short and number.endswith(short):
                code = number[: -len(short)]
                if AREA_CODE.fullmatch(code):
                    found[code] = None
                break
    return tuple(found)
