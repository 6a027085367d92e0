"""Fixtures for the Asterisk configuration tests: the default site, a clean environment
(no secrets, no site override) and fresh renders in temporary directories."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline12345.asterisk import CONF_FILES, RenderOptions, render
from hotline12345.asterisk.names import CONFBRIDGE, MANAGER, PJSIP, QUEUES
from hotline12345.asterisk.names import EXTENSIONS as EXT
from hotline12345.config import Site, default_site_path, load_site
from hotline12345.env import RECORDINGS_DIR_ENV

__all__ = ["CONFBRIDGE", "EXT", "MANAGER", "PJSIP", "QUEUES", "REPO", "SHIPPED"]

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "asterisk_conf"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No secret, site or recordings-directory override leaks in from the developer's
    shell (the render through the CLI must equal the shipped one)."""
    for name in list(os.environ):
        if name.startswith(("HOTLINE12345_AMI_SECRET", "HOTLINE12345_TRUNK_")) or \
                name in ("HOTLINE12345_CONFIG", RECORDINGS_DIR_ENV):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site(default_site_path())  # explicit: HOTLINE12345_CONFIG must not matter


@pytest.fixture
def rendered(tmp_path: Path, site: Site) -> Path:
    """A fresh render of the default site (placeholders for secrets)."""
    out = tmp_path / "conf"
    render(site, RenderOptions()).write(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(CONF_FILES)
    return out


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    out = tmp_path / "shipped"
    shutil.copytree(SHIPPED, out)
    return out
