"""The controller's wiring: what ``hotline12345 serve`` starts, in which order, and how it
stops. The command line (:mod:`hotline12345.ivr.cli`) only parses arguments into
:class:`ServeOptions` and calls :func:`serve`.

Start-up, in order: the database is migrated (:func:`hotline12345.db.migrate.upgrade`: the
only place ``serve`` changes a schema); the transcription pool starts (when a speech model
is set); the call store and its recorder open; the FastAGI server listens; the wallboard,
its API and the AMI monitor start, the queue-load board follows the monitor, and the
ticket loop's 督办 sweep runs every ``tickets.sweep_interval_s``; the departments' feeds
(:mod:`hotline12345.sharing.service`) start before the wallboard, which serves the pull
feeds. SIGINT or SIGTERM stops them in the reverse order, letting running calls finish
within the grace time.

The controller's timeouts come from the site file's ``controller:`` section; a value given
on the command line (:attr:`ServeOptions.env_timeout_s`, ...) overrides it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hotline12345.config.schema import (
    CONTROLLER_TIMEOUT_BOUNDS,
    Controller,
    Site,
    controller_timeout_problem,
)
from hotline12345.logs import log_event

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hotline12345.analytics.publish import WarningSink
    from hotline12345.analytics.service import TopicsService
    from hotline12345.ivr.server import ServerConfig

__all__ = ["GC_GEN0_THRESHOLD", "ServeError", "ServeOptions", "serve", "settle_process"]

log = logging.getLogger(__name__)

#: Young-generation threshold of the cyclic GC while serving: above the ~10,000 container
#: objects that 500 calls in flight keep alive, so a collection finds garbage instead of
#: re-scanning live calls at high concurrency (measured in docs/performance.md).
GC_GEN0_THRESHOLD = 10_000


class ServeError(Exception):
    """The controller cannot start; the message says why and how to fix it."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``serve`` takes from its command line. A timeout left ``None`` comes from the
    site file's ``controller:`` section."""

    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    max_sessions: int = 1000
    shutdown_grace_s: float = 30.0
    data_dir: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    env_timeout_s: float | None = None
    command_timeout_s: float | None = None
    session_budget_s: float | None = None


