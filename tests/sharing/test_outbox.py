"""The outbox: written in the transition's transaction (a rollback leaves no event), one row
per event with one delivery per receiving subscription, the caller's number masked unless
the subscription may see it (and then audited); the schema equals the models and
migration 0006 goes down and up again."""

from __future__ import annotations

import json
from typing import TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.db.engine import make_engine
from hotline12345.db.migrate import alembic_config, upgrade
from hotline12345.db.models import load_models
from hotline12345.sharing.models import FeedAudit, FeedDelivery, FeedOutbox
from hotline12345.sharing.outbox import Outbox
from hotline12345.sharing.sender import FeedSender, SenderSettings
from hotline12345.sharing.signing import Signer, new_secret
from tests.waiting import until

from .conftest import CALLER, T0, Receiver, record, ticket_event, webhook

T = TypeVar("T")
MARKET = "市场监督管理局"


def rows(url: str, table: type[T]) -> list[T]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return list(s.scalars(select(table)))
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    engine.dispose()
HOUSING = "住房和城乡建设厅"


def test_schema_equals_the_models_and_0006_goes_down_and_up(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                load_models())
    assert {"feed_outbox", "feed_deliveries", "feed_cursors", "feed_audit"} <= tables
    assert diff == []
    downgrade(db_url, "0005")
    with engine.connect() as conn:
        assert not {"feed_outbox", "feed_deliveries"} & set(inspect(conn).get_table_names())
    upgrade(db_url)
    with engine.connect() as conn:
        assert "feed_outbox" in set(inspect(conn).get_table_names())
    engine.dispose()


def test_a_rolled_back_transition_leaves_no_event(db_url: str) -> None:
    sub = FeedSubscription(name="pull-market", department=MARKET, kind=FeedKind.PULL)
    engine = make_engine(db_url)
    outbox = Outbox([sub])
    with Session(engine) as session:
        outbox.record(session, ticket_event("dispatched", 1, 2, T0))
        session.rollback()  # the transition failed after the listener ran
    with Session(engine) as session:
        outbox.record(session, ticket_event("dispatched", 1, 2, T0))
        session.commit()
    with Session(engine) as session:
        assert session.scalars(select(FeedOutbox.event_id)).all() == ["ticket-1-2"]
        assert session.scalars(select(FeedDelivery.subscription)).all() == ["pull-market"]
    with pytest.raises(IntegrityError), Session(engine) as session:  # one id, one event
        outbox.record(session, ticket_event("dispatched", 1, 2, T0, state="办理中"))
        session.commit()
    engine.dispose()


def test_deliveries_follow_department_and_kinds(sqlite_url: str) -> None:
    subs = [FeedSubscription(name="all-market", department=MARKET, kind=FeedKind.PULL),
            FeedSubscription(name="closed-market", department=MARKET, kind=FeedKind.PULL,
                             events=("closed",)),
            FeedSubscription(name="housing", department=HOUSING, kind=FeedKind.PULL)]
    record(sqlite_url, subs, [ticket_event("created", 1, 1, T0, department=None),
                              ticket_event("dispatched", 1, 2, T0),
                              ticket_event("closed", 1, 3, T0),
                              ticket_event("dispatched", 2, 2, T0, department=HOUSING)])
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        got = {(d.subscription, o.event_id) for d, o in s.execute(
            select(FeedDelivery, FeedOutbox).join(FeedOutbox))}
        outbox_rows = s.scalar(select(FeedOutbox.id).order_by(FeedOutbox.id.desc()).limit(1))
    engine.dispose()
    assert outbox_rows == 4  # every event is in the outbox, even one that nobody receives
    assert got == {("all-market", "ticket-1-2"), ("all-market", "ticket-1-3"),
                   ("closed-market", "ticket-1-3"), ("housing", "ticket-2-2")}


def test_masked_unless_allowed(sqlite_url: str) -> None:
    event = ticket_event("dispatched", 7, 2, T0)
    record(sqlite_url, [], [event])
    engine = make_engine(sqlite_url)
    with Session(engine) as s:
        row = s.scalars(select(FeedOutbox)).one()
    engine.dispose()
    assert row.event_id == event.event_id == "ticket-7-2"
    body = json.loads(row.body)
    assert body["type"] == "ticket.dispatched"
    assert body["timestamp"] == "2026-12-07T09:00:00+00:00"
    assert body["data"]["caller"] == "139****5678" and CALLER not in row.body
    assert row.body_full is not None and json.loads(row.body_full)["data"]["caller"] == CALLER


async def test_full_numbers_are_delivered_and_audited(sqlite_url: str,
                                                      receiver: Receiver) -> None:
    full = webhook("full", receiver.url, full_numbers=True)
    masked = webhook("masked", receiver.url)
    record(sqlite_url, [full, masked], [ticket_event("dispatched", 7, 2, T0),
                                        ticket_event("signed", 7, 3, T0, caller=None)])
    async with FeedSender(sqlite_url, [full, masked], settings=SenderSettings(poll_s=0.02),
                          signers={"full": Signer([new_secret()]),
                                   "masked": Signer([new_secret()])}):
        await until(lambda: len(receiver.accepted) == 4)
        await until(lambda: all(d.status == "delivered"
                                for d in rows(sqlite_url, FeedDelivery)))
    callers = {(r.headers["webhook-id"], json.loads(r.body)["data"]["caller"])
               for r in receiver.accepted}
    assert callers == {("ticket-7-2", CALLER), ("ticket-7-2", "139****5678"),
                       ("ticket-7-3", "")}
    audit = rows(sqlite_url, FeedAudit)
    # one audit row: the one delivery that carried a full number
    assert [(a.subscription, a.event_id, a.channel, a.department) for a in audit] == [
        ("full", "ticket-7-2", "webhook", MARKET)]


def test_a_surge_warning_goes_to_the_subscriptions_that_name_it(sqlite_url: str) -> None:
    named = FeedSubscription(name="named", department=MARKET, kind=FeedKind.PULL,
                             events=("surge", "closed"))
    every = FeedSubscription(name="every", department=MARKET, kind=FeedKind.PULL)
    other = FeedSubscription(name="other", department=HOUSING, kind=FeedKind.PULL,
                             events=("surge",))
    outbox = Outbox([named, every, other])
    engine = make_engine(sqlite_url)
    key = "surge:department:市场监督管理局:hour:2026-12-07T09"
    data = {"kind": "surge", "count": 31, "baseline_mean": 4.2, "p_value": 1e-9}
    with Session(engine) as session:
        assert outbox.record_warning(session, key=key, kind="surge", at=T0,
                                     department=MARKET, data=data)
        session.commit()
    with Session(engine) as session:  # the next check within the hour: once only
        assert not outbox.record_warning(session, key=key, kind="surge", at=T0,
                                         department=MARKET, data=data)
        session.commit()
    with Session(engine) as session:
        (row,) = session.scalars(select(FeedOutbox)).all()
        subs = session.scalars(select(FeedDelivery.subscription)).all()
    engine.dispose()
    assert subs == ["named"]
    assert json.loads(row.body) == {"type": "analytics.surge",
                                    "timestamp": "2026-12-07T09:00:00+00:00", "data": data}
