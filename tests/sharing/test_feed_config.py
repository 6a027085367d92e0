"""The site file's ``feeds:``: every mistake is one line naming the file, line, field and
the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline12345.config import check_site, load_site
from hotline12345.config.loader import default_site_path
from hotline12345.config.schema import FeedKind


def site(tmp_path: Path, feeds: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(default_site_path().read_text(encoding="utf-8").rstrip("\n")
                    + "\nfeeds:\n" + feeds, encoding="utf-8")
    return path


def test_a_valid_feeds_section(tmp_path: Path) -> None:
    loaded = load_site(site(tmp_path, """\
  - {name: market-hook, department: 市场监督管理局, kind: webhook,
     url: "https://scjg.example.gov.cn/hook", events: [dispatched, closed]}
  - {name: market-stream, department: 市场监督管理局, kind: redis_stream, max_len: 5000}
  - {name: housing-pull, department: 住房和城乡建设厅, kind: pull, full_numbers: true}
"""))
    hook, stream, puller = loaded.file.feeds
    assert (hook.kind, hook.events, hook.timeout_s, hook.retry_hours) == (
        FeedKind.WEBHOOK, ("dispatched", "closed"), 10.0, 24)
    assert hook.secret_env == "HOTLINE12345_FEED_MARKET_HOOK_SECRET"
    assert stream.stream_key == "hotline12345:feed:市场监督管理局"
    assert puller.full_numbers and not hook.full_numbers


@pytest.mark.parametrize(("feeds", "expected"), [
    ("  - {name: a, department: 市场监督管理局, kind: webhook}\n",
     "feeds[a].url: a webhook needs the receiver's URL"),
    ("  - {name: a, department: 市场监督管理局, kind: pull, url: 'https://x.gov.cn/'}\n",
     "feeds[a].url: only a webhook has a url"),
    ("  - {name: a, department: 市场监督管理局, kind: kafka}\n",
     "feeds[a].kind: the text 'kafka' is not one of: webhook, redis_stream, pull"),
    ("  - {name: a, department: 市场监督管理局, kind: pull, events: [dispatched, exploded]}\n",
     'feeds[a].events[1]: "exploded" is not an event kind'),
    ("  - {name: 'a b', department: 市场监督管理局, kind: pull}\n",
     'feeds[a b].name: "a b" must be 1-64 ASCII letters'),
    ("  - {name: a, department: ' ', kind: pull}\n",
     "feeds[a].department: name the department"),
    ("  - {name: a, department: 市场监督管理局, kind: webhook, url: 'https://x.gov.cn/',"
     " timeout_s: 0}\n", "feeds[a].timeout_s: 0 is out of range: seconds from 0.1 to 300"),
    ("  - {name: a, department: 市场监督管理局, kind: pull, retry_hours: 0}\n",
     "feeds[a].retry_hours: 0 is out of range"),
    ("  - {name: a, department: 市场监督管理局, kind: redis_stream}\n"
     "  - {name: b, department: 市场监督管理局, kind: redis_stream}\n",
     'feeds[b].stream: the stream "hotline12345:feed:市场监督管理局" is already fed by '
     'subscription "a"'),
    ("  - {name: a, department: 市场监督管理局, kind: pull, stream: s}\n",
     "feeds[a].stream: only a redis_stream subscription has a stream"),
    ("  - {name: a, department: 市场监督管理局, kind: pull}\n"
     "  - {name: a, department: 市场监督管理局, kind: pull}\n",
     'feeds[a]: name "a" is used twice in feeds'),
    ("  - {name: a, department: 市场监督管理局, kind: webhook, url: 'http://10.1.1.1/h'}\n",
     "feeds[a].url: 10.1.1.1 is a private address: refused as a target (SSRF); set "
     "allow_private_targets: true"),
    ("  - {name: a, department: 市场监督管理局, kind: webhook, url: 'http://u:p@x.gov.cn/h'}\n",
     "feeds[a].url: put no user name or password in the URL"),
])
def test_mistakes_name_the_field(tmp_path: Path, feeds: str, expected: str) -> None:
    issues = check_site(site(tmp_path, feeds))
    assert any(expected in str(i) for i in issues), [str(i) for i in issues]
    assert all(i.line > 0 and i.file.endswith("site.yaml") for i in issues)


def test_private_targets_when_allowed(tmp_path: Path) -> None:
    assert check_site(site(tmp_path, """\
  - {name: a, department: 市场监督管理局, kind: webhook, url: "http://10.1.1.1/h",
     allow_private_targets: true}
""")) == []


def test_the_event_kinds_are_the_workflows() -> None:
    """Every kind the ticket loop emits can be named in ``events:``, and nothing else."""
    from hotline12345.config.schema import FEED_EVENTS
    from hotline12345.tickets.lifecycle import TABLE

    emitted = {row.event for row in TABLE} | {"created", "followed", "supervised"}
    assert set(FEED_EVENTS) == emitted | {"surge"}
