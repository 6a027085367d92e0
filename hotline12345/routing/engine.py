"""The routing core: a pure, deterministic map from a call context to a decision.

``Router(site)`` compiles the site once (rules indexed by dialled number, patterns
compiled); ``Router.decide(ctx)`` then does no I/O, touches no globals, and explains
itself in ``Decision.reasons``.

Numbers are normalised first, once (:mod:`hotline12345.routing.numbers`): the dialled
number and the caller's number in the forms carriers send (``+8612366``, ``057112317``,
``+8613800138000``) are read as the site writes them; the number as received stays in
``HOTLINE_DIALLED``, and the reasons say what was read how.

Order of evaluation:
0. an emergency number (110, 119, 120, 122) goes straight to its linkage target, and a call
   that a linkage partner transferred to 12345 (its ``transfers_in``) takes the linkage
   priority in its queue, before any rule;
1. site rules, in file order, first match wins;
2. the enterprise question, on the numbers it is configured for, if the caller is not
   yet recognised and has not answered;
3. the register row of the dialled number, by its mode and its phase at the call time;
4. the 12345 access numbers: the enterprise queue for recognised enterprises, else the
   general queue;
5. any other number: the general queue, so no caller is ever left without a human.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from hotline12345 import channel_variables as cv
from hotline12345.config.patterns import compile_pattern
from hotline12345.config.schema import (
    ActionKind,
    ActionSpec,
    LinkageTarget,
    ModeDefaults,
    Queue,
    Rule,
    RuleQuestion,
    Site,
    SubCentre,
)
from hotline12345.legacy_numbers.model import (
    EMERGENCY_NUMBERS,
    AfterCutover,
    Mode,
    Phase,
    RegisterRow,
)
from hotline12345.routing.decision import Action, CallContext, Decision, Question
from hotline12345.routing.numbers import NumberPlan, derive_area_codes

SOUND_DIR = "hotline12345"
NOW_12345_PROMPT = "now-12345"


def sound(prompt_id: str) -> str:
    """The Asterisk sound name of a prompt id (files live under sounds/<lang>/hotline12345/)."""
    return f"{SOUND_DIR}/{prompt_id}"


def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{compile_pattern(p).pattern})" for p in patterns))


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    index: int
    rule: Rule
    dialled: frozenset[str] | None
    caller: re.Pattern[str] | None
    caller_prefixes: tuple[str, ...] | None  # literal prefixes of every caller pattern
    days: frozenset[int] | None
    start_min: int
    end_min: int
    languages: frozenset[str] | None

    def matches(self, ctx: CallContext, local: datetime | None, enterprise: bool,
                blocked: bool) -> bool:
        """Cheap conditions first; the caller regex and the clock last."""
        when = self.rule.when
        if when.enterprise is not None and when.enterprise != enterprise:
            return False
        if when.blocked is not None and when.blocked != blocked:
            return False
        if self.languages is not None and ctx.language not in self.languages:
            return False
        if self.caller is not None and (ctx.caller is None or
                                        self.caller.fullmatch(ctx.caller) is None):
            return False
        if self.days is not None:
            assert local is not None
            minute = local.hour * 60 + local.minute
            start, end = self.start_min, self.end_min
            if start == end:
                in_window = True
                day = local.isoweekday()
            elif start < end:
                in_window = start <= minute < end
                day = local.isoweekday()
            else:  # spans midnight: the window belongs to the day it started
                in_window = minute >= start or minute < end
                day = local.isoweekday() if minute >= start else (local.isoweekday() - 2) % 7 + 1
            if not in_window or day not in self.days:
                return False
        return True


def _literal_prefix(pattern: str) -> str | None:
    """The digits a caller pattern starts with, or None when it starts with a wildcard."""
    if not pattern.startswith("_"):
        return pattern
    prefix = []
    for ch in pattern[1:]:
        if ch.isdigit() or ch in "*#+":
            prefix.append(ch)
        else:
            break
    return "".join(prefix) or None


class Router:
    """Compiled routing for one site. Immutable after construction; safe to share."""

    def __init__(self, site: Site) -> None:
        f = site.file
        self.site = site
        self.tz = ZoneInfo(f.centre.timezone)
        self.general = f.centre.general_queue
        self.queues: dict[str, Queue] = {q.name: q for q in f.queues}
        self.centres: dict[str, SubCentre] = {c.name: c for c in f.sub_centres}
        self.linkage: dict[str, LinkageTarget] = {t.name: t for t in f.linkage}
        self.rows: dict[str, RegisterRow] = {r.number: r for r in site.register}
        self.access = frozenset(site.access_numbers())
        self.mode_defaults: dict[Mode, ModeDefaults] = {
            m: f.mode_defaults.get(m.value, ModeDefaults()) for m in Mode}
        self.enterprise = f.enterprise
        self.enterprise_prefixes = tuple(f.enterprise.prefixes) if f.enterprise else ()
        self.enterprise_ask_on = frozenset(f.enterprise.ask.on) if (
            f.enterprise and f.enterprise.ask) else frozenset()
        # Calls a linkage partner transfers to 12345 (110 -> 12345), by DID or caller prefix.
        self.transfer_dids: dict[str, LinkageTarget] = {}
        prefixes: list[tuple[str, LinkageTarget]] = []
        for target in f.linkage:
            if target.transfers_in is not None:
                for did in target.transfers_in.dids:
                    self.transfer_dids[did] = target
                prefixes.extend((p, target) for p in target.transfers_in.caller_prefixes)
        self.transfer_prefixes = tuple(sorted(prefixes, key=lambda p: -len(p[0])))
        self.emergency: dict[str, LinkageTarget] = {
            t.number: t for t in f.linkage if t.number in EMERGENCY_NUMBERS}
        # The numbers this site gives a meaning to: a dialled number is read as one of them.
        known = {*self.access, *self.rows, *self.linkage_numbers(), *self.transfer_dids,
                 *self.enterprise_ask_on,
                 *(n for rule in f.rules for n in rule.when.dialled)}
        area_codes = f.centre.area_codes or derive_area_codes(
            self.access, [n for n in known if len(n) <= 6])
        self.numbers = NumberPlan.of(area_codes, known)
        self.blocklist = _any_of(tuple(self._caller_literal(p) for p in f.blocklist))
        self.enterprise_numbers = frozenset(self._caller_literal(n)
                                            for n in site.enterprise_numbers)
        compiled = [self._compile(i, replace(rule, when=replace(rule.when, caller=tuple(
            self._caller_literal(p) for p in rule.when.caller))))
                    for i, rule in enumerate(f.rules)]
        self._rules = compiled
        self._needs_local = any(c.days is not None for c in compiled)
        # Rule index. A rule is found through its caller prefixes, else its languages, else
        # it is "plain" and listed under every dialled number it applies to. Candidates are
        # merged back into file order, so the first match still wins.
        self._by_caller_prefix: dict[str, list[int]] = {}
        self._by_language: dict[str, list[int]] = {}
        plain: list[_CompiledRule] = []
        for c in compiled:
            if c.caller_prefixes is not None:
                for prefix in c.caller_prefixes:
                    self._by_caller_prefix.setdefault(prefix, []).append(c.index)
            elif c.languages is not None:
                for language in c.languages:
                    self._by_language.setdefault(language, []).append(c.index)
            else:
                plain.append(c)
        self._prefix_lengths = tuple(sorted({len(p) for p in self._by_caller_prefix}))
        self._plain_any = tuple(c.index for c in plain if c.dialled is None)
        numbers = {n for c in plain if c.dialled for n in c.dialled}
        self._plain_by_number: dict[str, tuple[int, ...]] = {
            n: tuple(c.index for c in plain if c.dialled is None or n in c.dialled)
            for n in numbers}
        self._row_text = {r.number: self._describe_row(r) for r in site.register}

    def linkage_numbers(self) -> tuple[str, ...]:
        return tuple(t.number for t in self.linkage.values())

    def _caller_literal(self, pattern: str) -> str:
        """A caller number the site file writes (not a pattern) in the form routing reads
        callers' numbers in, so that +8613800138000 in a list matches 13800138000."""
        if pattern.startswith("_"):
            return pattern
        normalised = self.numbers.caller(pattern)
        return normalised.number if normalised is not None else pattern

    @staticmethod
    def _describe_row(row: RegisterRow) -> dict[Phase, str]:
        dates = (f"(transition {row.transition_start:%Y-%m-%d %H:%M}, "
                 f"cut-over {row.cutover:%Y-%m-%d %H:%M})")
        return {phase: f"{row.number} {row.name} is {row.mode.value} to {row.target}; "
                       f"phase {phase.value} {dates}" for phase in Phase}

    @staticmethod
    def _compile(index: int, rule: Rule) -> _CompiledRule:
        when = rule.when
        window = when.time
        prefixes = tuple(_literal_prefix(p) for p in when.caller)
        return _CompiledRule(
            index=index,
            rule=rule,
            dialled=frozenset(when.dialled) if when.dialled else None,
            caller=_any_of(when.caller),
            caller_prefixes=None if not prefixes or None in prefixes else tuple(
                p for p in prefixes if p is not None),
            days=frozenset(window.days) if window else None,
            start_min=window.start.hour * 60 + window.start.minute if window else 0,
            end_min=window.end.hour * 60 + window.end.minute if window else 0,
            languages=frozenset(when.language) if when.language else None,
        )

    def _candidates(self, ctx: CallContext) -> list[int] | tuple[int, ...]:
        found: list[int] | tuple[int, ...] = self._plain_by_number.get(ctx.dialled,
                                                                       self._plain_any)
        extra: list[int] = []
        caller = ctx.caller
        if caller and self._prefix_lengths:
            index = self._by_caller_prefix
            for length in self._prefix_lengths:
                hits = index.get(caller[:length])
                if hits:
                    extra.extend(hits)
        if ctx.language is not None and self._by_language:
            hits = self._by_language.get(ctx.language)
            if hits:
                extra.extend(hits)
        if extra:
            found = sorted(set(extra).union(found))
        return found

    # -- the decision ---------------------------------------------------------------

    def decide(self, ctx: CallContext) -> Decision:
        """The decision for a call, its numbers as received (normalised here, once)."""
        received = ctx.dialled
        dialled = self.numbers.dialled(received)
        caller = self.numbers.caller(ctx.caller)
        base: list[str] = []
        if dialled.why:
            base.append(dialled.why)
        if caller is not None and caller.why:
            base.append(caller.why)
        if dialled.number != received or (caller is not None and caller.number != ctx.caller):
            ctx = replace(ctx, dialled=dialled.number,
                          caller=caller.number if caller is not None else None)
        decision = self._decide(ctx, base)
        if dialled.number != received and decision.variables:
            variables = dict(decision.variables)
            variables[cv.DIALLED] = received
            decision = replace(decision, variables=MappingProxyType(variables))
        if caller is not None:
            decision = replace(decision, caller=caller.number)
        return decision

    def _decide(self, ctx: CallContext, base: list[str]) -> Decision:
        start = tuple(base)
        emergency = self.emergency.get(ctx.dialled)
        if emergency is not None:
            return self._emergency(emergency, ctx, base)
        linked_from = self._transferred_by(ctx)
        if linked_from is not None:
            return self._transferred_in(linked_from, ctx, base)
        enterprise, why_enterprise = self._recognise_enterprise(ctx)
        blocked = bool(self.blocklist and ctx.caller and self.blocklist.fullmatch(ctx.caller))
        local = ctx.at.astimezone(self.tz) if self._needs_local else None
        if why_enterprise:
            base.append(why_enterprise)
        if blocked:
            base.append("caller is on the block list")
        rules = self._rules
        for i in self._candidates(ctx):
            compiled = rules[i]
            if compiled.dialled is not None and ctx.dialled not in compiled.dialled:
                continue
            if compiled.matches(ctx, local, enterprise, blocked):
                return self._apply_rule(compiled.rule, ctx, base, enterprise)
        if (self.enterprise is not None and self.enterprise.ask is not None
                and not enterprise and ctx.answer_to is None
                and ctx.dialled in self.enterprise_ask_on):
            if ctx.answer is not None:
                # The answer was given without naming its question; this is the question
                # the call is asked, so decide again with the answer read as its answer.
                return self._decide(replace(ctx, answer_to="enterprise"), list(start))
            ask = self.enterprise.ask
            base.append(f"{ctx.dialled} asks the enterprise question (press {ask.digit})")
            return Decision(Action.ASK, prompts=(), reasons=tuple(base),
                            question=Question(sound(ask.prompt), 1, 5, 1, "enterprise"))
        row = self.rows.get(ctx.dialled)
        if row is not None:
            return self._register(row, ctx, base, enterprise)
        if ctx.dialled in self.access:
            base.append(f"{ctx.dialled} is a 12345 access number")
            if enterprise and self.enterprise is not None:
                base.append("enterprise green channel (为企服务专席)")
                return self._queue(self.enterprise.queue, self.enterprise.priority, ctx, base)
            return self._queue(self.general, 0, ctx, base)
        base.append(f"{ctx.dialled} is neither an access number nor in the register; "
                    "sent to the general queue so the caller still reaches a human")
        return self._queue(self.general, 0, ctx, base)

    def _transferred_by(self, ctx: CallContext) -> tuple[LinkageTarget, str] | None:
        """The linkage partner that transferred this call to 12345, and how it is known."""
        target = self.transfer_dids.get(ctx.dialled)
        if target is not None:
            return target, f"DID {ctx.dialled}"
        caller = ctx.caller
        if caller and self.transfer_prefixes:
            for prefix, target in self.transfer_prefixes:
                if caller.startswith(prefix):
                    return target, f"caller number starting {prefix}"
        return None

    def _transferred_in(self, found: tuple[LinkageTarget, str], ctx: CallContext,
                        reasons: list[str]) -> Decision:
        target, how = found
        priority = self.mode_defaults[Mode.LINKAGE].priority
        assert target.transfers_in is not None
        queue = target.transfers_in.queue or self.general
        reasons.append(f"transferred to 12345 by {target.label} {target.number} ({how}): "
                       f"linkage (协同联动) priority {priority} from mode_defaults, before any "
                       "rule (国办发〔2022〕12号)")
        decision = self._queue(queue, priority, ctx, reasons)
        variables = dict(decision.variables)
        variables[cv.LINKED_FROM] = target.number
        return replace(decision, variables=MappingProxyType(variables))

    def _emergency(self, target: LinkageTarget, ctx: CallContext,
                   reasons: list[str]) -> Decision:
        """110, 119, 120, 122 are no 12345 numbers (国办发〔2020〕53号): straight to the linkage
        target, blind, no prompt. The trunk context does this without the controller; this
        answers the dry run and any dialplan that still asks."""
        reasons.append(f"{ctx.dialled} is an emergency number, excluded from the merge "
                       f"(国办发〔2020〕53号): straight to linkage target {target.name}, no "
                       "prompt, no queue")
        reasons.append(f"linkage (协同联动) to {target.label} {target.number}: blind transfer "
                       f"via {target.dial}")
        variables = self._vars(ctx, Action.LINKAGE, target.name, "")
        variables.update({cv.DIAL: target.dial, cv.TRANSFER: "blind",
                          cv.LINKAGE_NUMBER: target.number,
                          cv.FALLBACK_QUEUE: self.general})
        return Decision(Action.LINKAGE, target.name, self.mode_defaults[Mode.LINKAGE].priority,
                        (), MappingProxyType(variables), tuple(reasons))

    def _recognise_enterprise(self, ctx: CallContext) -> tuple[bool, str]:
        if ctx.enterprise:
            return True, "enterprise caller (flagged before routing)"
        caller = ctx.caller
        if caller:
            if caller in self.enterprise_numbers:
                return True, "enterprise caller (in the enterprise number list)"
            for prefix in self.enterprise_prefixes:
                if caller.startswith(prefix):
                    return True, f"enterprise caller (number starts with {prefix})"
        ask = self.enterprise.ask if self.enterprise else None
        if (ask is not None and ctx.answer_to == "enterprise" and ctx.answer == ask.digit
                and ctx.dialled in self.enterprise_ask_on):
            return True, f"enterprise caller (pressed {ask.digit})"
        return False, ""

    def _apply_rule(self, rule: Rule, ctx: CallContext, reasons: list[str],
                    enterprise: bool) -> Decision:
        reasons.append(f'rule "{rule.name}" matched')
        spec = rule.then
        if spec.action is ActionKind.ASK and rule.ask is not None:
            q: RuleQuestion = rule.ask
            if ctx.answer is None:
                reasons.append(f'rule "{rule.name}" asks its question')
                return Decision(Action.ASK, reasons=tuple(reasons), question=Question(
                    sound(q.prompt), max(len(d) for d in q.options) if q.options else 1,
                    q.timeout_s, q.retries, f"rule:{rule.name}"),
                    variables=MappingProxyType({cv.RULE: rule.name}))
            if ctx.answer_to is not None and ctx.answer_to != f"rule:{rule.name}":
                reasons.append("the caller has already answered one question: the rule's "
                               "default applies")
                return self._action(q.default, ctx, reasons, rule.name)
            chosen = q.options.get(ctx.answer)
            if chosen is None:
                shown = "no answer" if ctx.answer == "" else f'answer "{ctx.answer}" is no option'
                reasons.append(f"{shown}: the rule's default applies")
                chosen = q.default
            else:
                reasons.append(f'answer "{ctx.answer}" chose its option')
            spec = chosen
        return self._action(spec, ctx, reasons, rule.name)

    def _action(self, spec: ActionSpec, ctx: CallContext, reasons: list[str],
                rule: str) -> Decision:
        prompts = (sound(spec.prompt),) if spec.prompt else ()
        priority = spec.priority if spec.priority is not None else 0
        kind = spec.action
        if kind is ActionKind.QUEUE:
            return self._queue(spec.target, priority, ctx, reasons, prompts, rule)
        if kind is ActionKind.EXPERT:
            return self._queue(spec.target, priority, ctx, reasons, prompts, rule, expert=True)
        if kind is ActionKind.SUB_CENTRE:
            return self._sub_centre(self.centres[spec.target], priority, ctx, reasons, prompts,
                                    rule)
        if kind is ActionKind.LINKAGE:
            return self._linkage(self.linkage[spec.target], ctx, reasons, prompts, rule)
        reasons.append("announce, then hang up")
        return Decision(Action.ANNOUNCE_HANGUP, prompts=prompts, reasons=tuple(reasons),
                        variables=self._vars(ctx, Action.ANNOUNCE_HANGUP, "", rule))

    def _register(self, row: RegisterRow, ctx: CallContext, reasons: list[str],
                  enterprise: bool) -> Decision:
        phase = row.phase_at(ctx.at)
        defaults = self.mode_defaults[row.mode]
        reasons.append(self._row_text[row.number][phase])
        prompts: tuple[str, ...] = ()
        if phase is Phase.IN_TRANSITION:
            prompts = (sound(row.prompt_id),)
            reasons.append("in transition: the transition prompt plays first")
        elif phase is Phase.RETIRED:
            prompts = (sound(NOW_12345_PROMPT),)
            after = row.after_cutover or defaults.after_cutover
            if after is AfterCutover.HANGUP:
                reasons.append("retired: the \"now 12345\" prompt plays, then the call ends")
                return Decision(Action.ANNOUNCE_HANGUP, prompts=prompts, reasons=tuple(reasons),
                                variables=self._vars(ctx, Action.ANNOUNCE_HANGUP, "", "", row,
                                                     phase))
            reasons.append("retired: the \"now 12345\" prompt plays, then the call continues")
        elif phase is Phase.BEFORE_TRANSITION:
            reasons.append("before transition: routed as configured, no prompt")
        if row.mode is Mode.SUB_CENTRE:
            return self._sub_centre(self.centres[row.target], defaults.priority, ctx, reasons,
                                    prompts, "", row, phase)
        if row.mode is Mode.LINKAGE:
            return self._linkage(self.linkage[row.target], ctx, reasons, prompts, "", row, phase)
        if enterprise and self.enterprise is not None:
            reasons.append("enterprise green channel (为企服务专席) takes the call")
            return self._queue(self.enterprise.queue, self.enterprise.priority, ctx, reasons,
                               prompts, "", row=row, phase=phase)
        return self._queue(row.target, defaults.priority, ctx, reasons, prompts, "", row=row,
                           phase=phase)

    # -- actions --------------------------------------------------------------------

    def _vars(self, ctx: CallContext, action: Action, target: str, rule: str,
              row: RegisterRow | None = None, phase: Phase | None = None) -> dict[str, str]:
        out = {cv.ACTION: action.value, cv.TARGET: target,
               cv.DIALLED: ctx.dialled, cv.ROUTED_AS: ctx.dialled,
               cv.RULE: rule}
        if row is not None and phase is not None:
            out[cv.LEGACY] = row.number
            out[cv.MODE] = row.mode.code
            out[cv.PHASE] = phase.code
        return out

    def _queue(self, name: str, priority: int, ctx: CallContext, reasons: list[str],
               prompts: tuple[str, ...] = (), rule: str = "", *, expert: bool = False,
               row: RegisterRow | None = None, phase: Phase | None = None,
               _seen: tuple[str, ...] = ()) -> Decision:
        queue = self.queues[name]
        load = ctx.queue_load.get(name) if ctx.queue_load else None
        timeout = queue.timeout_s
        overflow_action, overflow_target = Action.QUEUE, self.general
        for rule_ in queue.overflow:
            if (rule_.waiting_over and load is not None and load.waiting >= rule_.waiting_over
                    and rule_.to_queue not in _seen):
                reasons.append(f"{name} has {load.waiting} callers waiting "
                               f"(overflow at {rule_.waiting_over})")
                if rule_.to_queue:
                    reasons.append(f"overflow to queue {rule_.to_queue} (多援一)")
                    return self._queue(rule_.to_queue, priority, ctx, reasons, prompts, rule,
                                       row=row, phase=phase, _seen=(*_seen, name))
                reasons.append(f"overflow to sub-centre {rule_.to_centre} (多援一)")
                return self._sub_centre(self.centres[rule_.to_centre], priority, ctx, reasons,
                                        prompts, rule, row, phase)
            if rule_.after_s:
                timeout = rule_.after_s
                if rule_.to_queue:
                    overflow_action, overflow_target = Action.QUEUE, rule_.to_queue
                else:
                    overflow_action, overflow_target = Action.SUB_CENTRE, rule_.to_centre
        if overflow_target == name:
            overflow_target = ""
        action = Action.EXPERT if expert else Action.QUEUE
        asterisk_queue = queue.expert_queue if expert else name
        reasons.append(f"{'expert seats of ' if expert else ''}queue {name} ({queue.label}), "
                       f"priority {priority}, overflow after {timeout} s"
                       + (f" to {overflow_target}" if overflow_target else ""))
        variables = self._vars(ctx, action, asterisk_queue, rule, row, phase)
        variables.update({
            cv.QUEUE: asterisk_queue,
            cv.QUEUE_PRIO: str(priority),
            cv.PRIORITY: str(priority),
            cv.QUEUE_TIMEOUT: str(timeout),
            cv.OVERFLOW_ACTION: overflow_action.value if overflow_target else "",
            cv.OVERFLOW_TARGET: overflow_target,
        })
        if overflow_action is Action.SUB_CENTRE and overflow_target:
            variables[cv.OVERFLOW_DIAL] = self.centres[overflow_target].dial
        return Decision(action, asterisk_queue, priority, prompts,
                        MappingProxyType(variables), tuple(reasons))

    def _sub_centre(self, centre: SubCentre, priority: int, ctx: CallContext,
                    reasons: list[str], prompts: tuple[str, ...], rule: str,
                    row: RegisterRow | None = None, phase: Phase | None = None) -> Decision:
        fallback = centre.fallback_queue or self.general
        reasons.append(f"transfer to sub-centre {centre.name} ({centre.label}) via {centre.dial}; "
                       f"queue {fallback} if it does not answer")
        variables = self._vars(ctx, Action.SUB_CENTRE, centre.name, rule, row, phase)
        variables.update({cv.DIAL: centre.dial, cv.FALLBACK_QUEUE: fallback,
                          cv.QUEUE_PRIO: str(priority), cv.PRIORITY: str(priority)})
        return Decision(Action.SUB_CENTRE, centre.name, priority, prompts,
                        MappingProxyType(variables), tuple(reasons))

    def _linkage(self, target: LinkageTarget, ctx: CallContext, reasons: list[str],
                 prompts: tuple[str, ...], rule: str, row: RegisterRow | None = None,
                 phase: Phase | None = None) -> Decision:
        how = "three-way call (三方通话)" if target.transfer.value == "three_way" else \
            "blind transfer"
        reasons.append(f"linkage (协同联动) to {target.label} {target.number}: {how} via "
                       f"{target.dial}")
        priority = self.mode_defaults[Mode.LINKAGE].priority
        variables = self._vars(ctx, Action.LINKAGE, target.name, rule, row, phase)
        variables.update({cv.DIAL: target.dial, cv.TRANSFER: target.transfer.value,
                          cv.LINKAGE_NUMBER: target.number,
                          cv.FALLBACK_QUEUE: self.general})
        return Decision(Action.LINKAGE, target.name, priority, prompts,
                        MappingProxyType(variables), tuple(reasons))
