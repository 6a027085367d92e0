"""Applying an action to a ticket: the lifecycle table decides, this module carries it out.

:meth:`Workflow.apply` reads the ticket (locked, and only if the actor may see it), looks up
``(state, action)`` in :data:`hotline12345.tickets.lifecycle.TABLE`, checks the role, the
required fields and the row's guards, then changes the ticket, moves its deadlines
(:class:`hotline12345.tickets.deadlines.DeadlinePolicy`), appends one history row, makes
merged tickets follow their main ticket, and hands a :class:`TicketEvent` per history row
to the listeners — all in the caller's session, which the caller commits. Nothing else
writes a ticket's loop columns.

Refusals are :class:`TicketError` subclasses carrying their HTTP status and JSON body:
an action the state does not allow (409, with the state and the actions allowed there), a
role that may not (403), a missing or bad field (400), a ticket the actor may not see (404:
a department handler never learns that another department's ticket exists).

:meth:`Workflow.sweep` raises the computed 督办 levels (黄牌 a working day before a
deadline, 红牌 on the first overdue working day, 督办单 after it); it only ever raises, so
running it twice changes nothing the second time.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session, lazyload

from hotline12345.config.schema import Site, TicketLoopSettings
from hotline12345.tickets.deadlines import DeadlinePolicy, Limit
from hotline12345.tickets.enums import (
    Action,
    AssignmentKind,
    CallbackKind,
    CallbackOutcome,
    ExtensionDecision,
    Rating,
    Role,
    Supervision,
    TicketState,
    Urgency,
)
from hotline12345.tickets.events import EventListener, TicketEvent
from hotline12345.tickets.history import SYSTEM, Actor, event_of, history_row, iso
from hotline12345.tickets.lifecycle import (
    DeadlineEffect,
    Guard,
    Transition,
    actions_from,
    transition,
)
from hotline12345.tickets.models import (
    Ticket,
    TicketAssignment,
    TicketCallback,
    TicketExtension,
    TicketPause,
)

__all__ = ["SYSTEM", "Actor", "Forbidden", "IllegalAction", "MissingField", "NotFound",
           "TicketError", "Workflow", "visible"]

MAX_TEXT = 10_000  # characters of a reason, note or reply


class TicketError(Exception):
    """A refused request: ``status`` is its HTTP status, ``payload`` its JSON body."""

    status = 400

    def __init__(self, message: str, **payload: Any) -> None:
        super().__init__(message)
        self.message = message
        self.payload: dict[str, Any] = {"error": message, **payload}


class IllegalAction(TicketError):
    """The action is not legal in the ticket's state, or a condition does not hold (409)."""

    status = 409

    def __init__(self, message: str, state: TicketState, allowed: Sequence[Action]) -> None:
        super().__init__(message, state=state.value, allowed=[a.value for a in allowed])


class Forbidden(TicketError):
    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message, field="role")


