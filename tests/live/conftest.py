"""Fixtures of the live tests: one real Asterisk 22 per test session, with the project's
rendered configuration, and the product's controller (``hotline12345 serve``) in front of it.

Without the Asterisk bundle these tests are skipped with one line saying how to get it; in CI
(``CI=true``) a skipped live test fails the run instead (see :func:`pytest_sessionfinish`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.ami import Ami
from tests.live.harness import (
    TELECOM_IP,
    TEST_AMI_SECRET,
    TEST_AMI_USER,
    UNICOM_IP,
    Asterisk,
    BundleMissing,
    Controller,
    Lab,
    Phones,
    install_bundle,
)

_skipped_live: list[str] = []
_missing: list[str] = []


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test``) every live test runs on one worker: one Asterisk
    for the run, while the other worker takes the rest of the suite. pytest-xdist reads the
    group marks in its own ``pytest_collection_modifyitems``, so this one runs first
    whenever this file is loaded. (pytest 9 broke the grouping itself: pyproject.toml.)"""
    for item in items:
        if "live" in item.keywords:
            item.add_marker(pytest.mark.xdist_group("live"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "live" in report.keywords:
        _skipped_live.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _skipped_live:
        return
    reason = _missing[0] if _missing else "see the skip reasons (pytest -rs)"
    verdict = "CI requires them: failing the run" if in_ci() else "skipped"
    terminalreporter.write_line(
        f"live Asterisk tests: {len(_skipped_live)} {verdict}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI the live tests are required: a run in which any was skipped fails."""
    if _skipped_live and in_ci() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def asterisk_prefix() -> Path:
    try:
        return install_bundle()
    except BundleMissing as exc:
        _missing.append(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def lab(asterisk_prefix: Path) -> Iterator[Lab]:
    """The private tree, in a temporary directory (kept, and named at the end, when
    ``HOTLINE12345_LIVE_KEEP=1``: logs of Asterisk, SIPp and the controllers)."""
    keep = os.environ.get("HOTLINE12345_LIVE_KEEP") == "1"
    root = Path(tempfile.mkdtemp(prefix="hotline12345-live-"))
    os.chmod(root, 0o755)
    lab = Lab(root, asterisk_prefix)
    try:
        lab.build()
        yield lab
    finally:
        if keep:
            print(f"\nlive lab kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


REGISTRAR_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="provider registrar">
  <recv request="REGISTER" />
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]reg[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=3600
Expires: 3600
Content-Length: 0

    ]]>
  </send>
</scenario>
"""


@pytest.fixture(scope="session")
def provider(lab: Lab) -> Iterator[None]:
    """The providers' SIP side: a registrar for the registration trunk (SIPp answering
    REGISTER, and OPTIONS with 200), and an OPTIONS answerer at the IP trunk's address."""
    scenario = lab.root / "registrar.xml"
    scenario.write_text(REGISTRAR_XML)
    procs = []
    for ip, port in ((UNICOM_IP, lab.unicom_port), (TELECOM_IP, lab.telecom_port)):
        log = open(lab.root / "log" / f"sipp-{ip}.out", "ab")  # noqa: SIM115
        procs.append(subprocess.Popen(
            ["sipp", "-sf", str(scenario), "-i", ip, "-p", str(port), "-aa", "-nostdin",
             "-trace_err", "-error_file", str(lab.root / "log" / f"sipp-{ip}-errors.log")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=lab.root, start_new_session=True))
        log.close()
    yield
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


@pytest.fixture(scope="session")
def asterisk(lab: Lab, provider: None) -> Iterator[Asterisk]:
    ast = Asterisk(lab)
    try:
        ast.start()
        yield ast
    finally:
        ast.stop()


@pytest.fixture(scope="session")
def ami(lab: Lab, asterisk: Asterisk) -> Iterator[Ami]:
    conn = Ami("127.0.0.1", lab.ami_port, TEST_AMI_USER, TEST_AMI_SECRET)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def phones(ami: Ami) -> Phones:
    return Phones(ami)


@pytest.fixture(scope="session")
def controller(lab: Lab, asterisk: Asterisk) -> Iterator[Controller]:
    """The session's controller on 127.0.0.1 (a test that kills it starts it again)."""
    ctl = Controller(lab)
    ctl.start()
    yield ctl
    ctl.stop()
