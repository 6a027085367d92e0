"""The ticket API through HTTP, on SQLite and on the real PostgreSQL: department isolation
for every role (a 承办单位 reading, listing, searching or acting on another department's
ticket gets 404, exactly as for a ticket that does not exist), the workflow's refusals as
409/400/403 bodies, the caller's number masked for every role and revealed only to 话务员
and 班长 with an audit row each time, the recording served with Range support and audited,
and 并单 suggestions."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from hotline12345.tickets.enums import Action, Role

from .tickets_fixtures import CALLER, HOUSING, MARKET, OTHER_CALLER, USERS, Desk, client, login

ALL = {"m1", "m2", "h1", "h2"}
# What each user may see: a handler its department's tickets, everyone else all.
SEES = {"seat": ALL, "boss": ALL, "inspector": ALL, "auditor": ALL, "admin2": ALL,
        "market": {"m1", "m2"}, "housing": {"h1", "h2"}}


def ids(desk: Desk, keys: set[str]) -> set[int]:
    return {desk.ids[k] for k in keys}


@pytest.mark.parametrize("user", sorted(USERS))
async def test_every_role_reads_lists_and_searches_only_what_it_may_see(
        desk: Desk, user: str) -> None:
    visible, hidden = SEES[user], ALL - SEES[user]
    async with client(desk) as s:
        await login(s, user)
        r = await s.get("/api/tickets")
        page = await r.json()
        assert r.status == 200, page
        assert {t["id"] for t in page["tickets"]} == ids(desk, visible)
        assert page["total"] == len(visible)
        for key in sorted(visible):
            tid = desk.ids[key]
            for path in (f"/api/tickets/{tid}", f"/api/tickets/{tid}/history",
                         f"/api/tickets/{tid}/duplicates"):
                assert (await s.get(path)).status == 200, path
        missing = await (await s.get("/api/tickets/99999")).json()
        for key in sorted(hidden):
            tid = desk.ids[key]
            for path in (f"/api/tickets/{tid}", f"/api/tickets/{tid}/history",
                         f"/api/tickets/{tid}/duplicates", f"/api/tickets/{tid}/recording"):
                r = await s.get(path)
                body = await r.json()
                assert r.status == 404, (path, body)
                # the same answer as for a ticket that does not exist: nothing leaks
                assert body == {k: str(v).replace("99999", str(tid))
                                for k, v in missing.items()}, path
            # search by its text, its id: not found
            for q in ("电梯" if key == "h1" else "楼道" if key == "h2" else
                      "牛奶" if key == "m1" else "虚假", str(tid)):
                r = await s.get("/api/tickets", params={"q": q})
                assert tid not in {t["id"] for t in (await r.json())["tickets"]}, q
        if hidden:  # naming another department in the filter is a 404 too
            other = HOUSING if user == "market" else MARKET
            r = await s.get("/api/tickets", params={"department": other})
            assert r.status == 404


@pytest.mark.parametrize("user", sorted(USERS))
async def test_every_role_acting_on_another_departments_ticket_gets_404(
        desk: Desk, user: str) -> None:
    hidden = ALL - SEES[user]
    async with client(desk) as s:
        headers = await login(s, user)
        for key in sorted(hidden):
            tid = desk.ids[key]
            for action in ("签收", "答复", "退单", "申请延期", "sign", "并单"):
                r = await s.post(f"/api/tickets/{tid}/actions/{quote(action)}",
                                 json={"reason": "越权", "reply": "x", "working_days": 1,
                                       "main_ticket_id": desk.ids["m1"]}, headers=headers)
                assert r.status == 404, (action, await r.text())
            r = await s.post(f"/api/tickets/{tid}/reveal", json={}, headers=headers)
            assert r.status == 404
    # and nothing moved
    async with client(desk) as s:
        await login(s, "boss")
        for key in sorted(hidden):
            history = (await (await s.get(f"/api/tickets/{desk.ids[key]}/history")).json())
            assert all(h["actor"] != user for h in history["history"])


async def test_a_handler_signs_and_answers_its_ticket(desk: Desk) -> None:
    m1 = desk.ids["m1"]
    async with client(desk) as s:
        headers = await login(s, "market")
        ticket = await (await s.get(f"/api/tickets/{m1}")).json()
        assert ticket["state"] == "待签收" and ticket["department"] == MARKET
        names = [a["action"] for a in ticket["allowed_actions"]]
        assert "签收" in names and "答复" not in names
        r = await s.post(f"/api/tickets/{m1}/actions/{quote('签收')}", json={},
                         headers=headers)
        assert r.status == 200, await r.text()
        assert (await r.json())["event"]["state"] == "办理中"
        # answering needs its reply: 400 naming the field
        r = await s.post(f"/api/tickets/{m1}/actions/answer", json={"reason": "已处理"},
                         headers=headers)
        body = await r.json()
        assert (r.status, body["field"]) == (400, "reply"), body
        r = await s.post(f"/api/tickets/{m1}/actions/answer",
                         json={"reply": "已责令超市下架并退款"}, headers=headers)
        assert r.status == 200, await r.text()
        # signing again: illegal from 已答复, 409 with the state and what is allowed
        r = await s.post(f"/api/tickets/{m1}/actions/{quote('签收')}", json={},
                         headers=headers)
        body = await r.json()
        assert r.status == 409, body
        assert set(body) >= {"error", "state", "allowed"} and body["state"] == "已答复"
        assert "签收" not in body["allowed"] and isinstance(body["allowed"], list)
        ticket = await (await s.get(f"/api/tickets/{m1}")).json()
        assert ticket["state"] == "已答复" and ticket["reply"] == "已责令超市下架并退款"
        actions = [h["action"] for h in ticket["history"]]
        assert actions[-3:] == ["派单", "签收", "答复"]
        last = ticket["history"][-1]
        assert (last["actor"], last["role"], last["actor_department"], last["from_state"],
                last["to_state"]) == ("market", "承办单位", MARKET, "办理中", "已答复")
        seqs = [h["seq"] for h in ticket["history"]]
        assert seqs == list(range(1, len(seqs) + 1))


async def test_a_role_that_may_not_act_gets_403(desk: Desk) -> None:
    async with client(desk) as s:
        headers = await login(s, "auditor")
        r = await s.post(f"/api/tickets/{desk.ids['m1']}/actions/{quote('签收')}", json={},
                         headers=headers)
        assert r.status == 403, await r.text()
    async with client(desk) as s:
        headers = await login(s, "market")
        # only the centre dispatches
        r = await s.post(f"/api/tickets/{desk.ids['m1']}/actions/{quote('改派')}",
                         json={"department": HOUSING, "reason": "不归我们"}, headers=headers)
        assert r.status in (403, 409), await r.text()


@pytest.mark.parametrize(("body", "field"), [
    ({"department": "公安局", "reason": "改派"}, "department"),
    ({"department": HOUSING, "reason": "改派", "assist_departments": ["不存在局"]},
     "assist_departments"),
    ({"department": HOUSING, "reason": "改派", "urgency": "特急"}, "urgency"),
    ({"department": HOUSING, "reason": "改派", "colour": "red"}, "colour"),
    ({"department": HOUSING, "reason": 5}, "reason"),
    ({"department": HOUSING}, "reason"),
    ({"reason": "改派"}, "department"),
])
async def test_bad_action_bodies_name_the_field(desk: Desk, body: dict[str, Any],
                                                field: str) -> None:
    async with client(desk) as s:
        headers = await login(s, "boss")
        r = await s.post(f"/api/tickets/{desk.ids['m1']}/actions/{quote('改派')}", json=body,
                         headers=headers)
        answer = await r.json()
        assert (r.status, answer["field"]) == (400, field), answer


async def test_an_unknown_action_lists_the_actions(desk: Desk) -> None:
    async with client(desk) as s:
        headers = await login(s, "boss")
        for name, hint in (("飞单", ""), ("回访", "/callback"), ("创建", "")):
            r = await s.post(f"/api/tickets/{desk.ids['m1']}/actions/{quote(name)}", json={},
                             headers=headers)
            body = await r.json()
            assert (r.status, body["field"]) == (404, "action")
            assert "派单" in body["error"] and hint in body["error"]


@pytest.mark.parametrize("user", sorted(USERS))
async def test_the_number_is_masked_for_every_role(desk: Desk, user: str) -> None:
    async with client(desk) as s:
        await login(s, user)
        for path in ["/api/tickets"] + [f"/api/tickets/{desk.ids[k]}" for k in SEES[user]]:
            r = await s.get(path)
            text = await r.text()
            assert CALLER not in text and OTHER_CALLER not in text, path
            assert "欧阳娜娜" not in text
        ticket = await (await s.get(f"/api/tickets/{desk.ids[sorted(SEES[user])[0]]}")).json()
        assert ticket["full_number_allowed"] is (user in ("seat", "boss"))


async def audit_entries(desk: Desk) -> list[dict[str, Any]]:
    async with client(desk) as s:
        await login(s, "auditor")
        r = await s.get("/api/audit", params={"limit": "100"})
        assert r.status == 200
        entries: list[dict[str, Any]] = (await r.json())["entries"]
        return entries


@pytest.mark.parametrize("user", sorted(USERS))
async def test_reveal_only_for_who_calls_back_and_every_reveal_audited(
        desk: Desk, user: str) -> None:
    m1 = desk.ids["m1"]
    allowed = user in ("seat", "boss")
    async with client(desk) as s:
        headers = await login(s, user)
        for _ in range(2):
            r = await s.post(f"/api/tickets/{m1}/reveal", json={"reason": "回访"},
                             headers=headers)
            body = await r.json()
            if not allowed:
                expected = 404 if "m1" not in SEES[user] else 403
                assert r.status == expected, body
                assert CALLER not in str(body)
            else:
                assert (r.status, body) == (200, {"id": m1, "caller": CALLER})
        r = await s.post(f"/api/tickets/{m1}/reveal", data=b"",  # an empty body
                         headers={**headers, "Content-Type": "application/json"})
        assert r.status == (200 if allowed else 404 if "m1" not in SEES[user] else 403)
    reveals = [e for e in await audit_entries(desk) if e["action"] == "reveal_number"]
    if allowed:
        assert len(reveals) == 3
        assert all((e["user"], e["detail"]["ticket_id"], e["result"]) == (user, m1, "shown")
                   for e in reveals)
        assert {e["role"] for e in reveals} == {"话务员" if user == "seat" else "班长"}
        assert sorted(e["detail"]["reason"] for e in reveals) == ["", "回访", "回访"]
    else:
        assert reveals == []


async def test_the_recording_is_served_with_ranges_and_audited(desk: Desk) -> None:
    m1, h1 = desk.ids["m1"], desk.ids["h1"]
    size = (desk.recordings / "2026" / "market.wav").stat().st_size
    async with client(desk) as s:
        await login(s, "market")
        r = await s.get(f"/api/tickets/{m1}/recording")
        data = await r.read()
        assert (r.status, r.headers["Content-Type"], len(data)) == (200, "audio/wav", size)
        assert data[:4] == b"RIFF"
        r = await s.get(f"/api/tickets/{m1}/recording", headers={"Range": "bytes=100-199"})
        assert (r.status, len(await r.read())) == (206, 100)
        assert r.headers["Content-Range"] == f"bytes 100-199/{size}"
    async with client(desk) as s:
        await login(s, "housing")  # its ticket's path leads outside the recordings dir
        r = await s.get(f"/api/tickets/{h1}/recording")
        assert r.status == 404 and b"not yours" not in await r.read()
        r = await s.get(f"/api/tickets/{desk.ids['h2']}/recording")  # none
        assert r.status == 404
    plays = [e for e in await audit_entries(desk) if e["action"] == "play_recording"]
    assert [(e["user"], e["detail"]["ticket_id"], e["detail"]["range"]) for e in plays] == [
        ("market", m1, "bytes=100-199"), ("market", m1, "")]  # newest first


async def test_queue_filters_and_bad_parameters(desk: Desk) -> None:
    async with client(desk) as s:
        await login(s, "boss")
        r = await s.get("/api/tickets", params={"state": "办理中"})
        assert {t["id"] for t in (await r.json())["tickets"]} == ids(desk, {"m2", "h2"})
        r = await s.get("/api/tickets", params={"department": HOUSING})
        assert {t["id"] for t in (await r.json())["tickets"]} == ids(desk, {"h1", "h2"})
        r = await s.get("/api/tickets", params={"q": CALLER})  # 班长 may search by number
        assert {t["id"] for t in (await r.json())["tickets"]} == ids(desk, {"m1", "h1"})
        assert (await (await s.get("/api/tickets", params={"overdue": "1"})).json())[
            "total"] == 0
        for params, field in (({"state": "飞了"}, "state"), ({"page": "0"}, "page"),
                              ({"overdue": "maybe"}, "overdue"),
                              ({"department": "不存在局"}, "department"),
                              ({"q": "x" * 101}, "q")):
            r = await s.get("/api/tickets", params=params)
            assert (r.status, (await r.json())["field"]) == (400, field), params
    async with client(desk) as s:
        await login(s, "market")  # a handler may not search by the caller's number
        r = await s.get("/api/tickets", params={"q": CALLER})
        assert (await r.json())["tickets"] == []
    desk.clock.now = desk.clock.now.replace(year=2027)  # long past every deadline
    async with client(desk) as s:
        await login(s, "market")
        page = await (await s.get("/api/tickets", params={"overdue": "1"})).json()
        assert {t["id"] for t in page["tickets"]} == ids(desk, {"m1", "m2"})
        assert all(t["overdue"] for t in page["tickets"])


async def test_merge_suggestions_and_confirmation(desk: Desk) -> None:
    from datetime import timedelta

    from .tickets_fixtures import START

    near = desk.new_ticket("m3", text="又是过期牛奶", at=START + timedelta(hours=5))
    desk.new_ticket("m4", category="食品安全", at=START + timedelta(hours=1))  # other category
    desk.new_ticket("m5", at=START + timedelta(days=10))  # outside the window
    desk.new_ticket("m6", caller=OTHER_CALLER, at=START + timedelta(hours=1))  # other caller
    for key in ("m3", "m4", "m5", "m6"):
        desk.apply(key, Action.DISPATCH, department=MARKET)
    async with client(desk) as s:
        headers = await login(s, "boss")
        r = await s.get(f"/api/tickets/{desk.ids['m1']}/duplicates")
        assert [t["id"] for t in (await r.json())["duplicates"]] == [near]
        r = await s.post(f"/api/tickets/{near}/actions/{quote('并单')}",
                         json={"main_ticket_id": desk.ids["m1"], "reason": "重复来电"},
                         headers=headers)
        assert r.status == 200, await r.text()
        merged = await (await s.get(f"/api/tickets/{near}")).json()
        assert merged["merged_into"] == desk.ids["m1"]
        r = await s.get(f"/api/tickets/{near}/duplicates")  # merged: nothing to suggest
        assert (await r.json())["duplicates"] == []
        main = await (await s.get(f"/api/tickets/{desk.ids['m1']}")).json()
        assert main["merged"] == [near]
        r = await s.get(f"/api/tickets/{desk.ids['m1']}/duplicates")
        assert (await r.json())["duplicates"] == []
    async with client(desk) as s:  # housing does not even see the suggestion's ticket
        await login(s, "housing")
        assert (await s.get(f"/api/tickets/{near}/duplicates")).status == 404


async def test_the_ticket_view_has_everything_the_page_shows(desk: Desk) -> None:
    desk.apply("m2", Action.REQUEST_EXTENSION, _handler(), working_days=2)
    async with client(desk) as s:
        await login(s, "boss")
        t = await (await s.get(f"/api/tickets/{desk.ids['m2']}")).json()
    assert t["caller"] == "139****2222" and t["caller_name"] == "欧**"
    assert [u["speaker"] for u in t["dialogue"]] == ["来电人", "坐席"]
    assert t["deadlines"]["answer_due"] and t["deadlines"]["sign_due"]
    assert [(a["department"], a["kind"]) for a in t["assignments"]] == [(MARKET, "主办")]
    assert [(x["working_days"], x["decision"]) for x in t["extensions"]] == [(2.0, "待批")]
    assert t["extension_pending"] is True
    names = [a["action"] for a in t["allowed_actions"]]
    assert {"批准延期", "驳回延期"} <= set(names)
    assert all(isinstance(a["fields"], list) for a in t["allowed_actions"])


def _handler() -> Any:
    from hotline12345.tickets.workflow import Actor

    return Actor("market", Role.HANDLER, MARKET)


async def test_an_inspector_raises_supervision_and_the_queue_shows_it(desk: Desk) -> None:
    h2 = desk.ids["h2"]
    async with client(desk) as s:
        headers = await login(s, "inspector")
        r = await s.post(f"/api/tickets/{h2}/actions/supervise",
                         json={"reason": "群众反映强烈", "level": "红牌"}, headers=headers)
        assert r.status == 200, await r.text()
        r = await s.post(f"/api/tickets/{h2}/actions/supervise",
                         json={"reason": "再督", "level": "黄牌"}, headers=headers)
        body = await r.json()
        assert (r.status, body["state"]) == (409, "办理中"), body  # 督办 only goes up
    async with client(desk) as s:
        await login(s, "housing")
        page = await (await s.get("/api/tickets")).json()
        row = next(t for t in page["tickets"] if t["id"] == h2)
        assert row["supervision"] == "红牌"
        ticket = await (await s.get(f"/api/tickets/{h2}")).json()
        last = ticket["history"][-1]
        assert (last["action"], last["actor"], last["role"], last["reason"]) == (
            "督办", "inspector", "督办员", "群众反映强烈")


def test_the_visibility_other_modules_use_is_the_workflows() -> None:
    from sqlalchemy import select

    from hotline12345.agents.ticket_roles import tickets_visible_to
    from hotline12345.agents.users import User
    from hotline12345.tickets.models import Ticket

    assert tickets_visible_to(User("zhang", "观察员")) is None
    handler = tickets_visible_to(User("market", "承办单位", department=MARKET))
    assert handler is not None
    sql = str(select(Ticket.id).where(handler).compile(compile_kwargs={"literal_binds": True}))
    assert MARKET in sql and "dispatched_at" in sql