class MissingField(TicketError):
    """A field the action needs is missing, unknown or not valid (400)."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.field = field


class NotFound(TicketError):
    status = 404

    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"no ticket {ticket_id}", field="id")


def visible(actor: Actor) -> ColumnElement[bool]:
    """The WHERE clause of the tickets ``actor`` may see: a 承办单位 handler, those
    dispatched to its department (as 主办, or as an active 协办); every other role, all."""
    if actor.role is not Role.HANDLER:
        return true()
    if not actor.department:
        return false()
    # IN (subquery) rather than a correlated EXISTS inside the OR: PostgreSQL plans it in
    # parallel (the figures on a million tickets, docs/figures.md)
    assisting = Ticket.id.in_(select(TicketAssignment.ticket_id).where(
        TicketAssignment.department == actor.department,
        TicketAssignment.kind == AssignmentKind.ASSIST, TicketAssignment.active.is_(True)))
    return and_(Ticket.dispatched_at.is_not(None),
                or_(Ticket.department == actor.department, assisting))


#: Fields an action may take beyond those the table requires (reason and note: any action).
OPTIONAL_FIELDS: dict[Action, tuple[str, ...]] = {
    Action.DISPATCH: ("assist_departments", "urgency", "category", "summary", "real_name"),
    Action.CLOSE_DIRECTLY: ("category", "summary", "real_name"),
    Action.REASSIGN: ("assist_departments", "urgency"),
    Action.REVISIT: ("resolved", "call_uniqueid"),
    Action.SUPERVISE: ("level",),
    Action.MERGE: (),
}


class Workflow:
    """Applies the lifecycle table with the site's deadline rules and departments."""

    def __init__(self, policy: DeadlinePolicy, settings: TicketLoopSettings, *,
                 departments: Collection[str] = (),
                 listeners: Sequence[EventListener] = ()) -> None:
        self.policy = policy
        self.settings = settings
        self.departments = frozenset(departments)
        self.listeners = tuple(listeners)

    @classmethod
    def for_site(cls, site: Site, listeners: Sequence[EventListener] = ()) -> Workflow:
        return cls(DeadlinePolicy.for_site(site.file), site.file.tickets,
                   departments=[d.name for d in site.file.departments], listeners=listeners)

    # --- reading -----------------------------------------------------------------------

    def _load(self, session: Session, ticket_id: int, actor: Actor) -> Ticket:
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
            raise MissingField("id", f"a ticket id is a whole number, not {ticket_id!r}")
        query = (select(Ticket).where(Ticket.id == ticket_id, visible(actor))
                 .options(lazyload(Ticket.utterances), lazyload(Ticket.call))
                 .with_for_update())
        ticket = session.scalars(query).first()
        if ticket is None:
            raise NotFound(ticket_id)
        return ticket

    def allowed(self, ticket: Ticket, actor: Actor) -> list[Action]:
        """The actions ``actor`` could try on ``ticket`` now (by state and role)."""
        if ticket.merged_into is not None:
            return []
        return [a for a in actions_from(ticket.state, actor.role)
                if a not in (Action.SWEEP,)]

    # --- acting ------------------------------------------------------------------------

    def apply(self, session: Session, ticket_id: int, action: Action | str, actor: Actor, *,
              now: datetime, reason: str = "", note: str = "",
              **fields: Any) -> TicketEvent:
        """Apply ``action`` to the ticket as ``actor`` at ``now``; the event of the history
        row written. Raises :class:`TicketError` (nothing is changed then)."""
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        action = self._action(action)
        ticket = self._load(session, ticket_id, actor)
        row = transition(ticket.state, action)
        if row is None or action in (Action.CREATE, Action.FOLLOW_MAIN) or (
                row.roles == frozenset({Role.SYSTEM}) and actor.role is not Role.SYSTEM):
            allowed = self.allowed(ticket, actor)
            raise IllegalAction(
                f"工单 {ticket.id} 处于「{ticket.state.value}」，不能「{action.value}」；"
                f"此状态下可以：{'、'.join(a.value for a in allowed) or '（无）'}",
                ticket.state, allowed)
        if actor.role not in row.roles:
            raise Forbidden(f"「{actor.role.value}」不能「{action.value}」；可以的角色："
                            f"{'、'.join(r.value for r in Role if r in row.roles)}")
        reason, note = self._text("reason", reason), self._text("note", note)
        values = self._fields(row, reason, fields)
        for guard in row.guards:
            if not self._holds(guard, ticket, actor, now, values):
                allowed = self.allowed(ticket, actor)
                raise IllegalAction(f"工单 {ticket.id}「{action.value}」：{guard.value}",
                                    ticket.state, allowed)
        from_state = ticket.state
        main = self._merge_target(session, ticket, actor, values) \
            if action is Action.MERGE else None
        self._do(session, ticket, row, actor, now, reason, values, main)
        ticket.state = row.to if row.to is not None else (main or ticket).state
        event = self._record(session, ticket, row.event, actor, action, from_state, now,
                             reason, note, values)
        self._followers(session, main or ticket, now)  # 并单: the group, re-pointed
        return event

    def _action(self, action: Action | str) -> Action:
        if isinstance(action, Action):
            return action
        try:
            return Action(action)
        except ValueError:
            raise MissingField("action", f"unknown action {str(action)[:40]!r}; actions: "
                               f"{'、'.join(a.value for a in Action)}") from None

    @staticmethod
    def _text(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise MissingField(name, f"{name} must be text")
        text: str = value.replace("\x00", "").strip()
        if len(text) > MAX_TEXT:
            raise MissingField(name, f"{name} is longer than {MAX_TEXT} characters")
        return text

    def _fields(self, row: Transition, reason: str,
                fields: Mapping[str, Any]) -> dict[str, Any]:
        """The action's fields, validated; MissingField names the first bad one."""
        known = set(row.required) | set(OPTIONAL_FIELDS.get(row.action, ())) - {"reason"}
        for name in fields:
            if name not in known:
                raise MissingField(name, f"「{row.action.value}」does not take {name!r}; it "
                                   f"takes: {', '.join(sorted(known)) or 'no fields'}")
        if "reason" in row.required and not reason:
            raise MissingField("reason", f"「{row.action.value}」needs a reason")
        out: dict[str, Any] = {}
        for name in [*row.required, *OPTIONAL_FIELDS.get(row.action, ())]:
            if name == "reason":
                continue
            if name not in fields or fields[name] is None or fields[name] == "":
                if name in row.required:
                    raise MissingField(name, f"「{row.action.value}」needs {name}")
                continue
            out[name] = self._value(name, fields[name])
        return out

    def _department(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > 100:
            raise MissingField(name, f"{name}: a department's name (1 to 100 characters)")
        department: str = value.strip()
        if self.departments and department not in self.departments:
            raise MissingField(name, f"{name}: {department!r} is not a department of the site "
                               f"file; departments: {'、'.join(sorted(self.departments))}")
        return department

    def _value(self, name: str, value: Any) -> Any:
        def choice(enum_cls: type[enum.StrEnum]) -> Any:
            try:
                return enum_cls(value)
            except ValueError:
                raise MissingField(name, f"{name}: {str(value)[:40]!r} is not one of "
                                   f"{'、'.join(m.value for m in enum_cls)}") from None

        if name == "department":
            return self._department(name, value)
        if name == "assist_departments":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not items or len(items) > 20:
                raise MissingField(name, f"{name}: a list of 1 to 20 department names")
            return list(dict.fromkeys(self._department(name, v) for v in items))
        if name in ("reply", "summary"):
            text = self._text(name, value)
            if not text:
                raise MissingField(name, f"{name} must not be empty")
            return text
        if name in ("category", "call_uniqueid"):
            if not isinstance(value, str) or not value.strip() or len(value) > 100:
                raise MissingField(name, f"{name}: text of 1 to 100 characters")
            return value.strip()
        if name == "urgency":
            return choice(Urgency)
        if name == "rating":
            return choice(Rating)
        if name == "outcome":
            return choice(CallbackOutcome)
        if name == "level":
            return choice(Supervision)
        if name in ("resolved", "real_name"):
            if not isinstance(value, bool):
                raise MissingField(name, f"{name}: true or false")
            return value
        if name == "working_days":
            limit = self.settings.max_extension_working_days
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value <= limit:
                raise MissingField(name, f"{name}: a number of working days above 0 and at "
                                   f"most {limit:g} (the site's max_extension_working_days)")
            return float(value)
        if name == "main_ticket_id":
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise MissingField(name, f"{name}: the main ticket's id, a whole number")
            return value
        raise MissingField(name, f"unknown field {name!r}")  # pragma: no cover - table typo

    def _main(self, session: Session, ticket: Ticket) -> TicketAssignment | None:
        return session.scalars(select(TicketAssignment).where(
            TicketAssignment.ticket_id == ticket.id,
            TicketAssignment.kind == AssignmentKind.MAIN,
            TicketAssignment.active.is_(True))).first()

    def _holds(self, guard: Guard, ticket: Ticket, actor: Actor, now: datetime,
               values: Mapping[str, Any]) -> bool:
        if guard is Guard.NOT_MERGED:
            return ticket.merged_into is None
        if guard is Guard.OWN_DEPARTMENT:
            return actor.department is not None and actor.department == ticket.department
        if guard is Guard.ASSIST_DEPARTMENT:
            return self._open_assist(ticket, actor) is not None
        if guard is Guard.RETURN_WINDOW:
            return ticket.return_due is None or now <= ticket.return_due
        if guard is Guard.RETURN_PENDING:
            return ticket.return_pending
        if guard is Guard.NEVER_DISPATCHED:
            return ticket.dispatched_at is None
        if guard is Guard.EXTENSION_ALLOWED:
            return (not ticket.extension_pending
                    and ticket.extensions_used < self.settings.max_extensions)
        if guard is Guard.EXTENSION_PENDING:
            return ticket.extension_pending
        if guard is Guard.PAUSED:
            return ticket.paused_since is not None
        if guard is Guard.NOT_PAUSED:
            return ticket.paused_since is None
        if guard is Guard.UNSATISFIED:
            return ticket.rating is not None and not ticket.rating.satisfied
        if guard is Guard.REOPEN_LEFT:
            return ticket.reopen_count < self.settings.max_reopens
        raise AssertionError(guard)  # pragma: no cover - a guard without a check

    def _open_assist(self, ticket: Ticket, actor: Actor) -> TicketAssignment | None:
        session = Session.object_session(ticket)
        assert session is not None
        return session.scalars(select(TicketAssignment).where(
            TicketAssignment.ticket_id == ticket.id,
            TicketAssignment.kind == AssignmentKind.ASSIST,
            TicketAssignment.department == (actor.department or ""),
            TicketAssignment.active.is_(True),
            TicketAssignment.answered_at.is_(None))).first()

    def _merge_target(self, session: Session, ticket: Ticket, actor: Actor,
                      values: Mapping[str, Any]) -> Ticket:
        main_id = values["main_ticket_id"]
        if main_id == ticket.id:
            raise MissingField("main_ticket_id", "a ticket cannot be merged into itself")
        try:
            main = self._load(session, main_id, actor)
        except NotFound:
            raise MissingField("main_ticket_id", f"no ticket {main_id}") from None
        if main.merged_into is not None:
            raise MissingField("main_ticket_id", f"ticket {main_id} is itself merged into "
                               f"{main.merged_into}; merge into that one")
        if main.state not in (TicketState.ACCEPTED, TicketState.AWAITING_SIGN,
                              TicketState.HANDLING):
            raise MissingField("main_ticket_id", f"ticket {main_id} is already "
                               f"「{main.state.value}」; merge only into an open ticket")
        return main

    # --- the changes ---------------------------------------------------------------------

    def _do(self, session: Session, ticket: Ticket, row: Transition, actor: Actor,
            now: datetime, reason: str, values: dict[str, Any], main: Ticket | None) -> None:
        action = row.action
        if row.deadlines is DeadlineEffect.START:
            self._start(session, ticket, action, now, values)
        elif row.deadlines is DeadlineEffect.SIGNED:
            ticket.signed_at = now
        elif row.deadlines is DeadlineEffect.ANSWERED:
            self._answered(session, ticket, now, values)
        elif row.deadlines is DeadlineEffect.CLOSED:
            ticket.closed_at = now
            if action is Action.CLOSE_DIRECTLY:
                ticket.reply = values["reply"]
                self._take_ticket_fields(ticket, values)
        elif row.deadlines is DeadlineEffect.EXTEND:
            self._extend(session, ticket, actor, now, values)
        elif row.deadlines is DeadlineEffect.PAUSE:
            ticket.paused_since = now
            session.add(TicketPause(ticket_id=ticket.id, started_at=now,
                                    reason=reason or "补充材料"))
        elif row.deadlines is DeadlineEffect.RESUME:
            self._resume(session, ticket, now)

        if action is Action.RETURN:
            ticket.returns_count += 1
            ticket.return_pending = True
            assignment = self._main(session, ticket)
            if assignment is not None:
                assignment.active = False
        elif action is Action.REJECT_RETURN:
            ticket.return_pending = False
            ticket.unjust_returns += 1
            last = session.scalars(select(TicketAssignment).where(
                TicketAssignment.ticket_id == ticket.id,
                TicketAssignment.kind == AssignmentKind.MAIN)
                .order_by(TicketAssignment.id.desc())).first()
            if last is not None:
                last.active = True
        elif action is Action.ADD_ASSIST:
            self._add_assists(session, ticket, values["assist_departments"], now)
        elif action is Action.ASSIST_ANSWER:
            assist = self._open_assist(ticket, actor)
            assert assist is not None  # the guard held
            assist.answered_at, assist.answer = now, values["reply"]
        elif action is Action.REQUEST_EXTENSION:
            ticket.extension_pending = True
            session.add(TicketExtension(ticket_id=ticket.id, requested_at=now,
                                        requested_by=actor.name[:64],
                                        working_days=values["working_days"],
                                        reason=reason))
        elif action is Action.REFUSE_EXTENSION:
            self._decide_extension(session, ticket, actor, now, ExtensionDecision.REFUSED)
        elif action is Action.MERGE:
            assert main is not None
            for child in session.scalars(select(Ticket).where(Ticket.merged_into == ticket.id)):
                child.merged_into = main.id  # one main ticket per group
            ticket.merged_into = main.id
            # the duplicate's own clocks stop: the main ticket's run for both
            if ticket.paused_since is not None:
                self._resume(session, ticket, now)
            if ticket.extension_pending:
                self._decide_extension(session, ticket, SYSTEM, now, ExtensionDecision.REFUSED)
            values["stopped"] = {c: iso(getattr(ticket, c)) for c in
                                 ("sign_due", "answer_due", "return_due") if getattr(ticket, c)}
            ticket.sign_due = ticket.answer_due = ticket.return_due = None
            ticket.return_pending = False
        elif action is Action.SUPERVISE:
            level = values.get("level")
            current = ticket.supervision.rank if ticket.supervision is not None else 0
            if level is None:
                level = list(Supervision)[min(current, len(Supervision) - 1)]
            if level.rank <= current:
                raise IllegalAction(f"工单 {ticket.id} 已是「{ticket.supervision}」；督办只能升级",
                                    ticket.state, self.allowed(ticket, actor))
            values["level"] = level
            ticket.supervision, ticket.supervision_reason = level, reason
        elif action is Action.REVISIT:
            self._revisited(session, ticket, actor, now, values)
        elif action is Action.RATE:
            self._rated(session, ticket, now, values)

    def _take_ticket_fields(self, ticket: Ticket, values: Mapping[str, Any]) -> None:
        for name in ("urgency", "category", "summary", "real_name"):
            if name in values:
                setattr(ticket, name, values[name])

    def _start(self, session: Session, ticket: Ticket, action: Action, now: datetime,
               values: dict[str, Any]) -> None:
        """派单, 改派, 重办: the (same or new) department's clocks start now."""
        self._take_ticket_fields(ticket, values)
        department = values.get("department", ticket.department)
        if department is None:  # 重办 of a ticket never dispatched cannot happen (table)
            raise MissingField("department", "the ticket has no department")
        values.setdefault("department", department)
        if action is Action.REASSIGN:
            ticket.reassign_count += 1
        elif action is Action.REOPEN:
            ticket.reopen_count += 1
        for old in session.scalars(select(TicketAssignment).where(
                TicketAssignment.ticket_id == ticket.id, TicketAssignment.active.is_(True))):
            old.active = False
        if ticket.extension_pending:
            self._decide_extension(session, ticket, SYSTEM, now, ExtensionDecision.REFUSED)
        ticket.department = department
        session.add(TicketAssignment(ticket_id=ticket.id, department=department,
                                     kind=AssignmentKind.MAIN, assigned_at=now, active=True))
        self._add_assists(session, ticket, values.get("assist_departments", ()), now)
        warnings: list[str] = []
        dues: dict[str, datetime] = {}
        for limit, column in ((Limit.SIGN, "sign_due"), (Limit.ANSWER, "answer_due"),
                              (Limit.RETURN_WINDOW, "return_due")):
            due = self.policy.due(limit, category=ticket.category, urgency=ticket.urgency,
                                  start=now)
            dues[column] = due.at
            if due.warning and due.warning not in warnings:
                warnings.append(due.warning)
        ticket.sign_due, ticket.answer_due = dues["sign_due"], dues["answer_due"]
        ticket.return_due = dues["return_due"]
        ticket.deadline_warning = "；".join(warnings)[:300] or None
        ticket.dispatched_at = now
        ticket.signed_at = ticket.answered_at = ticket.closed_at = None
        ticket.revisited_at = ticket.rated_at = ticket.revisit_due = None
        ticket.reply = ticket.rating = ticket.resolved = ticket.callback_outcome = None
        ticket.handling_wd = ticket.paused_since = ticket.supervision = None
        ticket.supervision_reason = None
        ticket.return_pending = ticket.extension_pending = False
        ticket.extensions_used = 0
        values.update({k: iso(v) for k, v in dues.items()})

    def _add_assists(self, session: Session, ticket: Ticket, departments: Iterable[str],
                     now: datetime) -> None:
        current = set(session.scalars(select(TicketAssignment.department).where(
            TicketAssignment.ticket_id == ticket.id, TicketAssignment.active.is_(True))))
        for department in departments:
            if department == ticket.department or department in current:
                continue
            session.add(TicketAssignment(ticket_id=ticket.id, department=department,
                                         kind=AssignmentKind.ASSIST, assigned_at=now,
                                         active=True))
            current.add(department)

    def _answered(self, session: Session, ticket: Ticket, now: datetime,
                  values: dict[str, Any]) -> None:
        if ticket.paused_since is not None:  # answering ends a pause
            self._resume(session, ticket, now)
        if ticket.extension_pending:  # and settles a request nobody decided: not needed now
            self._decide_extension(session, ticket, SYSTEM, now, ExtensionDecision.REFUSED)
        ticket.answered_at, ticket.reply = now, values["reply"]
        main = self._main(session, ticket)
        if main is not None:
            main.answered_at, main.answer = now, values["reply"]
        if ticket.dispatched_at is not None:
            pauses = [(p.started_at, p.ended_at) for p in session.scalars(
                select(TicketPause).where(TicketPause.ticket_id == ticket.id,
                                          TicketPause.started_at >= ticket.dispatched_at))]
            ticket.handling_wd = round(self.policy.handling_working_days(
                ticket.dispatched_at, now, pauses), 4)
        due = self.policy.due(Limit.REVISIT, category=ticket.category,
                              urgency=ticket.urgency, start=now)
        ticket.revisit_due = due.at
        session.add(TicketCallback(ticket_id=ticket.id, kind=CallbackKind.REVISIT,
                                   created_at=now, due=due.at, note=""))
        values["revisit_due"] = iso(due.at)

    def _decide_extension(self, session: Session, ticket: Ticket, actor: Actor, now: datetime,
                          decision: ExtensionDecision) -> TicketExtension | None:
        pending = session.scalars(select(TicketExtension).where(
            TicketExtension.ticket_id == ticket.id,
            TicketExtension.decision == ExtensionDecision.PENDING)
            .order_by(TicketExtension.id.desc())).first()
        ticket.extension_pending = False
        if pending is not None:
            pending.decision, pending.decided_at = decision, now
            pending.decided_by = actor.name[:64]
        return pending

    def _extend(self, session: Session, ticket: Ticket, actor: Actor, now: datetime,
                values: dict[str, Any]) -> None:
        request = self._decide_extension(session, ticket, actor, now,
                                         ExtensionDecision.APPROVED)
        if request is None or ticket.answer_due is None:
            return
        due = self.policy.extend(ticket.answer_due, request.working_days)
        ticket.answer_due = due.at
        if due.warning:
            ticket.deadline_warning = due.warning[:300]
        ticket.extensions_used += 1
        values.update(working_days=request.working_days, answer_due=iso(due.at))

    def _resume(self, session: Session, ticket: Ticket, now: datetime) -> None:
        paused_from = ticket.paused_since
        assert paused_from is not None
        for column, limit in (("sign_due", Limit.SIGN), ("answer_due", Limit.ANSWER)):
            due = getattr(ticket, column)
            if due is None or (column == "sign_due" and ticket.signed_at is not None):
                continue
            span = self.policy.span(limit, category=ticket.category, urgency=ticket.urgency)
            moved = self.policy.after_pause(due, paused_from, now, wall_clock=span.wall_clock)
            setattr(ticket, column, moved.at)
        pause = session.scalars(select(TicketPause).where(
            TicketPause.ticket_id == ticket.id, TicketPause.ended_at.is_(None))).first()
        if pause is not None:
            pause.ended_at = now
        ticket.paused_since = None

    def _revisited(self, session: Session, ticket: Ticket, actor: Actor, now: datetime,
                   values: Mapping[str, Any]) -> None:
        ticket.revisited_at = now
        ticket.callback_outcome = values["outcome"]
        if "resolved" in values:
            ticket.resolved = values["resolved"]
        # the task the call was placed for, else the first open one as the 回访 list orders
        # them (no due first, then by due) on SQLite and PostgreSQL alike
        open_tasks = select(TicketCallback).where(TicketCallback.ticket_id == ticket.id,
                                                  TicketCallback.done_at.is_(None))
        task = None
        if values.get("call_uniqueid"):
            task = session.scalars(open_tasks.where(
                TicketCallback.call_uniqueid == values["call_uniqueid"])).first()
        if task is None:
            task = session.scalars(open_tasks.order_by(
                TicketCallback.due.is_(None).desc(), TicketCallback.due,
                TicketCallback.id)).first()
        if task is None:
            task = TicketCallback(ticket_id=ticket.id, kind=CallbackKind.REVISIT,
                                  created_at=now, due=ticket.revisit_due, note="")
            session.add(task)
        if values["outcome"] is not CallbackOutcome.NO_ANSWER:  # 未接通: the task stays open
            task.done_at = now
        task.seat, task.outcome = actor.name[:64], values["outcome"]
        task.resolved = values.get("resolved")
        task.call_uniqueid = values.get("call_uniqueid")

    def _rated(self, session: Session, ticket: Ticket, now: datetime,
               values: Mapping[str, Any]) -> None:
        rating: Rating = values["rating"]
        ticket.rating, ticket.rated_at = rating, now
        if rating.satisfied:
            return
        due = self.policy.due(Limit.REVISIT, category=ticket.category, urgency=ticket.urgency,
                              start=now)
        session.add(TicketCallback(ticket_id=ticket.id, kind=CallbackKind.COMPLAINT,
                                   created_at=now, due=due.at, rating=rating, note=""))
        if ticket.reopen_count >= self.settings.max_reopens:  # 重办 used up: 督办单
            ticket.supervision = Supervision.ORDER
            ticket.supervision_reason = "重办后仍不满意"

    # --- history and events --------------------------------------------------------------

    def _record(self, session: Session, ticket: Ticket, kind: str, actor: Actor,
                action: Action, from_state: TicketState | None, now: datetime, reason: str,
                note: str, values: Mapping[str, Any]) -> TicketEvent:
        row = history_row(ticket, at=now, actor=actor, action=action, from_state=from_state,
                          reason=reason, note=note, data=values)
        session.add(row)
        event = event_of(ticket, row, kind)
        for listener in self.listeners:
            listener(session, event)
        return event

    def _followers(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """Merged tickets take their main ticket's state, each with its own history row."""
        for child in session.scalars(select(Ticket).where(Ticket.merged_into == ticket.id)
                                     .options(lazyload(Ticket.utterances),
                                              lazyload(Ticket.call))):
            if child.state is ticket.state:
                continue
            before, child.state = child.state, ticket.state
            self._record(session, child, "followed", SYSTEM, Action.FOLLOW_MAIN, before, now,
                         "", "", {"main_ticket_id": ticket.id})

    # --- 督办 sweep ----------------------------------------------------------------------

    def level_due(self, ticket: Ticket, now: datetime) -> Supervision | None:
        """The 督办 level the ticket's running deadlines call for at ``now`` (None: none)."""
        if ticket.paused_since is not None or ticket.merged_into is not None:
            return None
        best: Supervision | None = None
        running: list[tuple[datetime, Limit]] = []
        if ticket.state is TicketState.AWAITING_SIGN and ticket.sign_due is not None:
            running.append((ticket.sign_due, Limit.SIGN))
        if ticket.state in (TicketState.AWAITING_SIGN, TicketState.HANDLING) \
                and ticket.answer_due is not None:
            running.append((ticket.answer_due, Limit.ANSWER))
        for due, limit in running:
            level = self._level(ticket, due, limit, now)
            if level is not None and (best is None or level.rank > best.rank):
                best = level
        return best

    def _level(self, ticket: Ticket, due: datetime, limit: Limit,
               now: datetime) -> Supervision | None:
        overdue = self.policy.overdue_working_days(due, now)
        if overdue >= 2:
            return Supervision.ORDER
        if overdue == 1:
            return Supervision.RED
        span = self.policy.span(limit, category=ticket.category, urgency=ticket.urgency)
        if span.wall_clock:  # 紧急: 黄牌 at half time
            yellow = due - timedelta(hours=span.amount / 2)
        else:
            yellow = self.policy.yellow_at(due, start=ticket.dispatched_at).at
        return Supervision.YELLOW if now >= yellow else None

    def sweep(self, session: Session, now: datetime) -> list[TicketEvent]:
        """Raise every running ticket's 督办 level to what its deadlines call for; one
        自动督办 history row per raise. Idempotent: levels only go up."""
        events: list[TicketEvent] = []
        after: int | None = 0
        while after is not None:
            page, after = self.sweep_page(session, now, after_id=after)
            events += page
        return events

    def sweep_page(self, session: Session, now: datetime, *, after_id: int = 0,
                   limit: int = 500) -> tuple[list[TicketEvent], int | None]:
        """:meth:`sweep` over at most ``limit`` candidate tickets with ids above
        ``after_id``: the events, and the id to continue after (None: done)."""
        horizon = now + timedelta(days=20)  # a 黄牌 falls at most a working day (and a
        # holiday of up to 9 days plus weekends) before its deadline
        query = (select(Ticket.id).where(
            Ticket.id > after_id,
            Ticket.state.in_([TicketState.AWAITING_SIGN, TicketState.HANDLING]),
            Ticket.merged_into.is_(None), Ticket.paused_since.is_(None),
            or_(Ticket.supervision.is_(None), Ticket.supervision != Supervision.ORDER),
            or_(Ticket.sign_due <= horizon, Ticket.answer_due <= horizon))
            .order_by(Ticket.id).limit(limit))
        ids = list(session.scalars(query))
        events: list[TicketEvent] = []
        for ticket_id in ids:
            ticket = self._load(session, ticket_id, SYSTEM)
            level = self.level_due(ticket, now)
            current = ticket.supervision.rank if ticket.supervision is not None else 0
            if level is None or level.rank <= current:
                continue
            ticket.supervision = level
            ticket.supervision_reason = f"自动：{level.value}"
            events.append(self._record(session, ticket, "supervised", SYSTEM, Action.SWEEP,
                                       ticket.state, now, "", "", {"level": level}))
        return events, (ids[-1] if len(ids) == limit else None)
