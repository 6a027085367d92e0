"""Deploying by ``#include``: the rendered files add to the host's own extensions.conf,
queues.conf, manager.conf and pjsip.conf instead of replacing them, and ``check`` run on a
deployed /etc/asterisk verifies the include lines and what they rely on."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from hotline12345.asterisk import CONF_FILES
from hotline12345.asterisk.check import check_dir
from hotline12345.asterisk.names import STOCK_FILES
from hotline12345.asterisk.render import RenderOptions, render
from hotline12345.config import Site

from .conftest import EXT, MANAGER, PJSIP, QUEUES, SHIPPED

#: What a stock Asterisk 22 host typically has (trimmed `make samples` files), each ending
#: with the include line the README shows.
STOCK = {
    "extensions.conf": "[general]\nstatic=yes\nwriteprotect=no\n\n[globals]\nCONSOLE=Console/dsp\n"
                       "\n[default]\nexten => 1000,1,Answer()\n same => n,Hangup()\n\n",
    "queues.conf": "[general]\npersistentmembers=yes\n\n[support]\nstrategy=ringall\n\n",
    "manager.conf": "[general]\nenabled=no\nport=5038\nbindaddr=0.0.0.0\n\n[admin]\n"
                    "secret=other-tool\ndeny=0.0.0.0/0.0.0.0\npermit=10.9.9.9/255.255.255.255\n"
                    "read=all\nwrite=all\n\n",
    "pjsip.conf": "[global]\ntype=global\nuser_agent=Asterisk\n\n",
    "confbridge.conf": "[default_user]\ntype=user\n\n[default_bridge]\ntype=bridge\n\n",
}


def headers(text: str) -> list[tuple[str, str]]:
    """(section, "(+)" or "") for every section header."""
    return [(m.group(1), m.group(2) or "")
            for m in re.finditer(r"^\[([^\]]+)\](\(\+\))?", text, re.M)]


@pytest.fixture
def deployed(shipped_copy: Path) -> Path:
    """/etc/asterisk after the README's steps: stock files ending with the include lines."""
    for stock, text in STOCK.items():
        ours = next(o for o, s in STOCK_FILES.items() if s == stock)
        (shipped_copy / stock).write_text(f"{text}#include {ours}\n", encoding="utf-8")
    return shipped_copy


def test_rendered_files_are_include_files() -> None:
    assert all(n.endswith("_hotline12345.conf") for n in CONF_FILES)
    assert set(CONF_FILES) == set(STOCK_FILES)
    for name in CONF_FILES:
        text = (SHIPPED / name).read_text(encoding="utf-8")
        assert f"#include {name}" in text.splitlines()[3], name  # the header says how
    # Asterisk reads only the first [general]/[globals] of a file: an included one would be
    # ignored without a word. The dialplan's settings come from a Gosub instead.
    for name in (EXT, QUEUES):
        names = [h for h, _ in headers((SHIPPED / name).read_text(encoding="utf-8"))]
        assert "general" not in names and "globals" not in names, name
    ext = (SHIPPED / EXT).read_text(encoding="utf-8")
    assert "exten => s,1,Set(HOTLINE_AGI_COUNT=" in ext
    assert ext.count("Gosub(hotline12345-settings,s,1)") >= 3
    # manager: (+) adds to the host's [general] rather than opening a second one.
    assert headers((SHIPPED / MANAGER).read_text(encoding="utf-8"))[0] == ("general", "(+)")


def test_a_deployed_directory_checks_clean(deployed: Path, site: Site) -> None:
    result = check_dir(deployed, site, allow_placeholders=True)
    assert result.errors == [], [str(f) for f in result.errors]
    # The host's enabled=no is overridden by the (+) lines that come after it.
    assert not [f for f in result.findings if f.code.startswith("ami-")]


@pytest.mark.parametrize("stock", sorted(STOCK))
def test_a_host_file_without_the_include_is_an_error(deployed: Path, site: Site,
                                                     stock: str) -> None:
    (deployed / stock).write_text(STOCK[stock], encoding="utf-8")
    errors = check_dir(deployed, site, allow_placeholders=True).errors
    assert [(f.file, f.code) for f in errors] == [(stock, "include-missing")]
    assert "#include" in errors[0].message


