"""The 回访 call on the real Asterisk: ``POST /api/tickets/{id}/callback`` on the product's
controller sends AMI Originate as the product's own AMI user; the seat's phone (a Local
channel of [live-seats] that answers) rings first, then its channel runs the rendered
[hotline12345-callback] context, which records the call and dials the caller
(``centre.callback_dial`` of the test site: a Local channel of [live-callees] that answers).
The callback's uniqueid is linked on the ticket's task and names its recording; the dialplan's
``HotlineCallback`` event reports the dial. A busy seat: the OriginateResponse says Failure
(Reason 5) and no caller is dialled."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hotline12345.agents.codec import AmiMessage
from hotline12345.agents.users import UserStore
from hotline12345.asterisk.names import CALLBACK_REC_DIR_SUFFIX, CALLBACK_USEREVENT
from hotline12345.db.engine import make_engine
from hotline12345.paths import database_url
from hotline12345.tickets.enums import CallbackKind, TicketState
from hotline12345.tickets.models import Ticket, TicketCallback
from hotline12345.tickets.store import TicketDraft, save_ticket
from tests.live.ami import Ami
from tests.live.harness import Controller, Lab, eventually

pytestmark = pytest.mark.live

SEAT = "Local/1301@live-seats/n"
BUSY_SEAT = "Local/busy@live-seats/n"
NUMBER = "13800138000"


SEAT_USER = ("seat1", "seat1-password")


@pytest.fixture(scope="module")
def seat_user(controller: Controller) -> tuple[str, str]:
    """A 话务员 of the controller (who calls back; its admin is a 管理员, who does not)."""
    UserStore.in_data_dir(controller.data_dir, rounds=4).set(*SEAT_USER, "seat")
    return SEAT_USER


def as_seat(controller: Controller, method: str, path: str,
            body: object = None) -> dict[str, Any]:
    """The controller's API with the 话务员's HTTP Basic auth."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(controller.url + path, data=data, method=method)
    token = base64.b64encode(":".join(SEAT_USER).encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"{}")  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        return {"http_status": exc.code, **json.loads(exc.read() or b"{}")}


@pytest.fixture
def tickets(controller: Controller) -> Iterator[Engine]:
    """The controller's own database (serve has migrated it)."""
    engine = make_engine(database_url(controller.data_dir))
    yield engine
    engine.dispose()


def closed_ticket(engine: Engine, uniqueid: str) -> int:
    """A ticket the department has answered and the centre closed: due a 回访."""
    with Session(engine) as s, s.begin():
        ticket_id, _ = save_ticket(s, TicketDraft(uniqueid=uniqueid, caller=NUMBER))
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.state = TicketState.CLOSED  # as the workflow leaves it: a 回访 task
        ticket.closed_at = datetime.now(UTC)
        s.add(TicketCallback(ticket_id=ticket_id, kind=CallbackKind.REVISIT,
                             created_at=ticket.closed_at,
                             due=ticket.closed_at + timedelta(days=1)))
    return ticket_id


def test_a_callback_rings_the_seat_then_the_caller_and_is_recorded(
        lab: Lab, ami: Ami, controller: Controller, tickets: Engine,
        seat_user: tuple[str, str]) -> None:
    ticket_id = closed_ticket(tickets, "live-callback-1")
    listed: Any = as_seat(controller, "GET", "/api/revisits")
    assert ticket_id in [i["ticket_id"] for i in listed["revisits"]], listed
    mark = ami.mark()
    reply = as_seat(controller, "POST", f"/api/tickets/{ticket_id}/callback",
                    {"interface": SEAT})
    assert reply.get("result") == "connected", reply
    uniqueid = str(reply["uniqueid"])

    response = ami.wait(lambda e: e.name == "OriginateResponse"
                        and e.get("Uniqueid") == uniqueid, since=mark,
                        what="OriginateResponse of the callback")
    assert response.get("Response") == "Success"
    assert response.get("Context") == "hotline12345-callback"
    # the seat first: its channel is up before the caller is dialled
    up = ami.wait(lambda e: e.name == "Newstate" and e.get("Uniqueid") == uniqueid
                  and e.get("ChannelStateDesc") == "Up", since=mark, what="the seat answering")
    dial = ami.wait(lambda e: e.name == "DialBegin" and e.get("Uniqueid") == uniqueid,
                    since=mark, what="the caller being dialled")
    assert ami.events.index(up) < ami.events.index(dial)
    assert dial.get("DestChannel").startswith(f"Local/{NUMBER}@live-callees")
    assert dial.get("Channel").startswith("Local/1301@live-seats")
    answered = ami.wait(lambda e: e.name == "DialEnd" and e.get("Uniqueid") == uniqueid,
                        since=mark, what="the caller answering")
    assert answered.get("DialStatus") == "ANSWER"
    # its own recording, beside the recordings directory, named by its uniqueid
    rec_dir = Path(str(lab.recordings) + CALLBACK_REC_DIR_SUFFIX)
    files = [rec_dir / f"{uniqueid}{leg}.wav" for leg in ("", "-caller", "-seat")]
    eventually(lambda: all(f.exists() for f in files), timeout=20,
               what=f"the callback's recording in {rec_dir}")
    assert not list(lab.recordings.glob(f"{uniqueid}*"))  # no ticket is made of it
    # the ticket's task carries the call
    with Session(tickets) as s:
        [task] = s.scalars(select(TicketCallback).where(TicketCallback.ticket_id == ticket_id))
        assert (task.kind, task.call_uniqueid, task.done_at) == (CallbackKind.REVISIT,
                                                                 uniqueid, None)
    # the seat hangs up: the dialplan reports the callback
    ami.action("Hangup", Channel=response.get("Channel"))
    event: AmiMessage = ami.wait(lambda e: e.name == "UserEvent"
                                 and e.get("UserEvent") == CALLBACK_USEREVENT
                                 and e.get("Uniqueid") == uniqueid, since=mark,
                                 what=f"UserEvent {CALLBACK_USEREVENT}")
    assert (event.get("Ticket"), event.get("Of"), event.get("DialStatus"),
            event.get("Base")) == (str(ticket_id), "live-callback-1", "ANSWER", uniqueid)
    ami.wait(lambda e: e.name == "Hangup" and e.get("Uniqueid") == uniqueid, since=mark,
             what="the callback's hangup")


def test_a_busy_seat_fails_and_nobody_is_dialled(
        ami: Ami, controller: Controller, tickets: Engine, seat_user: tuple[str, str]) -> None:
    ticket_id = closed_ticket(tickets, "live-callback-2")
    mark = ami.mark()
    reply = as_seat(controller, "POST", f"/api/tickets/{ticket_id}/callback",
                    {"interface": BUSY_SEAT})
    assert (reply.get("http_status"), reply.get("result")) == (502, "failed"), reply
    assert "busy" in str(reply.get("message")), reply
    response = ami.wait(lambda e: e.name == "OriginateResponse"
                        and e.get("Channel") == BUSY_SEAT, since=mark,
                        what="the OriginateResponse of the failed callback")
    assert (response.get("Response"), response.get("Reason")) == ("Failure", "5")
    # the OriginateResponse is the end of this attempt: nothing was dialled for it
    assert not ami.find(lambda e: e.name == "DialBegin"
                        and e.get("Channel", "").startswith("Local/busy@live-seats"),
                        since=mark)
    with Session(tickets) as s:
        [task] = s.scalars(select(TicketCallback).where(TicketCallback.ticket_id == ticket_id))
        assert task.call_uniqueid is None  # nothing was placed
