"""The call flows, one module each, registered explicitly in :func:`build_registry`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from hotline12345.ivr.flows.common import Recorder, utc_now
from hotline12345.ivr.flows.inbound import InboundFlow
from hotline12345.ivr.flows.survey import SurveyFlow
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.routing import QueueLoad, Router


@dataclass(frozen=True, slots=True)
class Services:
    """What the flows need from the rest of the controller."""

    router: Router
    recorder: Recorder
    clock: Callable[[], datetime] = utc_now
    queue_load: Callable[[], Mapping[str, QueueLoad]] | None = None


def build_registry(services: Services) -> FlowRegistry:
    """Every flow the controller serves, by script name. Add new flows here."""
    registry = FlowRegistry()
    registry.register("inbound", InboundFlow(services.router, services.recorder,
                                             clock=services.clock,
                                             queue_load=services.queue_load))
    registry.register("survey", SurveyFlow(services.recorder, clock=services.clock))
    return registry
