"""``@value_record``: frozen for the type checker, compared and hashed by its fields at run
time, as a frozen dataclass is."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline12345.calls.store import RoutedCall, SurveyResult
from hotline12345.ivr.protocol import Environment
from hotline12345.records import value_record
from hotline12345.routing import Action, CallContext, Decision, Question

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@value_record
class Point:
    x: int
    y: int = 0


def test_equal_and_hashed_by_fields_and_copied_by_replace() -> None:
    p = Point(1, 2)
    assert p == Point(1, 2) and p != Point(1, 3)
    assert hash(p) == hash(Point(1, 2)) and len({p, Point(1, 2), Point(2)}) == 2
    assert dataclasses.replace(p, y=5) == Point(1, 5) and p.y == 2
    assert not hasattr(p, "__dict__")  # slots: no stray attributes
    with pytest.raises(AttributeError):
        p.z = 1  # type: ignore[attr-defined]


def test_the_per_call_values_are_value_records() -> None:
    question = Question("hotline/ask")
    decision = Decision(Action.ASK, question=question)
    assert decision == Decision(Action.ASK, question=Question("hotline/ask"))
    assert hash(question) == hash(Question("hotline/ask"))
    call = RoutedCall("1.1", None, None, "12345", "queue", "q-general", 0, (), None, "routed",
                      T0, None)
    assert call == dataclasses.replace(call) and hash(call) == hash(dataclasses.replace(call))
    assert SurveyResult("1.1", 5, T0) == SurveyResult("1.1", 5, T0)
    ctx = CallContext(dialled="12345", at=T0)
    assert dataclasses.replace(ctx, answer="1").answer == "1" and ctx.answer is None
    env = Environment.from_variables({"agi_uniqueid": "1.1"})
    assert env.uniqueid == "1.1"


ASSIGNMENTS = (
    "CallContext(dialled='12345', at=T0).dialled = '12317'",
    "Decision(Action.QUEUE).target = 'q-general'",
    "Question('hotline/ask').retries = 3",
    "SurveyResult('1.1', 5, T0).score = 1",
    "Environment.from_variables({}).script = 'inbound'",
)


def test_assigning_a_field_is_a_type_error(tmp_path: Path) -> None:
    """CI runs mypy --strict, so code that changes a value record does not get in."""
    source = tmp_path / "mutates.py"
    head = ("from datetime import UTC, datetime\n"
            "from hotline12345.calls.store import SurveyResult\n"
            "from hotline12345.ivr.protocol import Environment\n"
            "from hotline12345.routing import Action, CallContext, Decision, Question\n"
            "T0 = datetime.now(UTC)\n")
    source.write_text(head + "\n".join(ASSIGNMENTS) + "\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          "--follow-imports=silent", str(source)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    first = head.count("\n") + 1
    assert [int(e.split(":")[1]) for e in errors] == list(range(first, first + len(ASSIGNMENTS)))
    assert all("is read-only" in e for e in errors), run.stdout
