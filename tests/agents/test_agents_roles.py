"""Users' roles for the ticket loop: stored and shown in Chinese, English aliases accepted,
a 承办单位 bound to one department of the site file, and users files written before the
loop (``supervisor``, ``viewer``) still working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hotline12345.agents.users import ROLES, UserError, UserStore
from hotline12345.tickets.enums import Role

CLI = [sys.executable, "-m", "hotline12345.cli", "agents"]
DEPARTMENTS = ("市场监督管理局", "住房和城乡建设局")


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    return UserStore(tmp_path / "users.json", rounds=4)


@pytest.mark.parametrize(("given", "stored", "acts"), [
    ("话务员", "话务员", False), ("seat", "话务员", False),
    ("班长", "班长", True), ("supervisor", "班长", True), ("Supervisor", "班长", True),
    ("督办员", "督办员", False), ("inspector", "督办员", False),
    ("审计员", "审计员", False), ("auditor", "审计员", False),
    ("管理员", "管理员", True), ("admin", "管理员", True),
    ("观察员", "观察员", False), ("viewer", "观察员", False),
])
def test_roles_are_stored_in_chinese(store: UserStore, given: str, stored: str,
                                     acts: bool) -> None:
    user = store.set("li", "a-password", given)
    assert (user.role, user.can_act, user.department) == (stored, acts, None)
    raw = json.loads(store.path.read_text(encoding="utf-8"))
    assert raw["users"]["li"]["role"] == stored
    assert store.get("li") == user


def test_every_ticket_role_but_the_system_is_a_user_role() -> None:
    assert set(ROLES) == {r.value for r in Role if r is not Role.SYSTEM} | {"观察员"}


def test_a_handler_has_one_department_of_the_site(store: UserStore) -> None:
    user = store.set("market", "a-password", "handler", department="市场监督管理局",
                     departments=DEPARTMENTS)
    assert (user.role, user.department, user.ticket_role) == (
        "承办单位", "市场监督管理局", Role.HANDLER)
    for department, departments, words in (
            (None, DEPARTMENTS, "needs its department"),
            ("  ", DEPARTMENTS, "needs its department"),
            ("公安局", DEPARTMENTS, "'公安局' is not a department of the site file")):
        with pytest.raises(UserError, match=words) as info:
            store.set("other", "a-password", "承办单位", department=department,
                      departments=departments)
        assert info.value.field == "department"
    with pytest.raises(UserError, match="only a 承办单位") as info:
        store.set("other", "a-password", "班长", department="市场监督管理局")
    assert info.value.field == "department"
    # unknown site departments: any name is kept as given
    assert store.set("x", "a-password", "handler", department="公安局").department == "公安局"
    assert store.get("other") is None


def test_a_new_password_keeps_role_and_department(store: UserStore) -> None:
    store.set("market", "a-password", "handler", department="市场监督管理局")
    changed = store.change_password("market", "b-password")
    assert (changed.role, changed.department) == ("承办单位", "市场监督管理局")
    assert store.verify("market", "b-password") == changed


def test_a_users_file_from_before_the_ticket_loop(store: UserStore) -> None:
    store.set("admin", "a-password", "supervisor")
    store.set("zhang", "a-password", "viewer")
    raw = json.loads(store.path.read_text(encoding="utf-8"))
    raw["users"]["admin"]["role"] = "supervisor"  # as the wallboard wrote them
    raw["users"]["zhang"]["role"] = "viewer"
    store.path.write_text(json.dumps(raw), encoding="utf-8")
    admin, zhang = store.get("admin"), store.get("zhang")
    assert admin is not None and (admin.role, admin.can_act) == ("班长", True)
    assert zhang is not None and (zhang.role, zhang.can_act, zhang.ticket_role) == (
        "观察员", False, None)
    assert store.verify("admin", "a-password") == admin


def test_an_unknown_role_in_the_file_names_the_user(store: UserStore) -> None:
    store.set("li", "a-password", "seat")
    raw = json.loads(store.path.read_text(encoding="utf-8"))
    raw["users"]["li"]["role"] = "boss"
    store.path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(UserError, match="user 'li' has the unknown role 'boss'"):
        store.get("li")


def test_the_first_admin_is_an_administrator(store: UserStore) -> None:
    store.ensure_admin({"HOTLINE12345_ADMIN_PASSWORD": "from-env-pass"})
    admin = store.get("admin")
    assert admin is not None and (admin.role, admin.can_act) == ("管理员", True)


def run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--data-dir", str(tmp_path), "users", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_users_cli_roles_and_departments(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    done = run(tmp_path, "set", "market", "--role", "handler", "--password-stdin",
               stdin="handler-pass\n")
    assert done.returncode == 2 and "needs its department" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    done = run(tmp_path, "set", "li", "--role", "boss", "--password-stdin", stdin="li-pass-1\n")
    assert done.returncode == 2 and "'boss': use one of 话务员" in done.stderr
    done = run(tmp_path, "set", "market", "--role", "承办单位", "--department", "市场监督管理局",
               "--config", str(site), "--password-stdin", stdin="handler-pass\n")
    assert done.returncode == 2 and "the site file cannot be loaded" in done.stderr
    assert "Traceback" not in done.stderr
    done = run(tmp_path, "set", "market", "--role", "handler", "--department", "市场监督管理局",
               "--password-stdin", stdin="handler-pass\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "user market (承办单位, 市场监督管理局) saved\n"
    assert run(tmp_path, "set", "wang", "--role", "seat", "--password-stdin",
               stdin="seat-pass-1\n").returncode == 0
    listed = run(tmp_path, "list")
    assert listed.stdout.splitlines() == ["market\t承办单位\t市场监督管理局", "wang\t话务员"]
