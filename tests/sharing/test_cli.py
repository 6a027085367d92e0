"""``hotline12345 feed status``, ``feed replay`` and ``feed new-secret``; bad arguments are
one line naming what to fix."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotline12345.cli import main
from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.db.engine import make_engine
from hotline12345.sharing.models import FeedDelivery

from .conftest import events, record, site_with_feeds, webhook


def _mark(url: str, subscription: str, ticket: int, **values: object) -> None:
    engine = make_engine(url)
    with Session(engine) as s:
        s.execute(update(FeedDelivery).where(FeedDelivery.subscription == subscription,
                                             FeedDelivery.ticket_id == ticket).values(**values))
        s.commit()
    engine.dispose()


def test_status_and_replay(sqlite_url: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    hook = webhook("market-hook", "http://127.0.0.1:9/hook")
    puller = FeedSubscription(name="market-pull", department="市场监督管理局",
                              kind=FeedKind.PULL)
    site = site_with_feeds(tmp_path, [hook, puller])
    record(sqlite_url, [hook, puller], events(tickets=3, per_ticket=2))
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    _mark(sqlite_url, "market-hook", 1, status="delivered", attempts=1, delivered_at=now)
    _mark(sqlite_url, "market-hook", 2, attempts=3, last_attempt_at=now,
          last_error="cannot connect: refused 13912345678")
    _mark(sqlite_url, "market-hook", 3, status="dead", attempts=30, last_attempt_at=now,
          last_error="HTTP 500 Internal Server Error")
    args = ["--config", str(site), "--database-url", sqlite_url]
    assert main(["feed", "status", *args, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["name"], x["delivered"], x["pending"], x["failing"], x["dead"])
            for x in lines] == [("market-hook", 2, 2, 2, 2), ("market-pull", 0, 6, 0, 0)]
    assert lines[0]["last_error"] in ("cannot connect: refused 13912345678",
                                      "HTTP 500 Internal Server Error")
    assert main(["feed", "status", *args]) == 0
    table = capsys.readouterr().out
    assert "market-hook" in table and "market-pull" in table
    assert main(["feed", "replay", *args, "--subscription", "market-hook", "--dead"]) == 0
    assert "2 event(s) queued again" in capsys.readouterr().out
    assert main(["feed", "replay", *args, "--subscription", "market-hook",
                 "--from-id", "1"]) == 0
    assert "6 event(s) queued again" in capsys.readouterr().out
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        rows = s.scalars(select(FeedDelivery).where(
            FeedDelivery.subscription == "market-hook")).all()
    engine.dispose()
    assert all(r.status == "pending" and r.attempts == 0 and r.last_error is None
               for r in rows)


def test_replay_reaches_events_from_before_the_subscription(sqlite_url: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    record(sqlite_url, [], events(tickets=2, per_ticket=2))  # nobody subscribed then
    hook = webhook("late-hook", "http://127.0.0.1:9/hook", events=("created",))
    site = site_with_feeds(tmp_path, [hook])
    assert main(["feed", "replay", "--config", str(site), "--database-url", sqlite_url,
                 "--subscription", "late-hook", "--from-id", "2"]) == 0
    assert "1 event(s) queued again" in capsys.readouterr().out  # ticket 2's created


@pytest.mark.parametrize(("extra", "message"), [
    (["--subscription", "nope", "--dead"], "--subscription nope: no such subscription"),
    (["--subscription", "market-pull", "--dead"], "is a pull subscription"),
    (["--subscription", "market-hook", "--from-id", "0"], "--from-id must be"),
])
def test_replay_refusals(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         extra: list[str], message: str) -> None:
    site = site_with_feeds(tmp_path, [
        webhook("market-hook", "http://127.0.0.1:9/hook"),
        FeedSubscription(name="market-pull", department="市场监督管理局", kind=FeedKind.PULL)])
    assert main(["feed", "replay", "--config", str(site), "--database-url", sqlite_url,
                 *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotline12345 feed: ") and message in err
    assert "Traceback" not in err


def test_status_without_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    assert main(["feed", "status", "--database-url", missing]) == 2
    assert "hotline12345 db upgrade" in capsys.readouterr().err


def test_new_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feed", "new-secret"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32


def test_prune_keeps_what_is_still_to_be_delivered(sqlite_url: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    hook = webhook("market-hook", "http://127.0.0.1:9/hook")
    site = site_with_feeds(tmp_path, [hook])
    old = datetime(2026, 1, 1, tzinfo=UTC)
    record(sqlite_url, [hook], events(tickets=3, per_ticket=1), clock=lambda: old)
    record(sqlite_url, [hook], events(tickets=1, per_ticket=1, first_ticket=9))  # recent
    _mark(sqlite_url, "market-hook", 1, status="delivered")
    _mark(sqlite_url, "market-hook", 2, status="dead")  # ticket 3's: still pending
    assert main(["feed", "prune", "--config", str(site), "--database-url", sqlite_url,
                 "--older-than-days", "30"]) == 0
    assert "2 event(s) older than 30 day(s) deleted" in capsys.readouterr().out
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        left = sorted(s.scalars(select(FeedDelivery.ticket_id)))
    engine.dispose()
    assert left == [3, 9]
    assert main(["feed", "prune", "--database-url", sqlite_url, "--older-than-days", "0"]) == 2
    assert "--older-than-days must be 1 or more" in capsys.readouterr().err