def test_lines_after_the_include_are_an_error(deployed: Path, site: Site) -> None:
    path = deployed / "extensions.conf"
    path.write_text(path.read_text(encoding="utf-8") + "exten => 2000,1,Hangup()\n"
                    "[later]\nexten => 1,1,Hangup()\n", encoding="utf-8")
    errors = check_dir(deployed, site, allow_placeholders=True).errors
    assert [(f.file, f.line, f.code) for f in errors] == [
        ("extensions.conf", STOCK["extensions.conf"].count("\n") + 2, "include-position")]


def test_tryinclude_is_a_warning(deployed: Path, site: Site) -> None:
    path = deployed / "queues.conf"
    path.write_text(path.read_text(encoding="utf-8").replace("#include", "#tryinclude"),
                    encoding="utf-8")
    result = check_dir(deployed, site, allow_placeholders=True)
    assert result.ok
    assert [f.file for f in result.warnings if f.code == "include-optional"] == ["queues.conf"]


def test_manager_conf_needs_a_general_before_the_include(deployed: Path, site: Site) -> None:
    (deployed / "manager.conf").write_text(f"#include {MANAGER}\n", encoding="utf-8")
    errors = check_dir(deployed, site, allow_placeholders=True).errors
    assert [(f.file, f.code) for f in errors] == [("manager.conf", "ami-general-missing")]


def test_ami_disabled_after_the_include_is_an_error(deployed: Path, site: Site) -> None:
    """A second (+) after ours turns AMI off again: the last enabled= wins."""
    path = deployed / "manager.conf"
    path.write_text(path.read_text(encoding="utf-8") + "[general](+)\nenabled=no\n",
                    encoding="utf-8")
    codes = {f.code for f in check_dir(deployed, site, allow_placeholders=True).errors}
    assert "ami-disabled" in codes


def test_a_second_transport_on_the_same_address_is_an_error(deployed: Path, site: Site) -> None:
    path = deployed / "pjsip.conf"
    path.write_text("[transport-udp]\ntype=transport\nprotocol=udp\nbind=0.0.0.0:5060\n\n"
                    + path.read_text(encoding="utf-8"), encoding="utf-8")
    errors = check_dir(deployed, site, allow_placeholders=True).errors
    assert [(f.file, f.code) for f in errors] == [(PJSIP, "transport-clash")]
    assert "transport-udp" in errors[0].message


def _deploy(out: Path, site: Site, extensions: str) -> Path:
    render(site, RenderOptions()).write(out)
    for stock, text in {**STOCK, "extensions.conf": extensions}.items():
        ours = next(o for o, s in STOCK_FILES.items() if s == stock)
        (out / stock).write_text(f"{text}#include {ours}\n", encoding="utf-8")
    return out


def test_a_dial_string_into_a_host_context_is_no_error(tmp_path: Path, site: Site) -> None:
    """Sub-centres, linkage targets and seats may be Local channels into the host's own
    contexts (extensions.conf): a deployed directory is checked against those too."""
    local = dataclasses.replace(site, file=dataclasses.replace(site.file, sub_centres=tuple(
        dataclasses.replace(c, dial=f"Local/1236{i}@host-centres/n")
        for i, c in enumerate(site.file.sub_centres))))
    host = STOCK["extensions.conf"] + "[host-centres]\nexten => _X.,1,Answer()\n\n"
    result = check_dir(_deploy(tmp_path / "ok", local, host), local, allow_placeholders=True)
    assert result.errors == [], [str(f) for f in result.errors]
    # A context that neither file defines is still an error, naming both places looked in.
    result = check_dir(_deploy(tmp_path / "bad", local, STOCK["extensions.conf"]), local,
                       allow_placeholders=True)
    missing = [f for f in result.errors if f.code == "context-missing"]
    assert missing and all("host-centres" in f.message for f in missing)
    assert "nor the host's extensions.conf" in missing[0].message


def test_queues_conf_without_persistentmembers_is_a_warning(deployed: Path, site: Site) -> None:
    """Asterisk's default is persistentmembers=no: seats added over AMI vanish at restart."""
    assert not [f for f in check_dir(deployed, site, allow_placeholders=True).findings
                if f.code == "queues-persistent"]
    (deployed / "queues.conf").write_text(
        "[general]\n\n[support]\nstrategy=ringall\n\n#include queues_hotline12345.conf\n",
        encoding="utf-8")
    result = check_dir(deployed, site, allow_placeholders=True)
    assert [(f.file, f.line) for f in result.warnings if f.code == "queues-persistent"] == [
        ("queues.conf", 1)]
    assert result.errors == []
