"""The outbox as the ticket workflow's listener: one event per history row, in the
transition's transaction (a refused or rolled-back transition leaves none), delivered in
history order."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline12345.db.engine import make_engine
from hotline12345.sharing.models import FeedOutbox
from hotline12345.sharing.outbox import Outbox
from hotline12345.sharing.sender import FeedSender, SenderSettings
from hotline12345.sharing.signing import Signer, new_secret
from hotline12345.tickets.enums import Action, Role
from hotline12345.tickets.models import TicketHistory
from hotline12345.tickets.store import TicketDraft, save_ticket
from hotline12345.tickets.workflow import Actor, IllegalAction, Workflow
from tests.tickets.conftest import MONDAY_10, make_workflow
from tests.waiting import until

from .conftest import Receiver, site_with_feeds, webhook

MARKET = "市场监督管理局"
SEAT = Actor("seat1", Role.SEAT)
HANDLER = Actor("m1", Role.HANDLER, MARKET)
H = timedelta(hours=1)


async def test_transitions_reach_the_feed_in_history_order(db_url: str,
                                                           receiver: Receiver) -> None:
    sub = webhook("market-hook", receiver.url)
    outbox = Outbox([sub])
    base = make_workflow()
    workflow = Workflow(base.policy, base.settings, departments=base.departments,
                        listeners=[outbox.record])
    engine = make_engine(db_url)
    with Session(engine) as session, session.begin():
        ticket_id, _ = save_ticket(session, TicketDraft(
            uniqueid=f"feed.{receiver.port}.{db_url[:6]}", caller="13900139000",
            category="消费投诉", department=MARKET), listeners=workflow.listeners,
            now=MONDAY_10)
    steps = [(Action.DISPATCH, SEAT, {"department": MARKET}), (Action.SIGN, HANDLER, {}),
             (Action.ANSWER, HANDLER, {"reply": "已责令商家退款"})]
    for i, (action, actor, fields) in enumerate(steps, 1):
        with Session(engine) as session, session.begin():
            workflow.apply(session, ticket_id, action, actor, now=MONDAY_10 + i * H, **fields)
    with pytest.raises(IllegalAction), Session(engine) as session, session.begin():
        workflow.apply(session, ticket_id, Action.SIGN, HANDLER, now=MONDAY_10 + 5 * H)
    with Session(engine) as session:  # a transition rolled back after its listener ran
        workflow.apply(session, ticket_id, Action.CLOSE, SEAT, now=MONDAY_10 + 6 * H)
        session.rollback()
    with Session(engine) as session:
        history = session.scalars(select(TicketHistory.seq).where(
            TicketHistory.ticket_id == ticket_id).order_by(TicketHistory.seq)).all()
        outboxed = session.scalars(select(FeedOutbox.history_seq).where(
            FeedOutbox.ticket_id == ticket_id).order_by(FeedOutbox.id)).all()
    engine.dispose()
    assert history == outboxed == [1, 2, 3, 4]
    async with FeedSender(db_url, [sub], settings=SenderSettings(poll_s=0.02),
                          signers={"market-hook": Signer([new_secret()])}):
        await until(lambda: len(receiver.accepted) == 4)
    bodies = [json.loads(r.body) for r in receiver.accepted]
    assert [b["type"] for b in bodies] == ["ticket.created", "ticket.dispatched",
                                           "ticket.signed", "ticket.answered"]
    assert [b["data"]["seq"] for b in bodies] == [1, 2, 3, 4]
    assert [r.headers["webhook-id"] for r in receiver.accepted] == [
        f"ticket-{ticket_id}-{seq}" for seq in (1, 2, 3, 4)]
    assert all(b["data"]["caller"] == "139****9000" for b in bodies)
    assert bodies[-1]["data"]["state"] == "已答复"


def test_the_cron_sweep_writes_its_supervision_to_the_outbox(sqlite_url: str,
                                                             tmp_path: Path) -> None:
    from hotline12345.config import load_site
    from hotline12345.tickets.service import sweep_once

    sub = webhook("market-hook", "https://scjg.example.gov.cn/hook",
                  allow_private_targets=False)
    site = load_site(site_with_feeds(tmp_path, [sub]))
    workflow = make_workflow()
    engine = make_engine(sqlite_url)
    with Session(engine) as session, session.begin():
        ticket_id, _ = save_ticket(session, TicketDraft(
            uniqueid="sweep.1", caller="13900139000", category="消费投诉"), now=MONDAY_10)
        workflow.apply(session, ticket_id, Action.DISPATCH, SEAT, now=MONDAY_10 + H,
                       department=MARKET)
    assert sweep_once(site, database_url=sqlite_url, now=MONDAY_10 + timedelta(days=30)) == 1
    with Session(engine) as session:
        rows = session.execute(select(FeedOutbox.kind, FeedOutbox.event_id)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("supervised", f"ticket-{ticket_id}-3")]
