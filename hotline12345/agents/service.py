"""Starting the agents services beside the FastAGI server (``hotline12345 serve``).

Typical use, in the serve command::

    from hotline12345.agents.http_options import add_http_arguments
    from hotline12345.agents.service import start_agents_services

    add_http_arguments(serve_parser)          # --http-host, --http-port
    ...
    async with await start_agents_services(site, data_dir, args.http_host, args.http_port):
        await fastagi_server.serve_forever()

Configuration (never from the site file):

- AMI: ``HOTLINE12345_AMI_HOST``, ``HOTLINE12345_AMI_PORT`` (5038), ``HOTLINE12345_AMI_USER``,
  ``HOTLINE12345_AMI_SECRET`` or ``HOTLINE12345_AMI_SECRET_FILE``. Unset: no monitor, and
  the wallboard says so and how to connect.
- Shared state: ``HOTLINE12345_REDIS_URL``; else in the process, with the decided calls
  behind the figures kept in ``agents-records.jsonl`` in the data directory, so that the
  "today" figures survive a restart.
- Audit log: ``HOTLINE12345_DATABASE_URL`` (else SQLite in the data directory).
- First admin: ``HOTLINE12345_ADMIN_PASSWORD``, else a one-time password printed once,
  which must be changed at the first login. With users already there it is ignored, and
  the start says so, lists the users and how to reset a password.
- Recordings (failed jobs and tickets in the API): the ``recordings`` settings that
  ``serve`` builds with ``hotline12345.recordings.settings.settings_from``.
- Other subsystems see every AMI event through ``ami_listeners`` (``serve`` passes the
  recordings pipeline's ``JobSink.handle_event``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hotline12345.db.migrate import upgrade
from hotline12345.env import DATABASE_URL_ENV as ENV_DATABASE_URL
from hotline12345.logs import log_event
from hotline12345.paths import database_url as default_database_url

from .audit import AuditLog
from .callback_views import CallbackTickets
from .client import AmiConfig
from .codec import AmiMessage
from .http_options import DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT
from .queues import QueueDef, queue_defs
from .recordings_access import RecordingsAccess
from .runtime import AgentsRuntime
from .store import StateStore, store_from_env
from .topics_views import TopicsAccess
from .users import ENV_ADMIN_PASSWORD, UserError, UserStore
from .web import build_app, start_site
from .web_settings import WebSettings

if TYPE_CHECKING:
    from hotline12345.recordings.settings import RecordingSettings
    from hotline12345.sharing.pull import PullFeeds

    from .tickets_access import TicketsAccess

__all__ = ["AgentsServices", "existing_users_notice", "start_agents_services"]

_log = logging.getLogger("hotline12345.agents")

@dataclass
class AgentsServices:
    """The running wallboard, API and AMI monitor. ``await close()`` (or leave the
    ``async with``) to stop them."""

    runtime: AgentsRuntime
    app: web.Application
    runner: web.AppRunner
    users: UserStore
    audit: AuditLog
    url: str
    port: int
    admin_password: str | None = None
    _closed: bool = field(default=False, repr=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.runner.cleanup()
        finally:
            await self.runtime.stop()
            self.audit.close()

    async def __aenter__(self) -> AgentsServices:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


def _site_queues(site: object) -> tuple[QueueDef, ...]:
    if site is None:
        try:
            from hotline12345.config import load_site

            site = load_site(None)
        except Exception as exc:  # the wallboard still shows the queues AMI reports
            log_event(_log, "agents.site.unavailable", logging.WARNING, error=str(exc))
            return ()
    return queue_defs(site)


def _headers_listener(
    callback: Callable[[Mapping[str, str]], object],
) -> Callable[[AmiMessage], None]:
    """Adapt a listener of header mappings (``JobSink.handle_event``): it gets a read-only
    view of the event's headers (no copy), so a listener that tries to change them fails
    alone and cannot disturb another, nor the state model."""

    def listener(msg: AmiMessage) -> None:
        callback(MappingProxyType(msg.headers))

    return listener


def _recordings_access(
    recordings: RecordingSettings | RecordingsAccess | None,
) -> RecordingsAccess | None:
    """The wallboard's view of the recordings pipeline: settings are read through
    ``hotline12345.recordings.api`` (imported only then: it is heavy)."""
    if recordings is None or isinstance(recordings, RecordingsAccess):
        return recordings
    from .recordings_from_settings import SettingsRecordings

    return SettingsRecordings(recordings)


def _print_now(line: str) -> None:
    print(line, flush=True)  # seen at once, also when stdout is a pipe or a log file


def existing_users_notice(users: UserStore, env: Mapping[str, str],
                          data_dir: Path) -> list[str]:
    """What ``serve`` says at start when the data directory has its users already: who
    can log in (names and roles, never passwords), how to reset a password, and that
    ``HOTLINE12345_ADMIN_PASSWORD`` was ignored if it is set (it only creates ``admin``
    on a fresh install)."""
    agents_cmd = f"hotline12345 agents --data-dir {shlex.quote(str(data_dir))} users"
    try:
        existing = users.list()
    except UserError as exc:
        return [f"  the users file cannot be read: {exc}"]
    if existing:
        names = ", ".join(f"{u.name} ({u.role}{', one-time password' if u.must_change else ''})"
                          for u in existing)
        lines = [f"  users: {names}",
                 f"  to reset a password: {agents_cmd} set NAME --role ROLE "
                 "(asks for it; or pipe it as one line on standard input)"]
    else:
        lines = [f"  no users: nobody can log in; create one with {agents_cmd} set NAME "
                 "--role admin"]
    if env.get(ENV_ADMIN_PASSWORD):
        lines.append(f"  {ENV_ADMIN_PASSWORD} was ignored: users exist already in "
                     f"{users.path} (it only creates 'admin' on a fresh install); to set "
                     f"admin's password: {agents_cmd} set admin --role admin")
        log_event(_log, "agents.admin_password.ignored", logging.WARNING,
                  users_file=str(users.path), users=len(existing))
    return lines


async def start_agents_services(
    site: object,
    data_dir: Path | str,
    http_host: str = DEFAULT_HTTP_HOST,
    http_port: int = DEFAULT_HTTP_PORT,
    *,
    env: Mapping[str, str] | None = None,
    ami: AmiConfig | bool | None = True,
    store: StateStore | None = None,
    database_url: str | None = None,
    clock: Callable[[], float] = time.time,
    bcrypt_rounds: int = 12,
    confirm_timeout_s: float | None = None,
    say: Callable[[str], Any] = _print_now,
    ami_listeners: Sequence[Callable[[Mapping[str, str]], object]] = (),
    recordings: RecordingSettings | RecordingsAccess | None = None,
    web_settings: WebSettings | None = None,
    tickets: TicketsAccess | None = None,
    feeds: PullFeeds | None = None,
    topics: TopicsAccess | None = None,
    callbacks: CallbackTickets | None = None,
) -> AgentsServices:
    """Start the supervisor wallboard, its JSON API and, when AMI is configured, the AMI
    monitor; return a handle (also an async context manager) that stops them.

    ``site``: the loaded site (``site.queues``), a mapping ``queue → (label, target s)``,
    or ``None`` to load the default site file. ``data_dir``: where users (and, by default,
    the SQLite audit log) live. ``http_port=0`` picks a free port (see ``.port``).

    ``ami``: ``True`` reads the AMI settings from the environment (``None`` when unset),
    an :class:`AmiConfig` uses that, ``None``/``False`` runs without AMI. ``store``:
    default from ``HOTLINE12345_REDIS_URL``.

    ``ami_listeners``: each is called with the headers of every AMI event (a read-only view),
    after the state model applied it, in the monitor's reader: quick and non-blocking.
    ``recordings``: the recordings pipeline's settings (or any
    :class:`.recordings_access.RecordingsAccess`), for ``/api/recordings/failed`` and
    ``/api/tickets/{uniqueid}`` (without them those answer 503 saying what to configure).
    ``tickets``: the ticket loop behind ``/api/tickets`` and the ticket pages
    (:class:`.tickets_access.TicketsAccess`; without it the ticket API answers 503).
    ``topics``: where the 热点 page and ``/api/topics``, ``/api/surges`` read (e.g.
    ``hotline12345.analytics.service.TopicsService``; without it they answer 503).
    ``feeds``: the site's pull feeds, which ``/api/feed`` serves.
    ``callbacks``: the tickets' 回访 side (``tickets.revisit_desk.RevisitDesk``), for
    ``/api/revisits`` and ``/api/tickets/{id}/callback``.
    ``web_settings``: the wallboard's bounds, lifetimes and clocks; ``confirm_timeout_s``
    (when given) overrides
    its ``confirm_timeout_s``.

    Prints (through ``say``) the URL, and on a fresh install the one-time admin password;
    with users already there, who they are and how to reset a password
    (:func:`existing_users_notice`).
    Raises with a clear message if AMI is half-configured or Redis cannot be reached; on
    any failure everything started so far is stopped again, and no admin is created.
    """
    environ = os.environ if env is None else env
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    queues = _site_queues(site)
    ami_config = AmiConfig.from_env(environ) if ami is True else (ami or None)
    runtime = AgentsRuntime(queues, ami=ami_config,
                            store=store or store_from_env(dict(environ), data), clock=clock)
    for callback in ami_listeners:
        runtime.add_listener(_headers_listener(callback),
                             name=getattr(callback, "__qualname__", None) or repr(callback))
    users = UserStore.in_data_dir(data, rounds=bcrypt_rounds)
    audit_url = database_url or environ.get(ENV_DATABASE_URL) or default_database_url(data)
    await asyncio.to_thread(upgrade, audit_url)  # the wallboard's start-up migrates, as serve
    audit = AuditLog(audit_url)
    runner: web.AppRunner | None = None
    try:
        await runtime.start()
        settings = web_settings or WebSettings()
        if confirm_timeout_s is not None:
            settings = dataclasses.replace(settings, confirm_timeout_s=confirm_timeout_s)
        app = build_app(runtime, users, audit, settings=settings,
                        recordings=_recordings_access(recordings), tickets=tickets,
                        topics=topics, feeds=feeds, callbacks=callbacks)
        runner, port = await start_site(app, http_host, http_port)
        # Last, so that a failed start never leaves an admin whose password nobody saw.
        created = users.ensure_admin(dict(environ))
    except BaseException:
        if runner is not None:
            with contextlib.suppress(Exception):
                await runner.cleanup()
        with contextlib.suppress(Exception):
            await runtime.stop()
        audit.close()
        raise
    shown = f"[{http_host}]" if ":" in http_host else http_host
    url = f"http://{shown}:{port}/"
    services = AgentsServices(runtime, app, runner, users, audit, url, port)
    say(f"hotline12345 wallboard: {url}")
    if created is not None:
        name, password = created
        if password is None:
            say(f"  first start: user '{name}' (管理员) created with the password from "
                f"{ENV_ADMIN_PASSWORD}")
        else:
            services.admin_password = password
            say(f"  first start: log in as '{name}' with this one-time password: {password}")
            say("  it is not shown again, and must be changed at the first login "
                f"({url}password)")
    else:
        for line in existing_users_notice(users, environ, data):
            say(line)
    if ami_config is None:
        say("  AMI not configured: the wallboard shows no live data until "
            "HOTLINE12345_AMI_HOST/_USER/_SECRET are set")
    log_event(_log, "agents.web.started", url=url, ami=bool(ami_config),
              store=runtime.store.description, listeners=len(ami_listeners),
              recordings=recordings is not None)
    return services
