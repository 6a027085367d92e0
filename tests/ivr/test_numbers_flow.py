"""The inbound flow over FastAGI, with the dialled and calling numbers as Asterisk sends
them from a carrier that delivers E.164 (agi_extension, agi_dnid and the first argument
all ``+8612366``): the call routes as the bare number, the call record keeps the numbers as
received, and the log line masks the caller's national form."""

from __future__ import annotations

import json
import logging

import pytest

from hotline12345.calls.recorder import CallRecorder
from hotline12345.calls.store import SqlCallStore
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.ivr.simulate import CallScript, capture_like_env, run_session
from hotline12345.logs import JsonFormatter
from hotline12345.routing import CallContext, Router

from .conftest import FIXED_NOW, ServerFactory


@pytest.mark.parametrize(("received", "bare"), [
    ("+8612366", "12366"), ("8612366", "12366"), ("008612366", "12366"),
    ("+8657112317", "12317"), ("057112317", "12317"), ("+8612333", "12333"),
    ("+8657112345", "057112345"),
])
@pytest.mark.parametrize("as_argument", [True, False])
async def test_e164_dialled_and_caller_route_as_the_bare_number(
        serve: ServerFactory, registry: FlowRegistry, router: Router, store: SqlCallStore,
        recorder: CallRecorder, caplog: pytest.LogCaptureFixture, received: str, bare: str,
        as_argument: bool) -> None:
    caplog.set_level(logging.INFO, logger="hotline12345.ivr.flows.inbound")
    server = await serve(registry)
    env = capture_like_env(uniqueid="1795849847.5", dialled=received, caller="+8613800138000",
                           caller_name="张三", args=(received, "telecom") if as_argument else ())
    r = await run_session("127.0.0.1", server.port, CallScript(env, digits=[""]), timeout_s=10)
    assert r.status == "SUCCESS"
    plain = router.decide(CallContext(bare, FIXED_NOW, "13800138000", language="zh"))
    expected = {**plain.variables, "HOTLINE_DIALLED": received, "HOTLINE_REC": "1795849847.5"}
    if plain.question is not None:  # the enterprise question on 057112345: not answered
        assert any(c.startswith("GET DATA hotline12345/ask-enterprise") for c in r.commands)
        plain = router.decide(CallContext(bare, FIXED_NOW, "13800138000", answer="",
                                          language="zh"))
        expected = {**plain.variables, "HOTLINE_DIALLED": received,
                    "HOTLINE_REC": "1795849847.5"}
    assert r.variables == expected
    streamed = [c.split()[2] for c in r.commands if c.startswith("STREAM FILE")]
    assert streamed == list(plain.prompts)
    assert recorder.flush(5)
    row = store.get("1795849847.5")
    assert row is not None
    assert (row.dialled, row.caller) == (received, "+8613800138000")  # as received
    assert row.reasons[0].startswith(f"dialled {received} read as {bare} (")
    assert row.reasons[1] == "caller +8613800138000 read as 13800138000 (country code +86 " \
                             "removed)"
    [line] = [JsonFormatter().format(x) for x in caplog.records
              if x.getMessage() == "ivr.inbound"]
    assert json.loads(line)["caller"] == "138****8000"
    assert "13800138000" not in line


async def test_a_call_110_transferred_is_marked_over_fastagi(
        serve: ServerFactory, registry: FlowRegistry, store: SqlCallStore,
        recorder: CallRecorder) -> None:
    """12345 <-> 110 both ways: the DID the default site names for 110's transfers."""
    server = await serve(registry)
    env = capture_like_env(uniqueid="1795849847.6", dialled="12345110", caller="057187654321",
                           args=("12345110", "telecom"))
    r = await run_session("127.0.0.1", server.port, CallScript(env), timeout_s=10)
    assert r.status == "SUCCESS"
    assert not any(c.startswith("GET DATA") for c in r.commands)
    v = r.variables
    assert (v["HOTLINE_QUEUE"], v["QUEUE_PRIO"], v["HOTLINE_LINKED_FROM"]) == (
        "q-general", "5", "110")
    assert recorder.flush(5)
    row = store.get("1795849847.6")
    assert row is not None and row.linked_from == "110" and row.priority == 5
    plain = await run_session("127.0.0.1", server.port, CallScript(capture_like_env(
        uniqueid="1795849847.7", dialled="12366", caller="057187654321")), timeout_s=10)
    assert plain.status == "SUCCESS" and "HOTLINE_LINKED_FROM" not in plain.variables
    assert recorder.flush(5)
    other = store.get("1795849847.7")
    assert other is not None and other.linked_from is None
