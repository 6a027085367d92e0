"""What ``asterisk-conf check`` reports: one finding per problem, naming the file and line."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    file: str  # file name relative to the checked directory
    line: int  # 1-based; 0 when the problem is the file as a whole or something missing
    severity: Severity
    code: str  # e.g. "no-route", or asterisklint's message class such as "E_APP_MISSING"
    message: str  # what is wrong and how to fix it

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity.value} [{self.code}] {self.message}"
