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
