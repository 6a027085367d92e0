"""Fixtures for the controller's tests.

The Asterisk side follows ../shared/asterisk-22-captures/fastagi-session.log (a real
Asterisk 22.10.1 FastAGI session, every line a Python string literal): every test speaks
the real protocol over real TCP on 127.0.0.1 (ephemeral ports), with the product's own
server, codec and flows.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hotline12345.calls.recorder import CallRecorder
from hotline12345.calls.store import SqlCallStore
from hotline12345.config import load_site
from hotline12345.db.migrate import upgrade
from hotline12345.ivr.flows import Services, build_registry
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.ivr.server import FastAgiServer, ServerConfig
from hotline12345.routing import Router
from tests.captures import CAPTURES

FASTAGI_CAPTURE = CAPTURES / "fastagi-session.log"

#: A Saturday afternoon, long after every default-register cut-over.
FIXED_NOW = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)


def load_capture(path: Path = FASTAGI_CAPTURE) -> list[tuple[str, bytes]]:
    """The capture as (direction, bytes) pairs: '<' Asterisk to server, '>' server to Asterisk."""
    out: list[tuple[str, bytes]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line[:2] in ("< ", "> "):
            out.append((line[0], ast.literal_eval(line[2:]).encode("utf-8")))
    return out


@pytest.fixture(scope="session")
def capture() -> list[tuple[str, bytes]]:
    return load_capture()


@pytest.fixture(scope="session")
def capture_env(capture: list[tuple[str, bytes]]) -> bytes:
    """The captured environment, blank line included, byte for byte."""
    out = b""
    for direction, data in capture:
        if direction != "<":
            break
        out += data
    assert out.endswith(b"\n\n")
    return out


@pytest.fixture(scope="session")
def router() -> Router:
    return Router(load_site(None))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlCallStore]:
    url = f"sqlite:///{tmp_path / 'calls.sqlite3'}"
    upgrade(url)  # as serve does before it opens the store
    s = SqlCallStore(url)
    yield s
    s.close()


@pytest.fixture
def recorder(store: SqlCallStore) -> Iterator[CallRecorder]:
    r = CallRecorder(store, linger_s=0)
    yield r
    r.close()


@pytest.fixture
def registry(router: Router, recorder: CallRecorder) -> FlowRegistry:
    return build_registry(Services(router, recorder, clock=lambda: FIXED_NOW))


ServerFactory = Callable[..., Awaitable[FastAgiServer]]


@pytest.fixture
async def serve() -> AsyncIterator[ServerFactory]:
    """Start FastAGI servers on ephemeral ports; they are shut down after the test."""
    servers: list[FastAgiServer] = []

    async def start(registry: FlowRegistry, **config: object) -> FastAgiServer:
        config.setdefault("port", 0)
        config.setdefault("shutdown_grace_s", 2.0)
        server = FastAgiServer(registry, ServerConfig(**config))  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.shutdown(0.5)


async def read_all(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    async with asyncio.timeout(timeout):
        return await reader.read()



@contextlib.asynccontextmanager
async def serve_process(data_dir: Path, ami_port: int, *, config: Path | None = None,
                        seen: list[str] | None = None) -> AsyncIterator[int]:
    """``hotline12345 serve`` as a process on embedded defaults in ``data_dir``, its AMI
    monitor pointed at a fake Asterisk on ``ami_port``; yields the FastAGI port. ``config``:
    the site file (default: none given); ``seen`` receives what it printed up to its FastAGI
    line. On exit it is stopped with SIGTERM and must exit 0."""
    import os
    import re
    import sys

    exe = Path(sys.executable).with_name("hotline12345")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hotline12345.cli"]
    env = dict(os.environ, HOTLINE12345_DATA_DIR=str(data_dir),
               HOTLINE12345_ADMIN_PASSWORD="test-only-password",
               HOTLINE12345_AMI_HOST="127.0.0.1", HOTLINE12345_AMI_PORT=str(ami_port),
               HOTLINE12345_AMI_USER="hotline", HOTLINE12345_AMI_SECRET="s3cret")
    for key in ("HOTLINE12345_REDIS_URL", "HOTLINE12345_DATABASE_URL", "HOTLINE12345_CONFIG",
                "HOTLINE12345_AMI_SECRET_FILE", "HOTLINE12345_RECORDINGS_DIR",
                "HOTLINE12345_VOSK_MODEL"):
        env.pop(key, None)
    proc = await asyncio.create_subprocess_exec(
        *cmd, "serve", "--agi-port", "0", "--http-port", "0", "--log-level", "WARNING",
        *(["--config", str(config)] if config is not None else []),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    seen = [] if seen is None else seen
    later: list[str] = []
    draining: asyncio.Task[None] | None = None
    try:
        port = 0
        async with asyncio.timeout(60):
            while not port:
                line = (await proc.stderr.readline()).decode()
                assert line, "serve exited: " + "".join(seen)
                seen.append(line)
                m = re.search(r"FastAGI on 127\.0\.0\.1:(\d+)", line)
                port = int(m.group(1)) if m else 0
        # what it says later is read too (a pipe nobody reads would block it when full)
        draining = asyncio.create_task(_drain(proc.stderr, later))
        yield port
    finally:
        proc.terminate()
        try:
            async with asyncio.timeout(60):
                rc = await proc.wait()
        except TimeoutError:
            stacks = await _stacks(proc.pid)
            proc.kill()
            await proc.wait()
            raise AssertionError("serve did not stop within 60 s of SIGTERM; its threads:\n"
                                 f"{stacks}\nit printed:\n{''.join(seen + later)[-4000:]}"
                                 ) from None
        finally:
            if draining is not None:
                await draining
    assert rc == 0, "".join(seen + later)[-4000:]


async def _drain(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode(errors="replace"))


async def _stacks(pid: int) -> str:
    """The Python stacks of a process that hangs (py-spy, a dev dependency)."""
    import shutil
    import sys

    spy = Path(sys.executable).with_name("py-spy")
    exe = str(spy) if spy.exists() else shutil.which("py-spy")
    if exe is None:
        return "(py-spy not found)"
    dump = await asyncio.create_subprocess_exec(exe, "dump", "--pid", str(pid),
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await dump.communicate()
    return out.decode(errors="replace")


def registry_of(**flows: Any) -> FlowRegistry:
    """A registry of the given flows, by name (what the tests serve)."""
    r = FlowRegistry()
    for name, flow in flows.items():
        r.register(name, flow)
    return r
