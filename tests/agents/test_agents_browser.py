"""The wallboard in Debian's headless Chromium (driven by Playwright's Python package; no
browser is downloaded): log in, see a waiting caller appear live, pause a seat and see its
state change (the fake Asterisk answers the QueuePause and emits QueueMemberPause as in
../shared/asterisk-22-captures/ami-queue-call.raw); and the ticket pages: a 承办单位 user
signs for a ticket and answers it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hotline12345.agents.client import AmiConfig
from hotline12345.agents.service import start_agents_services
from hotline12345.agents.store import MemoryStore

from .fake_ami import FakeAmi, FakeCaller, FakeMember
from .tickets_fixtures import PASSWORD, Desk

DEBIAN_CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AGENT2 = "Local/agent2@agents/n"

pytestmark = pytest.mark.slow  # documentation only: it runs in the suite


def find_chromium() -> str | None:
    """The chromium on the PATH, else Debian's; the path that is found is the one launched."""
    return shutil.which("chromium") or (
        DEBIAN_CHROMIUM if Path(DEBIAN_CHROMIUM).exists() else None)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    assert found, (
        "Debian's chromium is missing: run scripts/system-deps.sh (apt-get install chromium)")
    return found


def test_the_chromium_found_is_the_one_launched(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() == str(fake)


async def test_login_live_caller_and_pause(fake_ami: FakeAmi, tmp_path: Path,
                                          chromium: str) -> None:
    from playwright.async_api import async_playwright, expect

    fake_ami.add_member("q-general", FakeMember("Local/agent1@agents/n", "Agent One",
                                                membership="static"))
    fake_ami.add_member("q-general", FakeMember(AGENT2, "李四", penalty=1))
    services = await start_agents_services(
        {"q-general": ("综合受理", 15)}, tmp_path, "127.0.0.1", 0,
        env={"HOTLINE12345_ADMIN_PASSWORD": "browser-pass"},
        ami=AmiConfig("127.0.0.1", "hotline", "s3cret", port=fake_ami.port),
        store=MemoryStore(), bcrypt_rounds=4, say=lambda line: None)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
            try:
                page = await browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(services.url)
                await expect(page).to_have_url(services.url + "login")
                await page.fill("#user", "admin")
                await page.fill("#password", "browser-pass")
                await page.click("#login-submit")
                await expect(page).to_have_url(services.url)
                await expect(page.locator("#conn")).to_have_text("已连接 Asterisk")
                await expect(page.locator("#who")).to_have_text("admin（管理员）")
                seat = page.locator(f'#seats tr[data-interface="{AGENT2}"]')
                await expect(seat).to_have_attribute("data-state", "idle")
                await expect(page.locator('[data-queue="q-general"] .waiting-count')).to_have_text(
                    "0")

                # A caller joins the queue on the Asterisk side: pushed to the page.
                fake_ami.caller_join("q-general", FakeCaller(
                    "1795849881.4", "Local/s@caller2-00000002;1", "13900139000", "王五", 0))
                row = page.locator('[data-queue="q-general"] tr[data-uniqueid="1795849881.4"]')
                await expect(row).to_be_visible()
                await expect(row.locator(".caller")).to_have_text("139****9000")
                await expect(page.locator('[data-queue="q-general"] .waiting-count')).to_have_text(
                    "1")

                # The supervisor pauses 李四 for training.
                await seat.locator("button.pick").click()
                await expect(page.locator("#act-interface")).to_have_value(AGENT2)
                await page.fill("#act-reason", "培训")
                await page.click("#btn-pause")
                await expect(page.locator("#action-result")).to_contain_text("已生效")
                await expect(seat).to_have_attribute("data-state", "paused")
                await expect(seat.locator(".state")).to_have_text("暂停")
                await expect(seat.locator(".reason")).to_have_text("培训")
                sent = [a for a in fake_ami.actions if a.get("Action") == "QueuePause"]
                assert [(a["Interface"], a["Paused"], a["Reason"]) for a in sent] == [
                    (AGENT2, "true", "培训")]
                await expect(page.locator("#audit tbody tr").first).to_contain_text("暂停")
                assert errors == []
            finally:
                await browser.close()
    finally:
        await services.close()


async def test_not_connected_banner(tmp_path: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright, expect

    services = await start_agents_services(
        {"q-general": ("综合受理", 15)}, tmp_path, "127.0.0.1", 0,
        env={"HOTLINE12345_ADMIN_PASSWORD": "browser-pass"}, ami=None, store=MemoryStore(),
        bcrypt_rounds=4, say=lambda line: None)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
            try:
                page = await browser.new_page()
                await page.goto(services.url + "login")
                await page.fill("#user", "admin")
                await page.fill("#password", "browser-pass")
                await page.click("#login-submit")
                banner = page.locator("#ami-banner")
                await expect(banner).to_be_visible()
                await expect(banner).to_contain_text("未连接 Asterisk")
                await expect(banner).to_contain_text("HOTLINE12345_AMI_HOST")
                await expect(page.locator("#conn")).to_have_text("未连接 Asterisk")
            finally:
                await browser.close()
    finally:
        await services.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_handler_signs_for_and_answers_a_ticket(desk: Desk, chromium: str) -> None:
    """A 承办单位 user logs in, lands on its department's queue, opens a ticket, signs for
    it and answers it; the page offers only what the API says is allowed."""
    from playwright.async_api import async_playwright, expect

    m1 = desk.ids["m1"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(desk.url + "login")
            await page.fill("#user", "market")
            await page.fill("#password", PASSWORD)
            await page.click("#login-submit")
            await expect(page).to_have_url(desk.url + "tickets")
            await expect(page.locator("#who")).to_have_text("market（承办单位）")
            rows = page.locator("#queue tbody tr")
            await expect(rows).to_have_count(2)  # its department's two, not housing's
            row = page.locator(f'#queue tr[data-id="{m1}"]')
            await expect(row.locator(".state-name")).to_have_text("待签收")
            await expect(row.locator(".caller")).to_have_text("138****8000")
            await row.locator("a.open").click()

            await expect(page).to_have_url(f"{desk.url}tickets/{m1}")
            await expect(page.locator("#t-state")).to_have_text("待签收")
            await expect(page.locator("#player")).to_have_attribute(
                "src", f"/api/tickets/{m1}/recording")
            await expect(page.locator("#dialogue tbody tr")).to_have_count(2)
            await expect(page.locator("#reveal")).to_have_count(0)  # a handler sees it masked
            await expect(page.locator('#history tr[data-action="派单"]')).to_have_count(1)
            await expect(page.locator('#actions button[data-action="答复"]')).to_have_count(0)

            await page.click('#actions button[data-action="签收"]')
            await page.click("#action-submit")
            await expect(page.locator("#t-state")).to_have_text("办理中")
            await expect(page.locator("#action-result")).to_contain_text("已完成")

            await page.click('#actions button[data-action="答复"]')
            await page.fill("#field-reply", "已责令超市下架并退款")
            await page.click("#action-submit")
            await expect(page.locator("#t-state")).to_have_text("已答复")
            await expect(page.locator("#reply")).to_contain_text("已责令超市下架并退款")
            last = page.locator("#history tbody tr").last
            await expect(last).to_have_attribute("data-action", "答复")
            await expect(last).to_contain_text("market")
            assert errors == []
        finally:
            await browser.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_supervisor_merges_a_suggested_duplicate(desk: Desk, chromium: str) -> None:
    """The ticket page lists the API's 并单 suggestions; 并入 fills the 并单 form with the
    main ticket, and a reason confirms it."""
    from datetime import timedelta

    from playwright.async_api import async_playwright, expect

    from hotline12345.tickets.enums import Action

    from .tickets_fixtures import MARKET, START

    again = desk.new_ticket("m3", text="又是过期牛奶", at=START + timedelta(hours=2))
    desk.apply("m3", Action.DISPATCH, department=MARKET)
    m1 = desk.ids["m1"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(desk.url + "login")
            await page.fill("#user", "boss")
            await page.fill("#password", PASSWORD)
            await page.click("#login-submit")
            await page.goto(f"{desk.url}tickets/{again}")
            suggestion = page.locator(f'#duplicates li[data-id="{m1}"]')
            await expect(suggestion).to_be_visible()
            await suggestion.locator("button.merge-into").click()
            await expect(page.locator("#action-name")).to_have_text("并单")
            await expect(page.locator("#field-main_ticket_id")).to_have_value(str(m1))
            await page.click("#action-submit")  # no reason: the API says it is needed
            await expect(page.locator("#action-result")).to_contain_text("reason")
            await page.fill("#action-reason", "重复来电")
            await page.click("#action-submit")
            await expect(page.locator("#action-result")).to_contain_text("已完成")
            await expect(page.locator('#history tr[data-action="并单"]')).to_have_count(1)
            await expect(page.locator("#duplicates-section")).to_be_hidden()
            assert errors == []
        finally:
            await browser.close()
