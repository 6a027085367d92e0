"""A sender in a process of its own, for the test that kills it: ``python -m
tests.sharing.sender_process DATABASE_URL RECEIVER_URL SECRET``."""

from __future__ import annotations

import asyncio
import sys

from hotline12345.sharing.retry import Backoff
from hotline12345.sharing.sender import FeedSender, SenderSettings
from hotline12345.sharing.signing import Signer
from tests.sharing.conftest import webhook


async def run(database_url: str, receiver_url: str, secret: str) -> None:
    sub = webhook("killed", receiver_url, timeout_s=30)
    settings = SenderSettings(poll_s=0.02, batch=10, concurrency=4,
                              backoff=Backoff(base_s=0.01, cap_s=0.05), lease_s=1.0)
    async with FeedSender(database_url, [sub], settings=settings,
                          signers={"killed": Signer([secret])}):
        print("started", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(run(*sys.argv[1:4]))
