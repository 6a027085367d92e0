"""A new user's first day: ``serve`` says which site file it loaded; ``simulate`` with no
controller listening says to start ``hotline12345 serve`` and exits non-zero, and with one
it plays every call, not only the first wave, whatever the calls' outcome."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import pytest

from hotline12345.config import default_site_path
from hotline12345.ivr.registry import FlowRegistry
from tests.agents.fake_ami import FakeAmi
from tests.waiting import until

from .conftest import ServerFactory, serve_process

EXE = str(Path(sys.executable).with_name("hotline12345"))


@pytest.mark.parametrize("own_site", [True, False])
async def test_serve_says_which_site_file_it_loaded(tmp_path: Path, own_site: bool) -> None:
    site = None
    if own_site:
        site = tmp_path / "my-site.yaml"
        site.write_text(default_site_path().read_text(encoding="utf-8"), encoding="utf-8")
    seen: list[str] = []
    async with FakeAmi() as ami, serve_process(tmp_path / "data", ami.port, config=site,
                                               seen=seen):
        # fully started (its AMI monitor logged in) before it is asked to stop
        await until(lambda: ami.logins > 0 and bool(ami.live), timeout=30)
    printed = "".join(seen)
    if site is not None:
        assert f"hotline12345 controller: site file {site.resolve()}\n" in printed
    else:
        assert (f"hotline12345 controller: built-in default site ({default_site_path()})"
                in printed)


async def simulate(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        EXE, "simulate", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_simulate_without_a_controller_says_to_start_one() -> None:
    port = free_port()
    code, out, err = await simulate("--port", str(port), "--count", "10")
    assert code == 2 and out == ""
    assert f"no controller is listening on 127.0.0.1:{port}" in err
    assert f"hotline12345 serve --agi-host 127.0.0.1 --agi-port {port}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("flow", "outcome", "code"), [("inbound", "SUCCESS", 0),
                                                       ("no-such-flow", "FAILURE", 1)])
async def test_simulate_plays_every_call_past_the_first_wave(
        serve: ServerFactory, registry: FlowRegistry, flow: str, outcome: str,
        code: int) -> None:
    server = await serve(registry)
    got, out, err = await simulate("--port", str(server.port), "--count", "60",
                                   "--concurrency", "4", "--flow", flow, "--hangup-ratio", "0",
                                   "--json")
    assert got == code, err
    report = json.loads(out)
    assert report["sessions"] == 60
    assert sum(report["outcomes"].values()) == 60 and report["outcomes"][outcome] > 0
