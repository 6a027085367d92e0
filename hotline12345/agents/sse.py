"""``/api/stream``: the wallboard's state pushed as Server-Sent Events."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .auth import still_valid
from .web_context import CONTEXT_KEY, context, request_auth

__all__ = ["end_streams", "stream"]


async def stream(request: web.Request) -> web.StreamResponse:
    """Push the state on every change (at most ~10 a second) and every heartbeat; end the
    stream with ``event: logout`` as soon as its session or user is no longer valid (checked
    every ``auth_recheck_s``)."""
    ctx = context(request)
    auth = request_auth(request)
    settings = ctx.settings
    runtime = ctx.runtime
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    task = asyncio.current_task()
    if task is not None:
        ctx.streams.add(task)
    try:
        version = -1
        sent_at = -float("inf")
        while True:
            current = await runtime.wait_change(version, min(settings.auth_recheck_s,
                                                             settings.sse_heartbeat_s))
            if not still_valid(ctx, auth):
                await response.write(b'event: logout\ndata: {"reason": "session ended"}\n\n')
                break
            if current != version or \
                    settings.monotonic() - sent_at >= settings.sse_heartbeat_s:
                version, frame = ctx.snapshots.frame()
                await response.write(frame)
                sent_at = settings.monotonic()
                # Coalesce bursts of AMI events: at most ~10 pushes a second.
                await asyncio.sleep(0.1)
    except ConnectionResetError:
        pass
    finally:
        if task is not None:
            ctx.streams.discard(task)
    return response


async def end_streams(app: web.Application) -> None:
    """On shutdown: end every running stream."""
    for task in list(app[CONTEXT_KEY].streams):
        task.cancel()
