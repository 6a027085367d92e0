"""``@value_record``: an immutable value class for what every call builds.

A frozen dataclass pays for its immutability at run time (its ``__init__`` sets each field
through ``object.__setattr__``); a FastAGI call builds several values (the call context,
one or two decisions, the call record), so those get their immutability from the type
checker instead. The measured cost is in docs/performance.md.

``@value_record`` makes a slots dataclass that the type checker treats as frozen (PEP 681
``dataclass_transform`` with ``frozen_default=True``): assigning to a field is a mypy
error, and CI runs ``mypy --strict`` over the package. At run time it compares and hashes
by its fields exactly as a frozen dataclass does (``unsafe_hash``: the hash is sound
because nothing assigns to a field), and ``dataclasses.replace`` makes changed copies.
Use it only for values built on the per-call path; everything else stays
``@dataclass(frozen=True, slots=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def value_record(cls: type[_T]) -> type[_T]:
    return dataclass(slots=True, unsafe_hash=True)(cls)
