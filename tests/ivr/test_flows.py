"""The inbound and survey flows over real TCP against a simulated Asterisk 22 (replies and
hangup behaviour as in ../shared/asterisk-22-captures/fastagi-session.log), with the
routing core on the shipped default site and the SQLite call store."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from hotline12345.calls.recorder import CallRecorder
from hotline12345.calls.store import SqlCallStore
from hotline12345.ivr.channel import Channel
from hotline12345.ivr.flows import Services, build_registry
from hotline12345.ivr.protocol import parse_command
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.ivr.simulate import (
    DEAD_OK,
    AsteriskPeer,
    CallScript,
    SessionResult,
    capture_like_env,
    run_session,
)
from hotline12345.routing import Action, CallContext, Router

from .conftest import FIXED_NOW, ServerFactory

CALLER = "13800138000"


def call(dialled: str, uniqueid: str = "1795849847.2", digits: list[str] | None = None,
         flow: str = "inbound", caller: str | None = CALLER, query: str = "",
         args: tuple[str, ...] | None = None, **kw: Any) -> CallScript:
    env = capture_like_env(uniqueid=uniqueid, dialled=dialled, caller=caller, caller_name="张三",
                           script=flow, query=query,
                           args=(dialled, "telecom") if args is None else args)
    return CallScript(env, digits=list(digits or []), **kw)


async def play(server_port: int, script: CallScript,
               peer: AsteriskPeer | None = None) -> SessionResult:
    return await run_session("127.0.0.1", server_port, script, timeout_s=10, peer=peer)


def expected_variables(router: Router, dialled: str, uniqueid: str,
                       answer: str | None = None) -> dict[str, str]:
    d = router.decide(CallContext(dialled=dialled, at=FIXED_NOW, caller=CALLER, answer=answer,
                                  language="zh"))
    return {**d.variables, "HOTLINE_REC": uniqueid}


@pytest.mark.parametrize(("dialled", "action"), [
    ("12317", Action.QUEUE),  # retired legacy number: "now 12345", then its queue
    ("12366", Action.SUB_CENTRE),
    ("110", Action.LINKAGE),
    ("12315", Action.QUEUE),
    ("99999", Action.QUEUE),  # unknown number: the general queue, never a dead end
])
async def test_inbound_routes_and_records(
        serve: ServerFactory, registry: FlowRegistry, router: Router, store: SqlCallStore,
        recorder: CallRecorder, dialled: str, action: Action) -> None:
    server = await serve(registry)
    decision = router.decide(CallContext(dialled=dialled, at=FIXED_NOW, caller=CALLER,
                                         language="zh"))
    assert decision.action is action
    r = await play(server.port, call(dialled))
    assert r.status == "SUCCESS"
    prompts = [parse_command(c)[2] for c in r.commands if c.startswith("STREAM FILE")]
    assert prompts == list(decision.prompts)
    if decision.prompts:
        assert r.commands[0] == "ANSWER"
    assert r.commands[-1].startswith("EXEC MSet ")  # all variables in one round trip
    assert r.variables == expected_variables(router, dialled, "1795849847.2")
    assert recorder.flush(5)
    row = store.get("1795849847.2")
    assert row is not None
    assert (row.caller, row.caller_name, row.dialled) == (CALLER, "张三", dialled)
    assert (row.action, row.target, row.priority) == (action.value, decision.target or None,
                                                       decision.priority)
    assert row.outcome == "routed" and row.started_at == FIXED_NOW == row.routed_at
    assert row.reasons == decision.reasons and row.survey_score is None


async def test_legacy_prompt_then_queue_variables(serve: ServerFactory,
                                                  registry: FlowRegistry) -> None:
    server = await serve(registry)
    r = await play(server.port, call("12317", uniqueid="1795849847.77"))
    assert r.commands[:2] == ["ANSWER", 'STREAM FILE hotline12345/now-12345 ""']
    v = r.variables
    assert v["HOTLINE_ACTION"] == "queue" and v["HOTLINE_QUEUE"] == "rural"
    assert v["QUEUE_PRIO"] == "0" and v["HOTLINE_REC"] == "1795849847.77"


async def test_linkage_carries_dial_and_transfer(serve: ServerFactory,
                                                 registry: FlowRegistry) -> None:
    server = await serve(registry)
    r = await play(server.port, call("110"))
    v = r.variables
    assert v["HOTLINE_ACTION"] == "linkage"
    assert v["HOTLINE_DIAL"] and v["HOTLINE_TRANSFER"] in ("blind", "three_way")
    assert v["HOTLINE_LINKAGE_NUMBER"] == "110"


@pytest.mark.parametrize(("digits", "answer", "queue", "prio"), [
    (["1"], "1", "enterprise", "10"),  # the enterprise green channel
    (["", "1"], "1", "enterprise", "10"),  # answered on the retry
    (["", ""], "", "q-general", "0"),  # no answer twice: the default
    (["7"], "7", "q-general", "0"),  # not an option: the default
])
async def test_the_one_question(serve: ServerFactory, registry: FlowRegistry,
                                store: SqlCallStore, recorder: CallRecorder, digits: list[str],
                                answer: str, queue: str, prio: str) -> None:
    server = await serve(registry)
    r = await play(server.port, call("12345", digits=digits))
    gets = [c for c in r.commands if c.startswith("GET DATA")]
    assert gets == ["GET DATA hotline12345/ask-enterprise 5000 1"] * len(digits)
    assert r.commands[0] == "ANSWER" and r.commands.count("ANSWER") == 1
    assert r.variables["HOTLINE_QUEUE"] == queue and r.variables["QUEUE_PRIO"] == prio
    recorder.flush(5)
    row = store.get("1795849847.2")
    assert row is not None and row.answer == answer and row.target == queue


async def test_enterprise_flag_from_the_dialplan(serve: ServerFactory,
                                                 registry: FlowRegistry) -> None:
    server = await serve(registry)
    r = await play(server.port, call("12345", query="enterprise=1"))
    assert not any(c.startswith("GET DATA") for c in r.commands)  # recognised: no question
    assert r.variables["HOTLINE_QUEUE"] == "enterprise" and r.variables["QUEUE_PRIO"] == "10"


async def test_unknown_caller_is_routed(serve: ServerFactory, registry: FlowRegistry,
                                        store: SqlCallStore, recorder: CallRecorder) -> None:
    server = await serve(registry)
    r = await play(server.port, call("12317", caller=None))
    assert r.status == "SUCCESS"
    recorder.flush(5)
    row = store.get("1795849847.2")
    assert row is not None and row.caller is None and row.caller_name == "张三"


@pytest.mark.parametrize(("script", "message"), [
    (call("12317", args=("abc",)), "agi_arg_1 'abc': expected the dialled number"),
    (call("12317", uniqueid="../../etc/passwd"), "uniqueid '../../etc/passwd'"),
    (call("12317", query="enterprise=maybe"), "query parameter enterprise='maybe'"),
])
async def test_bad_call_facts_fail_with_a_named_field(
        serve: ServerFactory, registry: FlowRegistry, caplog: pytest.LogCaptureFixture,
        script: CallScript, message: str) -> None:
    server = await serve(registry)
    r = await play(server.port, script)
    assert r.status == "FAILURE" and r.commands == []
    [failed] = [x for x in caplog.records if x.getMessage() == "agi.bad_call_facts"]
    assert message in getattr(failed, "fields", {})["error"]
    assert failed.levelno == logging.WARNING and failed.exc_info is None  # an input error


async def test_variables_fall_back_to_set_variable_without_mset(
        serve: ServerFactory, registry: FlowRegistry, router: Router) -> None:
    class NoMSet(AsteriskPeer):
        def _exec(self, app: str, data: str) -> bytes:
            return b"200 result=-2\n" if app.lower() == "mset" else super()._exec(app, data)

    server = await serve(registry)
    script = call("12366")
    r = await play(server.port, script, NoMSet(script))
    assert r.status == "SUCCESS"
    assert r.variables == expected_variables(router, "12366", "1795849847.2")
    assert sum(c.startswith("SET VARIABLE") for c in r.commands) == len(r.variables)


# -- survey ---------------------------------------------------------------------------


@pytest.mark.parametrize(("digits", "score", "commands"), [
    (["4"], 4, ["GET DATA hotline12345/survey-question 5000 1", 'SET VARIABLE SURVEY_SCORE "4"',
                'STREAM FILE hotline12345/survey-thanks ""']),
    (["9", "5"], 5, ["GET DATA hotline12345/survey-question 5000 1",
                     'STREAM FILE hotline12345/survey-invalid ""',
                     "GET DATA hotline12345/survey-question 5000 1",
                     'SET VARIABLE SURVEY_SCORE "5"', 'STREAM FILE hotline12345/survey-thanks ""']),
    (["", ""], None, ["GET DATA hotline12345/survey-question 5000 1"] * 2),
])
async def test_survey_stores_the_score(serve: ServerFactory, registry: FlowRegistry,
                                       store: SqlCallStore, recorder: CallRecorder,
                                       digits: list[str], score: int | None,
                                       commands: list[str]) -> None:
    server = await serve(registry)
    assert (await play(server.port, call("12317"))).status == "SUCCESS"
    r = await play(server.port, call("12317", flow="survey", digits=digits, args=()))
    assert r.status == "SUCCESS" and r.commands == commands
    recorder.flush(5)
    row = store.get("1795849847.2")
    assert row is not None
    assert row.survey_score == score and row.survey_at == FIXED_NOW
    assert row.action == "queue" and row.dialled == "12317"  # the routing facts are kept


async def test_survey_for_another_channel(serve: ServerFactory, registry: FlowRegistry,
                                          store: SqlCallStore, recorder: CallRecorder) -> None:
    server = await serve(registry)
    r = await play(server.port, call("12317", flow="survey", digits=["3"],
                                     query="uniqueid=1795849847.9", args=()))
    assert r.status == "SUCCESS"
    recorder.flush(5)
    row = store.get("1795849847.9")
    assert row is not None and row.survey_score == 3 and row.action is None


# -- a hangup at every step of every flow ----------------------------------------------

SCENARIOS = [
    ("inbound", "12317", []), ("inbound", "12366", []), ("inbound", "110", []),
    ("inbound", "12345", ["1"]), ("inbound", "12345", ["", ""]),
    ("survey", "12317", ["5"]), ("survey", "12317", ["8", "2"]), ("survey", "12317", ["", ""]),
]


@pytest.mark.parametrize(("flow", "dialled", "digits"), SCENARIOS)
async def test_hangup_at_every_step(serve: ServerFactory, registry: FlowRegistry,
                                    store: SqlCallStore, recorder: CallRecorder,
                                    caplog: pytest.LogCaptureFixture, flow: str, dialled: str,
                                    digits: list[str]) -> None:
    server = await serve(registry)
    args = () if flow == "survey" else None
    normal = await play(server.port, call(dialled, "1.normal", digits, flow, args=args))
    assert normal.status == "SUCCESS"
    n = len(normal.commands)
    assert n >= 1
    for step in range(n):
        for style in ("before", "during"):
            uid = f"{step}.{style}"
            r = await play(server.port, call(dialled, uid, digits, flow, args=args,
                                             hangup_at=step, hangup_style=style))
            assert r.status == "HANGUP", (step, style)  # never FAILURE for a hangup
            same = [c.replace("1.normal", uid) for c in normal.commands[:len(r.commands)]]
            assert r.commands == same, (step, style)
            # After the hangup only commands that work on a dead channel are sent.
            for c in r.commands[step + 1:]:
                words = tuple(c.split()[:3])
                assert any(" ".join(words[:k]) in DEAD_OK for k in (1, 2, 3)), (step, c)
            hung_on_media = not any(normal.commands[step].startswith(d) for d in DEAD_OK)
            if hung_on_media:
                assert len(r.commands) == step + 1, (step, style)
            recorder.flush(5)
            row = store.get(uid)
            assert row is not None, (step, style)
            if flow == "inbound":
                assert row.outcome == ("hangup" if hung_on_media else "routed"), (step, style)
    assert not [x for x in caplog.records if x.levelno >= logging.ERROR]
    assert server.stats.failed == 0


# -- one set of flows for both transports -------------------------------------------------


def test_registry_is_explicit(router: Router, recorder: CallRecorder) -> None:
    registry = build_registry(Services(router, recorder))
    assert registry.names() == ["inbound", "survey"]
    again = build_registry(Services(router, recorder))
    assert registry.resolve("inbound") is not again.resolve("inbound")  # no global state


def test_services_are_frozen(router: Router, recorder: CallRecorder) -> None:
    services = Services(router, recorder)
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.router = router  # type: ignore[misc]


async def test_variable_batches_are_reused_without_leaking(serve: ServerFactory) -> None:
    """Batches are planned once per set of variables; values MSet cannot carry ($ would be
    expanded under AGIEXECFULL) go through SET VARIABLE, call after call."""

    class Mixed:
        async def __call__(self, ch: Channel) -> None:
            await ch.set_variables({"A": "1", "B": "x${EVIL}", "C": "a,b(c"},
                                   {"REC": ch.env.uniqueid or ""})

    registry = FlowRegistry()
    registry.register("mixed", Mixed())
    server = await serve(registry)
    runs = [await play(server.port, call("12345", uniqueid=f"7.{i}", flow="mixed"))
            for i in range(3)]
    for i, r in enumerate(runs):
        assert r.variables == {"A": "1", "B": "x${EVIL}", "C": "a,b(c", "REC": f"7.{i}"}
        assert r.commands == [f'EXEC MSet "A=1,C=a\\\\,b\\\\(c,REC=7.{i}"',
                              'SET VARIABLE B "x${EVIL}"']


@pytest.mark.parametrize(("caller", "shown"), [(CALLER, "138****8000"), (None, None)])
async def test_one_structured_log_line_per_call_with_the_caller_masked(
        serve: ServerFactory, registry: FlowRegistry, caplog: pytest.LogCaptureFixture,
        caller: str | None, shown: str | None) -> None:
    import json

    from hotline12345.logs import JsonFormatter

    caplog.set_level(logging.INFO, logger="hotline12345.ivr.flows.inbound")
    server = await serve(registry)
    r = await play(server.port, call("12317", uniqueid="1795849847.31", caller=caller))
    assert r.status == "SUCCESS"
    records = [rec for rec in caplog.records if rec.getMessage() == "ivr.inbound"]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    assert CALLER not in line
    got = json.loads(line)
    assert {k: got[k] for k in ("level", "logger", "event", "uniqueid", "caller", "dialled",
                                "action", "target", "priority", "answer", "outcome")} == {
        "level": "info", "logger": "hotline12345.ivr.flows.inbound", "event": "ivr.inbound",
        "uniqueid": "1795849847.31", "caller": shown, "dialled": "12317", "action": "queue",
        "target": "rural", "priority": 0, "answer": None, "outcome": "routed"}
