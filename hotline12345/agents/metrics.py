"""Prometheus metrics, computed from the live state at scrape time (one registry per app)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .figures import WINDOWS
from .runtime import AgentsRuntime
from .seats import SEAT_STATE_LABELS

__all__ = ["CONTENT_TYPE", "build_registry", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_RATES = (
    ("answer_rate", "hotline12345_queue_answer_ratio", "接通率: answered / offered"),
    ("answer_15s_rate", "hotline12345_queue_answer_15s_ratio",
     "answered within 15 s / answered"),
    ("abandon_rate", "hotline12345_queue_abandon_ratio", "abandoned / offered"),
    ("service_level", "hotline12345_queue_service_level_ratio",
     "answered within the queue's target / offered"),
    ("asa_s", "hotline12345_queue_asa_seconds", "average speed of answer"),
)


class _StateCollector(Collector):
    def __init__(self, runtime: AgentsRuntime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        rt = self.runtime
        now = rt.clock()
        state = rt.state
        up = GaugeMetricFamily("hotline12345_ami_connected", "1 when the AMI session is up")
        up.add_metric([], 1.0 if rt.monitor is not None and rt.monitor.connected else 0.0)
        yield up
        events = CounterMetricFamily("hotline12345_ami_events", "AMI events received")
        events.add_metric([], float(rt.events_total))
        yield events
        read_cpu = CounterMetricFamily(
            "hotline12345_ami_read_cpu_seconds",
            "CPU the AMI monitor spent on the events it read: parsing, the state model and "
            "the listeners (the recordings pipeline)")
        read_cpu.add_metric([], rt.monitor.read_cpu_s if rt.monitor is not None else 0.0)
        yield read_cpu
        reconnects = CounterMetricFamily("hotline12345_ami_reconnects", "AMI reconnections")
        reconnects.add_metric([], float(rt.monitor.status.reconnects if rt.monitor else 0))
        yield reconnects
        waiting = GaugeMetricFamily("hotline12345_queue_callers_waiting", "callers waiting",
                                    labels=["queue"])
        longest = GaugeMetricFamily("hotline12345_queue_longest_wait_seconds",
                                    "longest current wait", labels=["queue"])
        offered = GaugeMetricFamily("hotline12345_queue_offered_calls",
                                    "calls offered in the window", labels=["queue", "window"])
        answered = GaugeMetricFamily("hotline12345_queue_answered_calls",
                                     "calls answered in the window", labels=["queue", "window"])
        abandoned = GaugeMetricFamily("hotline12345_queue_abandoned_calls",
                                      "calls abandoned in the window",
                                      labels=["queue", "window"])
        rates = {key: GaugeMetricFamily(name, doc, labels=["queue", "window"])
                 for key, name, doc in _RATES}
        for name, q in sorted(state.queues.items()):
            waiting.add_metric([name], float(len(q.callers)))
            longest.add_metric([name], q.longest_wait(now))
            for w in WINDOWS:
                f = state.figures(name, w, now)
                offered.add_metric([name, w], float(f.offered))
                answered.add_metric([name, w], float(f.answered))
                abandoned.add_metric([name, w], float(f.abandoned))
                values = f.to_dict()
                for key, _, _ in _RATES:
                    v = values[key]
                    if v is not None:
                        rates[key].add_metric([name, w], float(v))
        yield waiting
        yield longest
        yield offered
        yield answered
        yield abandoned
        yield from rates.values()
        seats = GaugeMetricFamily("hotline12345_seats", "seats by state", labels=["state"])
        counts = dict.fromkeys(SEAT_STATE_LABELS, 0)
        for seat in state.seats.values():
            counts[seat.current(now)[0].value] += 1
        for st, n in counts.items():
            seats.add_metric([st], float(n))
        yield seats


def build_registry(runtime: AgentsRuntime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StateCollector(runtime))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)  # type: ignore[no-any-return]
