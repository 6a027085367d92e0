"""Where the queue/seat state lives.

- :class:`MemoryStore`: in the process; nothing survives a restart.
- :class:`RecordsFileStore` (``serve`` without Redis: the embedded mode): in the process,
  with every decided call (the records behind the 15m/1h/today figures and the chart)
  appended to ``agents-records.jsonl`` in the data directory (0600), so that a restarted
  ``serve`` shows today's figures as they were. The live part (waiting callers, seats) is
  not kept: Asterisk reports it again at connect (``QueueStatus``).
- :class:`RedisStore` (``HOTLINE12345_REDIS_URL``): shared through Redis, so several
  controllers and dashboards see one truth and a restarted controller carries on:

  ``<prefix>live``            the live state (waiting callers, seats, pending calls), JSON;
  ``<prefix>records``         hash: call-record id → JSON (one per decided call);
  ``<prefix>records:by_time`` sorted set: call-record id by decision time;
  ``<prefix>updates``         pub/sub channel: a message after every save.

  A controller (AMI connected) loads what is stored, then resyncs with Asterisk and saves
  after every change. A dashboard without AMI follows: it reloads on every ``updates``
  message. Call records are written with ``HSETNX``/``ZADD NX`` under ids derived from
  Asterisk's ``Uniqueid``, so two controllers watching the same Asterisk do not count a
  call twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hotline12345.env import REDIS_URL_ENV as ENV_REDIS_URL
from hotline12345.env import redact_url
from hotline12345.logs import log_event

from .figures import KEEP_S, DecidedCall
from .state import QueueState
from .state_persistence import live_state, load_live_state

__all__ = ["ENV_REDIS_URL", "RECORDS_FILE", "MemoryStore", "RecordsFileStore", "RedisStore",
           "StateStore", "store_from_env"]

DEFAULT_PREFIX = "hotline12345:agents:"
_log = logging.getLogger("hotline12345.agents.store")


class StateStore:
    """In-process storage: the state is the :class:`QueueState` object itself."""

    shared = False
    keeps_records = False  # the runtime hands it the decided calls to save
    description = "in-process"
    #: How often at most the runtime saves (the changes between are saved together).
    save_interval_s = 0.05

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def load(self, state: QueueState, now: float) -> bool:
        """Load what is stored into ``state``; False when nothing was stored."""
        return False

    async def save(self, state: QueueState) -> None:
        state.drain_new_records()

    async def follow(self, state: QueueState, now: Callable[[], float],
                     on_change: Callable[[], None]) -> None:
        """Follow changes made by other processes (only meaningful for shared stores)."""
        await asyncio.Event().wait()


MemoryStore = StateStore


class RedisStore(StateStore):
    shared = True

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        self.description = f"redis ({redact_url(url)}, prefix {prefix!r})"
        self._redis: Any = None
        self._last_score = 0.0

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def open(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(self.url, decode_responses=True)
        try:
            await self._redis.ping()
        except Exception as exc:
            await self._redis.aclose()
            raise ConnectionError(
                f"{ENV_REDIS_URL}={redact_url(self.url)}: cannot reach Redis ({exc}); "
                f"start Redis or unset {ENV_REDIS_URL} to keep state in the process"
            ) from exc

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def load(self, state: QueueState, now: float) -> bool:
        r = self._redis
        live = await r.get(self.key("live"))
        if live:
            load_live_state(state, json.loads(live))
        added = await self._load_records(state, now - KEEP_S)
        return bool(live) or added > 0

    async def _load_records(self, state: QueueState, since: float) -> int:
        r = self._redis
        pairs = await r.zrangebyscore(self.key("records:by_time"), since, "+inf",
                                      withscores=True)
        if not pairs:
            return 0
        ids = [p[0] for p in pairs]
        self._last_score = max(self._last_score, max(float(p[1]) for p in pairs))
        raw = await r.hmget(self.key("records"), ids)
        records = []
        for text in raw:
            if text:
                records.append(DecidedCall.from_dict(json.loads(text)))
        return state.load_records(records)

    async def save(self, state: QueueState) -> None:
        records = state.drain_new_records()
        r = self._redis
        async with r.pipeline(transaction=True) as pipe:
            pipe.set(self.key("live"), json.dumps(live_state(state), ensure_ascii=False))
            for rec in records:
                pipe.hsetnx(self.key("records"), rec.id,
                            json.dumps(rec.to_dict(), ensure_ascii=False))
                pipe.zadd(self.key("records:by_time"), {rec.id: rec.decided_at}, nx=True)
            pipe.publish(self.key("updates"), str(state.seq))
            await pipe.execute()

    async def prune(self, now: float) -> int:
        r = self._redis
        old = await r.zrangebyscore(self.key("records:by_time"), "-inf", now - KEEP_S)
        if old:
            async with r.pipeline(transaction=True) as pipe:
                pipe.hdel(self.key("records"), *old)
                pipe.zrem(self.key("records:by_time"), *old)
                await pipe.execute()
        return len(old)

    async def follow(self, state: QueueState, now: Callable[[], float],
                     on_change: Callable[[], None]) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.key("updates"))
        try:
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if msg is None:
                    continue
                # Coalesce a burst of updates into one reload.
                while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.01):
                    pass
                try:
                    live = await self._redis.get(self.key("live"))
                    if live:
                        load_live_state(state, json.loads(live))
                    await self._load_records(state, max(0.0, self._last_score - 60.0))
                except Exception as exc:  # keep following; log what went wrong
                    log_event(_log, "agents.store.follow_failed", logging.WARNING,
                              error=str(exc))
                    continue
                on_change()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
                await pubsub.aclose()


class RecordsFileStore(StateStore):
    """In-process state; the decided calls of the last :data:`KEEP_S` seconds are kept in a
    JSON-lines file (one :meth:`DecidedCall.to_dict` a line), read back at start. Lines that
    cannot be read are skipped and counted in one log line. Pruned hourly.

    The records of a second are appended together (``save_interval_s``), in the event loop:
    a few kilobytes to the page cache cost less than a hop to a thread and back. A crash
    loses at most that second's calls from the figures; a stop saves everything. The hourly
    rewrite reads the whole file, so it runs in a thread, and appends wait for it."""

    keeps_records = True
    save_interval_s = 1.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"in-process (decided calls kept in {path})"
        self._rewriting: asyncio.Lock | None = None

    def _lock(self) -> asyncio.Lock:
        if self._rewriting is None:
            self._rewriting = asyncio.Lock()
        return self._rewriting

    async def load(self, state: QueueState, now: float) -> bool:
        records = await asyncio.to_thread(self._read, now - KEEP_S)
        return state.load_records(records) > 0

    def _read(self, since: float) -> list[DecidedCall]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        records: list[DecidedCall] = []
        bad = 0
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = DecidedCall.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                bad += 1
                continue
            if record.decided_at >= since:
                records.append(record)
        if bad:
            log_event(_log, "agents.store.unreadable_lines", logging.WARNING,
                      file=str(self.path), lines=bad)
        return records

    async def save(self, state: QueueState) -> None:
        records = state.drain_new_records()
        if records:
            async with self._lock():
                self._append(records)

    @staticmethod
    def _lines(records: list[DecidedCall]) -> bytes:
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n"
                       for r in records).encode("utf-8")

    def _append(self, records: list[DecidedCall]) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask: seat interfaces can be numbers
            os.write(fd, self._lines(records))
        finally:
            os.close(fd)

    async def prune(self, now: float) -> int:
        async with self._lock():
            return await asyncio.to_thread(self._rewrite, now - KEEP_S)

    def _rewrite(self, since: float) -> int:
        """Keep only the records decided since ``since``; return how many were dropped."""
        if not self.path.exists():
            return 0
        lines = self.path.read_bytes().count(b"\n")
        kept = self._read(since)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".agents-records-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self._lines(kept))
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return lines - len(kept)


RECORDS_FILE = "agents-records.jsonl"


def store_from_env(env: dict[str, str] | None = None,
                   data_dir: Path | None = None) -> StateStore:
    """Redis when ``HOTLINE12345_REDIS_URL`` is set; else the decided calls in a file of
    ``data_dir`` (:class:`RecordsFileStore`), or only in the process without one."""
    url = (env if env is not None else os.environ).get(ENV_REDIS_URL, "").strip()
    if url:
        return RedisStore(url)
    if data_dir is not None:
        return RecordsFileStore(data_dir / RECORDS_FILE)
    return MemoryStore()
