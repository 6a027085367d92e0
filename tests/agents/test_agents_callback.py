"""The 回访 call against the fake Asterisk: AMI Originate (seat first, then the caller through
the callback context), confirmed by OriginateResponse (success, failure, none, refused), and
audited; the HTTP routes POST /api/tickets/{id}/callback and GET /api/revisits with a
ticket database (SQLite)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline12345.agents.audit import AuditLog
from hotline12345.agents.callback import CallbackDialer, CallbackRequest
from hotline12345.agents.runtime import AgentsRuntime
from hotline12345.agents.service import AgentsServices
from hotline12345.agents.users import User
from hotline12345.config.schema import TicketLoopSettings
from hotline12345.db.migrate import upgrade
from hotline12345.tickets.deadlines import DeadlinePolicy
from hotline12345.tickets.enums import CallbackKind, CallbackOutcome, TicketState
from hotline12345.tickets.models import Ticket, TicketCallback
from hotline12345.tickets.revisit_desk import RevisitDesk
from hotline12345.tickets.store import TicketDraft, save_ticket
from hotline12345.tickets.workdays import WorkCalendar
from hotline12345.tickets.workflow import Workflow
from tests.waiting import until

from .fake_ami import FakeAmi
from .test_agents_browser import ARGS, find_chromium
from .test_agents_web import ami_config, client, login, start

SEAT = "PJSIP/8001"
ADMIN = User("admin", "班长")
#: the 话务员 who calls back through the web routes (admin is a 管理员: it does not)
SEAT_USER = ("seat1", "seat1-password")
AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
async def runtime(fake_ami: FakeAmi) -> AsyncIterator[AgentsRuntime]:
    rt = AgentsRuntime([], ami=ami_config(fake_ami.port))
    await rt.start()
    assert rt.monitor is not None
    await rt.monitor.wait_connected(10)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
def audit(tmp_path: Path) -> AsyncIterator[AuditLog]:
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    upgrade(url)
    log = AuditLog(url)
    yield log
    log.close()


REQUEST = CallbackRequest(ticket_id=7, number="13800138000", of_uniqueid="1795849881.4",
                          interface=SEAT)


async def test_the_seat_answers_and_the_caller_is_dialled(
        runtime: AgentsRuntime, audit: AuditLog, fake_ami: FakeAmi) -> None:
    call = await CallbackDialer(runtime, audit, seat_ring_s=5).place(ADMIN, REQUEST)
    assert (call.result, call.connected, call.http_status) == ("connected", True, 200)
    [sent] = fake_ami.originates
    assert {k: sent[k] for k in ("Channel", "Context", "Exten", "Priority", "Timeout",
                                 "Async", "Variable")} == {
        "Channel": SEAT, "Context": "hotline12345-callback", "Exten": "13800138000",
        "Priority": "1", "Timeout": "5000", "Async": "true",
        "Variable": "HOTLINE_CALLBACK_TICKET=7,HOTLINE_CALLBACK_OF=1795849881.4"}
    # the uniqueid is chosen before the call and names it; the ActionID ties the response
    assert sent["ChannelId"] == call.uniqueid and call.uniqueid.startswith("cb7-")
    assert sent["ActionID"] == call.action_id
    [entry] = await audit.recent()
    assert (entry["action"], entry["result"], entry["interface"]) == ("callback", "connected",
                                                                      SEAT)
    assert entry["detail"]["ticket"] == 7 and entry["detail"]["uniqueid"] == call.uniqueid
    assert "13800138000" not in json.dumps(entry, ensure_ascii=False)  # masked


@pytest.mark.parametrize(("reason", "words"), [(5, "busy"), (3, "rang out"),
                                                (0, "could not be created")])
async def test_the_seat_not_reached_is_a_failure_with_its_reason(
        runtime: AgentsRuntime, audit: AuditLog, fake_ami: FakeAmi, reason: int,
        words: str) -> None:
    fake_ami.originate_result = "failure"
    fake_ami.originate_reason = reason
    call = await CallbackDialer(runtime, audit, seat_ring_s=5).place(ADMIN, REQUEST)
    assert (call.result, call.reason, call.http_status) == ("failed", str(reason), 502)
    assert words in call.message
    [entry] = await audit.recent()
    assert entry["result"] == "failed" and entry["detail"]["reason"] == str(reason)


async def test_a_response_for_another_action_does_not_confirm(
        runtime: AgentsRuntime, audit: AuditLog, fake_ami: FakeAmi) -> None:
    """Two callbacks at once: each is confirmed by its own OriginateResponse (ActionID):
    the second one's failure, which comes first, is not taken for the first's."""
    fake_ami.originate_delay = 0.5
    dialer = CallbackDialer(runtime, audit, seat_ring_s=5)
    first = asyncio.create_task(dialer.place(ADMIN, REQUEST))
    second_request = CallbackRequest(8, "057187654321", "1795849881.9", "PJSIP/8002")

    async def second() -> Any:
        await until(lambda: len(fake_ami.originates) == 1)
        fake_ami.originate_result, fake_ami.originate_delay = "failure", 0.0
        return await dialer.place(ADMIN, second_request)

    one, two = await asyncio.gather(first, second())
    assert (one.result, two.result) == ("connected", "failed")
    assert one.action_id != two.action_id


async def test_no_response_is_unconfirmed_and_a_refusal_is_rejected(
        runtime: AgentsRuntime, audit: AuditLog, fake_ami: FakeAmi) -> None:
    fake_ami.originate_result = "silent"
    call = await CallbackDialer(runtime, audit, seat_ring_s=0.2, margin_s=0.1).place(
        ADMIN, REQUEST)
    assert (call.result, call.http_status) == ("unconfirmed", 202)
    assert "no OriginateResponse" in call.message
    fake_ami.originate_result = "error"
    call = await CallbackDialer(runtime, audit).place(ADMIN, REQUEST)
    assert (call.result, call.message, call.http_status) == ("rejected", "Originate failed",
                                                             409)
    assert [e["result"] for e in await audit.recent()] == ["rejected", "unconfirmed"]


async def test_without_ami_the_callback_fails_saying_why(audit: AuditLog) -> None:
    rt = AgentsRuntime([])
    call = await CallbackDialer(rt, audit).place(ADMIN, REQUEST)
    assert call.result == "failed" and "AMI is not configured" in call.message


# -- the HTTP routes ---------------------------------------------------------------------


@pytest.fixture
def tickets_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tickets.sqlite3'}"
    upgrade(url)
    desk = RevisitDesk(url)
    with Session(desk.engine) as s, s.begin():
        for uniqueid, state in (("9.1", TicketState.CLOSED), ("9.2", TicketState.ACCEPTED)):
            ticket_id, _ = save_ticket(s, TicketDraft(uniqueid=uniqueid, caller="13800138000"))
            ticket = s.get(Ticket, ticket_id)
            assert ticket is not None
            ticket.state = state
            if state is TicketState.CLOSED:  # as the workflow leaves it: a 回访 task
                s.add(TicketCallback(ticket_id=ticket_id, kind=CallbackKind.REVISIT,
                                     created_at=AT, due=AT + timedelta(days=1)))
    desk.close()
    return url


@pytest.fixture
async def wallboard(fake_ami: FakeAmi, tmp_path: Path,
                    tickets_db: str) -> AsyncIterator[tuple[AgentsServices, RevisitDesk]]:
    settings = TicketLoopSettings()
    desk = RevisitDesk(tickets_db, workflow=Workflow(
        DeadlinePolicy(settings, WorkCalendar()), settings))
    services = await start(tmp_path / "data", fake_ami, callbacks=desk)
    services.users.set(*SEAT_USER, "seat")
    try:
        yield services, desk
    finally:
        await services.close()
        desk.close()


async def test_the_callback_route_places_the_call_and_links_it_to_the_ticket(
        wallboard: tuple[AgentsServices, RevisitDesk], fake_ami: FakeAmi) -> None:
    services, desk = wallboard
    async with client(services) as s:
        headers = await login(s, *SEAT_USER)
        r = await s.get("/api/revisits")
        assert r.status == 200
        listed = (await r.json())["revisits"]
        assert [(i["ticket_id"], i["kind"]) for i in listed] == [(1, "回访")]
        assert listed[0]["caller"] != "13800138000"  # masked
        r = await s.post("/api/tickets/1/callback", json={"interface": SEAT}, headers=headers)
        body = await r.json()
        assert r.status == 200, body
        assert body["result"] == "connected" and body["task"]["kind"] == "回访"
        assert fake_ami.originates[0]["Exten"] == "13800138000"
        assert "13800138000" not in json.dumps(body, ensure_ascii=False)
    with Session(desk.engine) as s:
        [task] = s.scalars(select(TicketCallback))
        assert (task.ticket_id, task.kind, task.call_uniqueid, task.seat) == (
            1, CallbackKind.REVISIT, body["uniqueid"], "seat1")


async def test_the_callback_route_refuses_what_it_cannot_call(
        wallboard: tuple[AgentsServices, RevisitDesk], fake_ami: FakeAmi) -> None:
    services, _ = wallboard
    services.users.set("watcher", "watcher-pass-1", "viewer")
    async with client(services) as s:
        headers = await login(s, *SEAT_USER)
        cases = [("/api/tickets/99/callback", {"interface": SEAT}, 404, "id"),
                 ("/api/tickets/2/callback", {"interface": SEAT}, 409, "id"),
                 ("/api/tickets/x1/callback", {"interface": SEAT}, 400, "id"),
                 ("/api/tickets/1/callback", {}, 400, "interface"),
                 ("/api/tickets/1/callback", {"interface": "8001"}, 400, "interface"),
                 ("/api/tickets/1/callback", {"interface": SEAT, "number": "1"}, 400,
                  "number")]
        for path, payload, status, field in cases:
            r = await s.post(path, json=payload, headers=headers)
            assert (r.status, (await r.json())["field"]) == (status, field), (path, payload)
        r = await s.post("/api/tickets/1/callback", json={"interface": SEAT})
        assert (r.status, (await r.json())["field"]) == (403, "X-CSRF-Token")
    for who in (("watcher", "watcher-pass-1"), ()):  # a 观察员, and admin (管理员)
        async with client(services) as s:
            headers = await login(s, *who)
            r = await s.post("/api/tickets/1/callback", json={"interface": SEAT},
                             headers=headers)
            assert (r.status, (await r.json())["field"]) == (403, "role"), who
            r = await s.get("/api/revisits")
            assert r.status == 403
    assert fake_ami.originates == []


async def test_without_ticket_access_the_routes_say_what_to_wire(
        fake_ami: FakeAmi, tmp_path: Path) -> None:
    services = await start(tmp_path, fake_ami)
    services.users.set(*SEAT_USER, "seat")
    try:
        async with client(services) as s:
            headers = await login(s, *SEAT_USER)
            r = await s.post("/api/tickets/1/callback", json={"interface": SEAT},
                             headers=headers)
            assert r.status == 503 and "callbacks" in (await r.json())["error"]
            r = await s.get("/api/revisits?limit=0")
            assert r.status == 503
    finally:
        await services.close()


async def test_a_bad_limit_names_the_field(
        wallboard: tuple[AgentsServices, RevisitDesk]) -> None:
    services, _ = wallboard
    async with client(services) as s:
        await login(s, *SEAT_USER)
        r = await s.get("/api/revisits?limit=5000")
        assert (r.status, (await r.json())["field"]) == (400, "limit")


async def test_the_seat_records_the_callbacks_result(
        wallboard: tuple[AgentsServices, RevisitDesk]) -> None:
    services, desk = wallboard
    async with client(services) as s:
        headers = await login(s, *SEAT_USER)
        bad = [({"outcome": "打通了"}, "outcome"), ({}, "outcome"),
               ({"outcome": "联系上", "rating": "很好"}, "rating"),
               ({"outcome": "联系上", "resolved": "yes"}, "resolved"),
               ({"outcome": "联系上", "by": "x"}, "by")]
        for payload, field in bad:
            r = await s.post("/api/tickets/1/callback/result", json=payload, headers=headers)
            assert (r.status, (await r.json())["field"]) == (400, field), payload
        r = await s.post("/api/tickets/2/callback/result", json={"outcome": "联系上"},
                         headers=headers)
        assert r.status == 409  # 受理, no task
        r = await s.post("/api/tickets/1/callback/result",
                         json={"outcome": "联系上", "resolved": True, "rating": "满意",
                               "call_uniqueid": "cb1-1796526000-abcdef"}, headers=headers)
        body = await r.json()
        assert r.status == 200, body
        assert body["state"] == "已评价"
        assert [e["kind"] for e in body["events"]] == ["revisited", "rated"]
        r = await s.post("/api/tickets/1/callback/result", json={"outcome": "联系上"},
                         headers=headers)
        assert r.status == 409  # done: nothing due any more
    with Session(desk.engine) as s:
        [task] = s.scalars(select(TicketCallback).where(TicketCallback.ticket_id == 1))
        assert (task.outcome, task.call_uniqueid, task.seat) == (
            CallbackOutcome.REACHED, "cb1-1796526000-abcdef", "seat1")
        assert task.done_at is not None


async def test_the_revisits_page_and_its_script(
        wallboard: tuple[AgentsServices, RevisitDesk]) -> None:
    services, _ = wallboard
    async with client(services) as s:
        r = await s.get("/revisits")
        assert r.status == 401  # login first
        await login(s, *SEAT_USER)
        r = await s.get("/revisits")
        page = await r.text()
        assert r.status == 200 and r.content_type == "text/html"
        assert "<title>回访" in page and 'src="/revisits.js"' in page
        r = await s.get("/revisits.js")
        script = await r.text()
        assert r.status == 200 and r.content_type == "application/javascript"
        for path in ("/api/revisits", "/callback`", "/callback/result`", "X-CSRF-Token"):
            assert path in script, path


async def test_the_revisits_page_calls_back_and_records_in_a_browser(
        wallboard: tuple[AgentsServices, RevisitDesk], fake_ami: FakeAmi) -> None:
    """Debian's headless Chromium: the list, 回访 (the seat's phone, then the caller), the
    result form; the ticket leaves the list."""
    from playwright.async_api import async_playwright, expect

    chromium = find_chromium()
    assert chromium, "Debian's chromium is missing: run scripts/system-deps.sh"
    services, desk = wallboard
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(services.url + "login")
            await page.fill("#user", SEAT_USER[0])
            await page.fill("#password", SEAT_USER[1])
            await page.click("#login-submit")
            await expect(page).to_have_url(services.url)
            # from the ticket's page: its 回访 button places the same call
            await page.goto(services.url + "tickets/1")
            await page.fill("#callback-interface", SEAT)
            await page.click("#callback-call")
            await expect(page.locator("#callback-result")).to_contain_text("正在拨打来电人")
            assert [(o["Channel"], o["Exten"]) for o in fake_ami.originates] == [
                (SEAT, "13800138000")]
            await page.goto(services.url + "revisits")
            rows = page.locator("#revisits tbody tr")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text("138****8000")
            await page.fill("#interface", SEAT)
            await rows.first.get_by_role("button", name="回访").click()
            await expect(page.locator("#message")).to_contain_text("正在拨打来电人")
            assert [(o["Channel"], o["Exten"]) for o in fake_ami.originates] == [
                (SEAT, "13800138000")] * 2
            await page.select_option("#outcome", "联系上")
            await page.select_option("#resolved", "true")
            await page.select_option("#rating", "满意")
            await page.click("#result button[type=submit]")
            await expect(page.locator("#message")).to_have_text("没有待回访的工单。")
            await expect(rows).to_have_count(0)
            assert errors == []
        finally:
            await browser.close()
    with Session(desk.engine) as s:
        ticket = s.get(Ticket, 1)
        assert ticket is not None and ticket.state is TicketState.RATED
