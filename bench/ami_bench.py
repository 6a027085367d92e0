"""AMI events per second into the state model, against panoramisk's parser alone.

The stream is the real Asterisk 22 captures (ami-queue-call.raw and ami-agi-call.raw in
../shared/asterisk-22-captures, or in ``$HOTLINE12345_CAPTURES``, found as the tests find
them: tests/captures.py) repeated, fed in 64 KiB reads, on one core:

- ours: :class:`AmiParser` (bytes → messages) + :meth:`QueueState.apply` for every message;
- baseline: panoramisk 1.4's ``AMIProtocol.data_received`` (decode, split, ``Message``),
  dispatching events to a no-op, i.e. parsing only, no state.

Target: at least 50,000 events/s. The last line is ``events_per_s=… panoramisk_parse_per_s=…``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hotline12345.agents.codec import AmiParser  # noqa: E402
from hotline12345.agents.state import QueueDef, QueueState  # noqa: E402

try:  # the tests' rule: $HOTLINE12345_CAPTURES, else ../shared/asterisk-22-captures
    from tests.captures import CAPTURES
except RuntimeError as exc:
    sys.exit(f"ami_bench: {exc}")
CHUNK = 65536
TARGET = 50_000


def build_stream(repeat: int) -> bytes:
    bodies = []
    greeting = b""
    for name in ("ami-queue-call.raw", "ami-agi-call.raw"):
        data = (CAPTURES / name).read_bytes()
        end = data.index(b"\r\n") + 2
        greeting = data[:end]
        bodies.append(data[end:])
    return greeting + b"".join(bodies) * repeat


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def run_ours(reads: list[bytes]) -> tuple[int, float]:
    parser = AmiParser()
    state = QueueState([QueueDef("q-general", "综合受理", 15)])
    apply = state.apply
    events = 0
    now = 1795849879.0
    start = time.perf_counter()
    for read in reads:
        for msg in parser.feed(read):
            now += 0.001
            apply(msg, now)
            events += msg.kind == "event"
    return events, time.perf_counter() - start


def run_panoramisk(reads: list[bytes]) -> tuple[int, float]:
    from panoramisk.ami_protocol import AMIProtocol

    count = 0

    class Factory:
        def dispatch(self, message: Any) -> None:
            nonlocal count
            count += 1

    proto: Any = AMIProtocol()
    proto.connection_made(None)
    proto.factory = Factory()
    proto.encoding = "utf8"  # as panoramisk's Manager sets it
    start = time.perf_counter()
    for read in reads:
        proto.data_received(read)
    return count, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1500, help="times the captures are repeated")
    ap.add_argument("--rounds", type=int, default=3, help="best of N runs")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    stream = build_stream(args.repeat)
    reads = chunks(stream)
    print(f"stream: {len(stream) / 1e6:.1f} MB, captures from {CAPTURES} repeated "
          f"{args.repeat} times, {len(reads)} reads of {CHUNK} bytes, one core")
    ours = min((run_ours(reads) for _ in range(args.rounds)), key=lambda r: r[1])
    base = min((run_panoramisk(reads) for _ in range(args.rounds)), key=lambda r: r[1])
    ours_rate = ours[0] / ours[1]
    base_rate = base[0] / base[1]
    print(f"ours (codec + state model): {ours[0]} events in {ours[1]:.3f} s = "
          f"{ours_rate:,.0f} events/s")
    print(f"panoramisk parser alone:    {base[0]} events in {base[1]:.3f} s = "
          f"{base_rate:,.0f} events/s")
    print(f"target {TARGET:,} events/s: {'met' if ours_rate >= TARGET else 'NOT met'}; "
          f"ratio to panoramisk's parser {ours_rate / base_rate:.2f}x")
    print(f"events_per_s={ours_rate:.0f} panoramisk_parse_per_s={base_rate:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
