"""Fixtures for the agents tests.

Captures: ../shared/asterisk-22-captures/ami-queue-call.raw and ami-agi-call.raw, raw AMI
bytes from a real Asterisk 22.10.1 (see that directory's README.md for the actions sent).
Redis: the real server at 127.0.0.1:6379, database 1, a unique key prefix per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.captures import CAPTURES

from .fake_ami import FakeAmi
from .tickets_fixtures import db_url, desk, pg_url  # noqa: F401  (the ticket API's fixtures)

QUEUE_CAPTURE = CAPTURES / "ami-queue-call.raw"
AGI_CAPTURE = CAPTURES / "ami-agi-call.raw"
REDIS_URL = os.environ.get("HOTLINE12345_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")


@pytest.fixture(scope="session")
def queue_capture() -> bytes:
    return QUEUE_CAPTURE.read_bytes()


@pytest.fixture(scope="session")
def agi_capture() -> bytes:
    return AGI_CAPTURE.read_bytes()


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    async with FakeAmi() as ami:
        yield ami


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A unique key prefix in Redis database 1; its keys are deleted afterwards."""
    import redis.asyncio as aioredis

    prefix = f"test-agents-{uuid.uuid4().hex[:12]}:"
    yield prefix
    r = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(match=f"{prefix}*")]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()