def settle_process() -> None:
    """Process settings ``serve`` applies once start-up has loaded everything (the bench's
    controller applies the same):

    - logging skips the per-record lookups of the calling source line, thread and process
      (the "Optimization" table of the logging HOWTO): the JSON lines carry none of them;
    - ``gc.freeze()`` moves what start-up loaded (site, routing tables, SQLAlchemy, ...)
      to the permanent generation, so full collections stop re-scanning it, and the
      young-generation threshold becomes :data:`GC_GEN0_THRESHOLD`. Sessions free
      themselves by reference counting (no cycles); the collector is left for the rest.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def server_config(site_controller: Controller, options: ServeOptions) -> ServerConfig:
    """The FastAGI server's configuration: the site's timeouts, overridden by the options.
    Raises :class:`ServeError` naming the option or the value that is wrong."""
    from hotline12345.ivr.server import ServerConfig

    timeouts: dict[str, float] = {}
    for name in CONTROLLER_TIMEOUT_BOUNDS:
        given = getattr(options, name)
        value = float(getattr(site_controller, name) if given is None else given)
        problem = controller_timeout_problem(name, value)
        if problem:
            where = ("--" + name.removesuffix("_s").replace("_", "-") if given is not None
                     else f"the site file's controller.{name}")
            raise ServeError(f"{where}: {problem}")
        timeouts[name] = value
    try:
        return ServerConfig(host=options.agi_host, port=options.agi_port,
                            allowed_hosts=options.agi_allow, max_sessions=options.max_sessions,
                            shutdown_grace_s=options.shutdown_grace_s,
                            env_timeout_s=timeouts["env_timeout_s"],
                            command_timeout_s=timeouts["command_timeout_s"],
                            session_budget_s=timeouts["session_budget_s"])
    except ValueError as exc:
        raise ServeError(str(exc)) from None


async def _warn_of_surges(topics: TopicsService, sessions: Callable[[], Session],
                          outbox: WarningSink, interval_s: float) -> None:
    """Every ``interval_s``: index the tickets not yet counted, look for surges, and record
    each new warning for its departments' feeds. An error is logged; the next round tries
    again."""
    from hotline12345.analytics.publish import publish_surges

    def one_round() -> int:
        warnings = topics.surges()  # indexes what is new first
        with sessions() as session, session.begin():
            return publish_surges(session, warnings, outbox, datetime.now(UTC))

    while True:
        try:
            recorded = await asyncio.to_thread(one_round)
            if recorded:
                log_event(log, "topics.surges.recorded", warnings=recorded)
        except Exception as exc:  # a database hiccup must not end the loop
            log_event(log, "topics.surges.failed", logging.ERROR,
                      error=f"{type(exc).__name__}: {exc}"[:300])
        await asyncio.sleep(interval_s)


def serve(site: Site, options: ServeOptions, *, say: Callable[[str], None] = _say) -> int:
    """Run the controller on ``site`` until SIGINT/SIGTERM; the exit status. Raises
    :class:`ServeError` when it cannot start (nothing is left running then)."""
    from hotline12345.agents.service import start_agents_services
    from hotline12345.agents.tickets_from_site import tickets_from_site
    from hotline12345.analytics.service import TopicsService
    from hotline12345.calls.recorder import CallRecorder
    from hotline12345.calls.store import SqlCallStore
    from hotline12345.config import default_site_path
    from hotline12345.db.engine import make_engine
    from hotline12345.db.migrate import DatabaseUnusable, upgrade_or_explain
    from hotline12345.env import DATABASE_URL_ENV
    from hotline12345.ivr.flows import Services, build_registry
    from hotline12345.ivr.queue_load import QueueLoadBoard
    from hotline12345.ivr.server import FastAgiServer
    from hotline12345.paths import data_dir, database_url
    from hotline12345.recordings.api import JobSink
    from hotline12345.recordings.settings import settings_from
    from hotline12345.recordings.vosk_model import ModelError
    from hotline12345.recordings.worker import start_embedded_pool
    from hotline12345.routing import Router
    from hotline12345.sharing.outbox import Outbox
    from hotline12345.sharing.service import start_feeds
    from hotline12345.tickets.sweeper import Sweeper

    config = server_config(site.file.controller, options)
    if Path(site.source) == default_site_path():
        say(f"hotline12345 controller: built-in default site ({site.source}); give your "
            "own with --config or HOTLINE12345_CONFIG (start it from `hotline12345 config "
            "show`)")
    else:
        say(f"hotline12345 controller: site file {Path(site.source).resolve()}")
    root = data_dir(options.data_dir)
    url = os.environ.get(DATABASE_URL_ENV) or database_url(root)
    try:  # the schema changes here (and in `db upgrade`), never in a constructor
        upgrade_or_explain(url)
    except DatabaseUnusable as exc:
        raise ServeError(str(exc)) from None
    recording_settings = settings_from(site, data_dir=options.data_dir, database_url=url)
    try:  # one transcription worker pool (a spawned process); None when no model is set
        recordings = start_embedded_pool(recording_settings)
    except ModelError as exc:
        raise ServeError(str(exc)) from None
    # Finished recordings that AMI reports (UserEvent HotlineRecording, MixMonitorStop,
    # Hangup) become jobs at once, with the call's facts; the directory scan is the net.
    job_sink = JobSink(recording_settings)
    store = SqlCallStore(url)
    recorder = CallRecorder(store)
    queue_load = QueueLoadBoard()  # live waiting callers per queue, once AMI is followed
    registry = build_registry(Services(Router(site), recorder, queue_load=queue_load))
    # the ticket pages and API (/tickets, /api/tickets): the site's workflow on the database;
    # every transition's event goes to the departments' feeds, in its own transaction
    outbox = Outbox(site.file.feeds)
    # 热点 and 预警 (analytics/): each transition re-counts its ticket's terms if its text
    # changed; new tickets from the recordings are counted by the periodic refresh
    topics = TopicsService.for_site(site, make_engine(url), data_dir=root)
    tickets = tickets_from_site(site, url, recordings_dir=recording_settings.recordings_dir,
                                listeners=[outbox.record, topics.listener])
    # the ticket loop's 督办 sweep, every tickets.sweep_interval_s (also `tickets sweep`)
    sweeper = Sweeper(tickets.sessions, tickets.workflow)
    server = FastAgiServer(registry, config)

    async def run() -> None:
        try:
            await server.start()
        except OSError as exc:
            raise ServeError(f"cannot listen on {options.agi_host}:{options.agi_port}: "
                             f"{exc.strerror or exc}; choose another --agi-host/--agi-port"
                             ) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        say(f"hotline12345 controller: FastAGI on {options.agi_host}:{server.port} "
            f"(flows: {', '.join(registry.names())}); data in {root}")
        feeds = await start_feeds(site.file.feeds, url, say=say)  # 信息共享 (sharing/)
        try:
            services = await start_agents_services(
                site, root, options.http_host, options.http_port, database_url=url,
                ami_listeners=[job_sink.handle_event], recordings=recording_settings,
                tickets=tickets, feeds=feeds.pull, topics=topics)
        except Exception as exc:
            await feeds.stop()
            await server.shutdown(0)
            raise ServeError(f"the wallboard could not start: {exc}") from None
        async with services:
            queue_load.follow(services.runtime)  # overflow rules see the AMI monitor's queues
            interval = site.file.tickets.sweep_interval_s
            sweeping = asyncio.create_task(sweeper.run_forever(interval), name="tickets-sweep")
            # the topics index follows new tickets, and surges go to the feeds, as often
            warning = asyncio.create_task(_warn_of_surges(topics, tickets.sessions, outbox,
                                                          interval), name="topics-surges")
            settle_process()
            try:
                await stop.wait()
                await server.shutdown()
            finally:
                sweeping.cancel()
                warning.cancel()
                await asyncio.gather(sweeping, warning, return_exceptions=True)
                await queue_load.stop()
                await feeds.stop()

    try:
        asyncio.run(run())
    finally:
        job_sink.close()
        tickets.close()
        topics.engine.dispose()
        recorder.close()
        store.close()
        if recordings is not None:
            recordings.stop()
        log_event(log, "serve.stopped", **dataclasses.asdict(server.stats))
    return 0
