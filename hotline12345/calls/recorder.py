"""Write-behind for the call store, so that call flows never wait on the database.

Flows :meth:`CallRecorder.submit` facts; one writer thread applies them in batches (one
transaction per batch), in submission order. The writer is woken only by the first fact of
an empty queue or by a full batch (``max_batch``), never per fact: once woken it lingers up
to ``linger_s`` (0.5 s) for more, so that at a steady call rate a transaction carries many
calls (its cost is mostly per transaction: on SQLite about 60 CPU µs a call in batches of 3,
the 0.1 s linger's at 30 calls/s, and 30 µs in batches of 15). :meth:`flush` and
:meth:`close` cut the linger short. A database outage therefore delays or loses
call records but never holds up a caller. :meth:`CallRecorder.close` (called on shutdown)
writes whatever is queued. The queue is bounded: past ``max_queue`` facts are dropped with
an error log rather than letting memory grow without limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from hotline12345.calls.store import CallStore, StoreItem
from hotline12345.logs import log_event

log = logging.getLogger(__name__)


class CallRecorder:
    def __init__(self, store: CallStore, *, max_batch: int = 1000, max_queue: int = 100_000,
                 linger_s: float = 0.5) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        self.store = store
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.linger_s = linger_s
        self._queue: deque[StoreItem] = deque()
        self._lock = threading.Lock()  # taken directly by submit(): C-level enter and exit
        self._cond = threading.Condition(self._lock)
        self._submitted = 0
        self._done = 0
        self._closed = False
        self._hurry = 0  # flush() calls in progress
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="call-recorder", daemon=True)
        self._thread.start()

    def submit(self, item: StoreItem) -> None:
        """Queue one fact; never blocks."""
        with self._lock:
            if self._closed:
                raise RuntimeError("CallRecorder is closed")
            if len(self._queue) >= self.max_queue:
                self.dropped += 1
                log_event(log, "calls.dropped", logging.ERROR, uniqueid=item.uniqueid,
                          queued=len(self._queue), hint="the database is not keeping up")
                return
            self._queue.append(item)
            self._submitted += 1
            if len(self._queue) == 1 or len(self._queue) == self.max_batch:
                self._cond.notify_all()  # work to do, or a full batch: no more lingering

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far has been written (or failed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            self._hurry += 1  # the writer stops lingering while someone flushes
            try:
                while self._done < target:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.notify_all()
                    self._cond.wait(remaining if remaining is not None else 0.5)
                return True
            finally:
                self._hurry -= 1

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive() or self._queue:
            log_event(log, "calls.close_incomplete", logging.ERROR, left=len(self._queue))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue and self._closed:
                    return
                closing = self._closed
            if not closing and self.linger_s and len(self._queue) < self.max_batch:
                # Gather a batch: one transaction for many calls (a few hundred at full
                # load, which spreads each batch's fixed cost thin). Only a full batch,
                # flush() or close() wakes it early: submit() does not notify per fact.
                with self._cond:
                    self._cond.wait_for(self._no_linger, self.linger_s)
            with self._cond:
                n = min(len(self._queue), self.max_batch)
                batch = [self._queue.popleft() for _ in range(n)]
            self._write(batch)
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    def _no_linger(self) -> bool:
        return self._hurry > 0 or self._closed or len(self._queue) >= self.max_batch

    def _write(self, batch: list[StoreItem]) -> None:
        try:
            self.store.write(batch)
            self.written += len(batch)
            return
        except Exception:
            if len(batch) == 1:
                self.failed += 1
                log.error("calls.write_failed", exc_info=True,
                          extra={"fields": {"uniqueid": batch[0].uniqueid}})
                return
        for item in batch:  # isolate the fact that broke the batch
            self._write([item])
