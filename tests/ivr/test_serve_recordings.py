"""``hotline12345 serve`` turns the AMI event of a finished recording into a recording job at
once, with the call's facts (the UserEvent the rendered hangup handler sends; see
hotline12345/asterisk and the AMI framing of ../shared/asterisk-22-captures/ami-queue-call.raw).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hotline12345.recordings.naming import RECORDING_USEREVENT
from tests.agents.fake_ami import FakeAmi, frame
from tests.waiting import until

from .conftest import serve_process


def queued_jobs(db: Path) -> dict[str, dict[str, object]]:
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute("select uniqueid, payload from recording_jobs").fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return {}
    return {uid: json.loads(payload) for uid, payload in rows}


async def test_serve_queues_a_job_for_the_recording_ami_reports(tmp_path: Path) -> None:
    db = tmp_path / "hotline12345.sqlite3"
    async with FakeAmi() as ami, serve_process(tmp_path, ami.port):
        await until(lambda: ami.logins > 0 and bool(ami.live), timeout=30)
        assert queued_jobs(db) == {}
        ami.broadcast(frame(
            ("Event", "UserEvent"), ("Privilege", "user,all"),
            ("Channel", "PJSIP/telecom-00000007"), ("Uniqueid", "1795849990.7"),
            ("Linkedid", "1795849990.7"), ("CallerIDNum", "13900139000"),
            ("CallerIDName", "王五"), ("UserEvent", RECORDING_USEREVENT),
            ("Base", "1795849990.7"), ("Dialled", "12315"), ("LegacyNumber", "12315"),
            ("LegacyMode", "双号并行"), ("Queue", "market"), ("Seat", "PJSIP/8201")))
        await until(lambda: "1795849990.7" in queued_jobs(db), timeout=20)
        job = queued_jobs(db)["1795849990.7"]
        text = json.dumps(job, ensure_ascii=False)
        assert "PJSIP/8201" in text and "13900139000" in text and "双号并行" in text
        # an unrelated event makes no job
        ami.broadcast(frame(("Event", "UserEvent"), ("UserEvent", "SomethingElse"),
                            ("Uniqueid", "1795849990.8")))
        # ... which shows once a later recording's job is there (events are handled in order)
        ami.broadcast(frame(
            ("Event", "UserEvent"), ("Privilege", "user,all"),
            ("Channel", "PJSIP/telecom-00000009"), ("Uniqueid", "1795849990.9"),
            ("Linkedid", "1795849990.9"), ("CallerIDNum", "13900139000"),
            ("UserEvent", RECORDING_USEREVENT), ("Base", "1795849990.9"),
            ("Dialled", "12345"), ("Queue", "q-general"), ("Seat", "PJSIP/8001")))
        await until(lambda: "1795849990.9" in queued_jobs(db), timeout=20)
        assert set(queued_jobs(db)) == {"1795849990.7", "1795849990.9"}
