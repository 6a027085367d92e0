"""Bad request bodies and bad request heads, against the real server over TCP: every
POST route (enumerated from the app's router, so a new route is covered) answers each bad
body with 400 (413 when too large) in the JSON error shape and one log line without a
traceback; an over-long or over-numerous header is answered 400 by aiohttp and logged as
one short line, never an ERROR traceback; a programming error stays a 500 logged once with
its traceback."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from hotline12345.agents.audit import AuditLog
from hotline12345.agents.runtime import AgentsRuntime
from hotline12345.agents.service import AgentsServices
from hotline12345.agents.users import UserStore
from hotline12345.agents.web import build_app, start_site

from .test_agents_web import basic, client, login, start

NESTED_JSON = b"[" * 3000 + b"]" * 3000
TOO_LARGE = b'{"user": "' + b"x" * (80 * 1024) + b'"}'
MANY_FIELDS = b"&".join(b"f%d=1" % i for i in range(2000))
BAD_BODIES: list[tuple[str, str, bytes, int]] = [
    # (what, Content-Type, body, expected status); "gzip" in what: Content-Encoding gzip
    ("nested JSON", "application/json", NESTED_JSON, 400),
    ("unknown JSON charset", "application/json; charset=no-such-charset", b"{}", 400),
    ("non-UTF-8 JSON", "application/json", b'{"user": "\xff\xfe"}', 400),
    ("too large JSON", "application/json", TOO_LARGE, 413),
    ("unknown form charset", "application/x-www-form-urlencoded; charset=no-such-charset",
     b"user=a", 400),
    ("non-UTF-8 form", "application/x-www-form-urlencoded", b"user=\xff\xfe&password=x", 400),
    ("multipart without boundary", "multipart/form-data", b"--x\r\n\r\nuser\r\n--x--\r\n", 400),
    ("too large form", "application/x-www-form-urlencoded", b"user=" + b"x" * (80 * 1024), 413),
    ("too many form fields", "application/x-www-form-urlencoded", MANY_FIELDS, 413),
    ("undecodable gzip JSON", "application/json", b"not gzip at all", 400),
    ("undecodable gzip form", "application/x-www-form-urlencoded", b"not gzip at all", 400),
]


@pytest.fixture
async def board(tmp_path: Path) -> AsyncIterator[AgentsServices]:
    services = await start(tmp_path, None)
    try:
        yield services
    finally:
        await services.close()


def post_routes(services: AgentsServices) -> list[str]:
    """Every POST route, its path parameters filled (a ticket id, an action)."""
    paths = sorted({r.resource.canonical.replace("{id}", "1").replace("{action}", "sign")
                    for r in services.app.router.routes()
                    if r.method == "POST" and r.resource is not None})
    assert not [p for p in paths if "{" in p], paths
    assert "/api/login" in paths and "/login" in paths and "/api/seats/pause" in paths
    return paths


def refused_type(path: str, content_type: str) -> bool:
    """JSON routes (under /api/) refuse a form, form routes refuse JSON, with 415; only
    /api/login reads its body as JSON whatever it is said to be."""
    is_form = "form" in content_type
    if path.startswith("/api/"):
        return is_form and path != "/api/login"
    return not is_form


def tracebacks_and_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records
            if r.exc_info or r.levelno >= logging.ERROR]


def bad_body_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "agents.http.bad_body"]


async def test_every_post_route_answers_bad_bodies_400_in_the_json_shape(
    board: AgentsServices, caplog: pytest.LogCaptureFixture
) -> None:
    answers: dict[tuple[str, str], tuple[int, str]] = {}
    with caplog.at_level(logging.DEBUG):
        for path in post_routes(board):
            for what, content_type, body, status in BAD_BODIES:
                async with client(board) as s:
                    headers = await login(s)
                    headers["Content-Type"] = content_type
                    if "gzip" in what:
                        headers["Content-Encoding"] = "gzip"
                    before = len(bad_body_lines(caplog))
                    r = await s.post(path, data=body, headers=headers, allow_redirects=False)
                    text = await r.text()
                    assert r.content_type == "application/json", (path, what, r.status, text)
                    answer = await r.json()
                    answers[(path, what)] = (r.status, answer["field"])
                    assert set(answer) == {"error", "field"}, (path, what, answer)
                    if refused_type(path, content_type):
                        assert (r.status, answer["field"]) == (415, "content-type"), (path, what)
                        continue
                    # /api/login reads a form as JSON: too many fields is just not JSON.
                    if path.startswith("/api/") and what == "too many form fields":
                        status = 400
                    assert r.status == status, (path, what, text)
                    assert answer["field"] == "body", (path, what, answer)
                    assert len(bad_body_lines(caplog)) == before + 1, (path, what)
                    # The session survives: a bad body did nothing (no logout).
                    assert (await s.get("/api/me")).status == 200, (path, what)
    assert tracebacks_and_errors(caplog) == []
    assert answers[("/api/login", "nested JSON")] == (400, "body")
    assert answers[("/api/login", "non-UTF-8 form")] == (400, "body")
    assert answers[("/login", "multipart without boundary")] == (400, "body")
    line = bad_body_lines(caplog)[0]
    assert line.levelno == logging.WARNING
    fields = line.fields  # type: ignore[attr-defined]
    assert fields["path"] == "/api/login" and fields["remote"] == "127.0.0.1"
    assert "RecursionError" not in fields["error"] and "nested" in fields["error"]


async def test_good_bodies_still_work_after_the_body_is_read_up_front(
    board: AgentsServices,
) -> None:
    async with client(board) as s:
        r = await s.post("/login", data={"user": "admin", "password": "admin-pass-1"},
                         allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (302, "/")
        h = await login(s)
        r = await s.post("/api/seats/pause", json={"paused": True}, headers=h)
        assert (r.status, (await r.json())["field"]) == (400, "interface")
        r = await s.post("/api/login", data=b"  ", headers={"Content-Type": "application/json"})
        assert (r.status, (await r.json())["field"]) == (400, "body")
        r = await s.post("/api/logout", json={}, headers=h)
        assert r.status == 200


async def raw_request(port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await reader.read(65536)
    finally:
        writer.close()


@pytest.mark.parametrize("head", [
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(300)) + b"\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["long-header", "too-many-headers", "long-url"])
async def test_bad_request_heads_are_one_short_line_without_a_traceback(
    board: AgentsServices, caplog: pytest.LogCaptureFixture, head: bytes
) -> None:
    with caplog.at_level(logging.DEBUG):
        answer = await raw_request(board.port, head)
        assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:200]
        async with client(board) as s:  # the server goes on serving
            assert (await s.get("/health")).status == 200
    assert tracebacks_and_errors(caplog) == []
    lines = [r for r in caplog.records if r.getMessage() == "agents.http.bad_request"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert lines[0].levelno == logging.WARNING and fields["remote"] == "127.0.0.1"
    assert len(fields["error"]) <= 200 and "a" * 200 not in fields["error"]


async def test_a_programming_error_is_a_500_logged_once_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise KeyError("a bug in a handler")

    users = UserStore.in_data_dir(tmp_path, rounds=4)
    users.set("admin", "admin-pass-1", "supervisor")
    runtime = AgentsRuntime()
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    app = build_app(runtime, users, audit)
    app.router.add_get("/broken", broken)
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        with caplog.at_level(logging.DEBUG):
            async with aiohttp.ClientSession() as s:
                r = await s.get(f"http://127.0.0.1:{port}/broken",
                                headers=basic("admin", "admin-pass-1"))
                assert r.status == 500
        logged = tracebacks_and_errors(caplog)
        assert len(logged) == 1, logged
        record = next(r for r in caplog.records if r.exc_info)
        assert record.levelno == logging.ERROR and record.exc_info is not None
        assert isinstance(record.exc_info[1], KeyError)
    finally:
        await runner.cleanup()
        audit.close()
