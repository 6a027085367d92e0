"""Fixtures for the controller's tests.

The Asterisk side follows ../shared/asterisk-22-captures/fastagi-session.log (a real
Asterisk 22.10.1 FastAGI session, every line a Python string literal): every test speaks
the real protocol over real TCP on 127.0.0.1 (ephemeral ports), with the product's own
server, codec and flows.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline12345.calls.recorder import CallRecorder
from hotline12345.calls.store import SqlCallStore
from hotline12345.config import load_site
from hotline12345.ivr.flows import Services, build_registry
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.ivr.server import FastAgiServer, ServerConfig
from hotline12345.routing import Router

CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "asterisk-22-captures"
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
    s = SqlCallStore(f"sqlite:///{tmp_path / 'calls.sqlite3'}")
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

