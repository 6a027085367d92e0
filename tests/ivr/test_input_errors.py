"""Bad call facts from the Asterisk side are input errors: over a real socket, the
protocol-error log line masks a caller's number quoted in the script URL, and a missing
agi_uniqueid is one WARNING line without a traceback, the session ending with FAILURE so
the dialplan's fallback takes the call."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from hotline12345.ivr.protocol import format_environment
from hotline12345.ivr.registry import FlowRegistry
from hotline12345.ivr.simulate import capture_like_env
from hotline12345.logs import JsonFormatter, log_event, mask_text
from tests.waiting import until

from .conftest import ServerFactory, read_all


async def exchange(port: int, env: dict[str, str]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(format_environment(env))
    await writer.drain()
    data = await read_all(reader)
    writer.close()
    return data


def lines(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [x for x in caplog.records if x.getMessage() == event]


async def test_a_caller_number_in_the_script_url_is_masked_in_the_log(
        serve: ServerFactory, registry: FlowRegistry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = await serve(registry)
    env = capture_like_env(uniqueid="1795849847.9", dialled="12345", caller="13912345678")
    env["agi_network_script"] = "?caller=13912345678"
    assert await exchange(server.port, env) == b"FAILURE\n"
    [record] = lines(caplog, "agi.protocol_error")
    line = JsonFormatter().format(record)
    assert "13912345678" not in line
    assert "139****5678" in json.loads(line)["error"]


async def test_a_missing_uniqueid_is_one_warning_without_traceback(
        serve: ServerFactory, registry: FlowRegistry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = await serve(registry)
    env = capture_like_env(uniqueid="x", dialled="12345", caller="13912345678")
    del env["agi_uniqueid"]
    assert await exchange(server.port, env) == b"FAILURE\n"
    [record] = lines(caplog, "agi.bad_call_facts")
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert getattr(record, "fields", {})["error"] == "environment field agi_uniqueid is missing"
    assert not [x for x in caplog.records if x.levelno >= logging.ERROR or x.exc_info]
    await until(lambda: server.active_sessions == 0)  # the session ended and was released
    assert server.stats.failed == 1


def test_mask_text_masks_every_long_number() -> None:
    assert mask_text("?caller=13912345678&b=+8613912345678 at 12345, 110, line 7") == (
        "?caller=139****5678&b=+86****5678 at 12345, 110, line 7")


def test_log_event_masks_error_and_line_fields(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.mask_text")
    caplog.set_level(logging.INFO, logger="test.mask_text")
    log_event(logger, "x", error="bad 13800138000", line="agi_callerid: 13800138000", n=1)
    fields = getattr(caplog.records[-1], "fields", {})
    assert fields == {"error": "bad 138****8000", "line": "agi_callerid: 138****8000", "n": 1}
