"""``asterisk-conf check DIR``: asterisklint, then hotline12345's own cross-checks.

Cross-checks, against the site file the directory was rendered from:

- every context a dialplan step, a PJSIP endpoint or a transfer refers to exists, and so does
  every extension and label a jump names;
- every queue the dialplan or the controller may use exists in the queues file;
- every prompt referenced (``hotline12345/<id>``) is a known prompt, and, given ``sounds``,
  has audio Asterisk can play;
- every register number and access number has a route of its own to the controller in every
  trunk context, and so do numbers of every other shape (catch-alls); a call without a DID in
  its Request-URI (``s``, or a registration trunk's ``contact_user``) takes it from the To
  header. Whether a provider really puts the DID into the Request-URI or the To header only
  a test call shows;
- a call followed through the inbound step (:mod:`hotline12345.asterisk.flow` runs the
  dialplan's own steps) tries each controller in the order given, and reaches the general
  queue when the last one fails, and a call over the hop limit reaches the general queue
  without the controller; every Dial and Originate carries the hop count; a linkage or
  sub-centre dial string through a PJSIP endpoint whose AOR contact is this host is a warning
  (a routing loop);
- no DID appears twice (within a context, or as an access number of two trunks);
- secrets are no placeholders, the AMI user is least-privilege and bound by permit/deny;
- every trunk has its endpoint, AOR, identify or registration and auth;
- every ConfBridge() profile exists in the confbridge file, the caller's marked and the
  others' end_marked;
- in a deployed directory (/etc/asterisk, where the host's own extensions.conf, manager.conf...
  sit beside the rendered files): each host file includes its rendered file as its last line,
  manager.conf has the [general] that ``[general](+)`` adds to and AMI ends up enabled, and no
  two PJSIP transports bind the same address.
"""

from __future__ import annotations

import grp
import ipaddress
import re
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hotline12345 import channel_variables as cv
from hotline12345.asterisk import names
from hotline12345.asterisk.conffile import (
    ConfFile,
    Entry,
    Section,
    Step,
    dialplan,
    exten_matches,
    include_target,
    read,
    split_app,
    strip_comment,
)
from hotline12345.asterisk.findings import Finding, Severity
from hotline12345.asterisk.flow import Call, Undecidable
from hotline12345.asterisk.lint import lint_dir
from hotline12345.asterisk.prompts import catalogue, find_audio, wav_problem
from hotline12345.asterisk.render import (
    AMI_READ,
    AMI_WRITE,
    all_asterisk_queues,
    ami_reach_problem,
    site_dials,
)
from hotline12345.config.schema import Site, Trunk, TrunkAuth
from hotline12345.legacy_numbers.model import EMERGENCY_NUMBERS

_SOUND_REF = re.compile(r"(?<![/\w.-])hotline12345/([A-Za-z0-9_-]+)")
_LOCAL_REF = re.compile(r"Local/([^@/,&)]+)@([^/,&)]+)")
#: Numbers no site lists, one of each shape a provider may deliver: every trunk context must
#: still send them to the controller (which queues unknown numbers for a human).
_PROBES = (("99999", "an unlisted national number"), ("+8657199999", "an E.164 number (+86...)"),
           ("9", "a one-digit number"))
_JUMP_APPS = {"goto", "gotoif", "gosub", "gosubif"}
_QUEUE_STRATEGIES = {"ringall", "leastrecent", "fewestcalls", "random", "rrmemory",
                     "rrordered", "linear", "wrandom"}
#: What an emergency call must never reach (nor [inbound]).
_NOT_EMERGENCY = frozenset({"agi", "eagi", "queue", "playback", "background", "read",
                            "answer", "mixmonitor", "confbridge", "originate", "progress"})
_EMERGENCY_FORMS = frozenset(f for n in EMERGENCY_NUMBERS for f in names.emergency_forms(n))
_EXTRA_READ_OK = frozenset(AMI_READ)
_WRITE_OK = frozenset(AMI_WRITE)
_DANGEROUS = frozenset({"all", "system", "command", "config", "originate", "dialplan"})


@dataclass(slots=True)
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    info: list[str] = field(default_factory=list)  # what the check found to hold

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors


def check_dir(directory: Path, site: Site, *, sounds: Path | None = None,
              allow_placeholders: bool = False, run_lint: bool = True) -> CheckResult:
    checker = _Checker(directory, site, allow_placeholders)
    present = [n for n in names.CONF_FILES if (directory / n).is_file()]
    for n in names.CONF_FILES:
        if n not in present:
            checker.error(n, 0, "missing-file", f"{n} is missing from {directory}; render the "
                          "directory again with `hotline12345 asterisk-conf render --out DIR`")
    if run_lint:
        checker.findings += lint_dir(directory, present)
    checker.run(present)
    checker.check_stock()
    if sounds is not None:
        checker.check_audio(sounds)
    result = CheckResult(sorted(set(checker.findings),
                                key=lambda f: (f.file, f.line, f.code, f.message)),
                         checker.info)
    return result


class _Checker:
    def __init__(self, directory: Path, site: Site, allow_placeholders: bool) -> None:
        self.dir = directory
        self.site = site
        self.allow_placeholders = allow_placeholders
        self.findings: list[Finding] = []
        self.info: list[str] = []
        self.prompts = catalogue(site)
        self.confs: dict[str, ConfFile] = {}
        self.contexts: dict[str, list[Step]] = {}  # the rendered dialplan's
        # In a deployed directory, also the host's own contexts (extensions.conf and what it
        # includes): a dial string or jump may name one (the seats' or targets' context).
        self.known_contexts: dict[str, list[Step]] = {}

    def error(self, file: str, line: int, code: str, message: str) -> None:
        self.findings.append(Finding(file, line, Severity.ERROR, code, message))

    def warning(self, file: str, line: int, code: str, message: str) -> None:
        self.findings.append(Finding(file, line, Severity.WARNING, code, message))

    def required(self, found: Section | None, file: str, code: str,
                 message: str) -> Section | None:
        """``found``; when it is None, an error on ``file`` as a whole (something missing)."""
        if found is None:
            self.error(file, 0, code, message)
        return found

    def run(self, present: list[str]) -> None:
        for name in present:
            conf = read(self.dir, name)
            self.confs[name] = conf
            for file, line, message in conf.problems:
                self.error(file, line, "syntax", message)
        if names.EXTENSIONS in self.confs:
            contexts, problems = dialplan(self.confs[names.EXTENSIONS])
            self.contexts = contexts
            self.known_contexts = {**self._host_contexts(), **contexts}
            for file, line, message in problems:
                self.error(file, line, "syntax", message)
            self.check_jumps()
            self.check_routes()
            self.check_dids()
            self.check_fallback()
            self.check_hop_legs()
            self.check_emergency()
            self.check_dialled_forms()
        if names.QUEUES in self.confs:
            self.check_queues()
        self.check_prompt_refs()
        if names.MANAGER in self.confs:
            self.check_manager()
        if names.PJSIP in self.confs:
            self.check_pjsip()
        if names.CONFBRIDGE in self.confs:
            self.check_confbridge()
        self.check_secret_modes()

    # -- dialplan -----------------------------------------------------------------------

    def _host_contexts(self) -> dict[str, list[Step]]:
        """The contexts of the host's own extensions.conf, in a deployed directory; its
        syntax is the host's business, so its problems are not reported here."""
        stock = names.STOCK_FILES[names.EXTENSIONS]
        if not (self.dir / stock).is_file():
            return {}
        contexts, _ = dialplan(read(self.dir, stock))
        return contexts

    def _context_line(self, name: str) -> int:
        conf = self.confs[names.EXTENSIONS]
        sec = conf.first(name)
        return sec.line if sec else 0

    def settings(self) -> dict[str, tuple[Step, str]]:
        """The render-time settings: name -> (step, value) of each ``Set()`` in [settings]."""
        out: dict[str, tuple[Step, str]] = {}
        for step in self.contexts.get(names.CTX_SETTINGS, ()):
            if step.app.lower() == "set" and "=" in step.data:
                key, _, value = step.data.partition("=")
                out.setdefault(key.strip(), (step, value.strip()))
        return out

    def _has_exten(self, context: str, exten: str) -> bool:
        """Whether ``exten`` exists in ``context``, literally or through a pattern."""
        return any(exten_matches(s.exten, exten) for s in self.known_contexts.get(context, ()))

    def _has_label(self, context: str, exten: str | None, label: str) -> bool:
        return any(s.label == label and (exten is None or s.exten == exten)
                   for s in self.known_contexts.get(context, ()))

    def _ref_context(self, step: Step, context: str, what: str) -> bool:
        if "$" in context:
            return True
        if context not in self.known_contexts:
            self.error(step.file, step.line, "context-missing",
                       f'{what} names context "{context}", which {self._defined_in()} does '
                       "not define; add the context or fix the name")
            return False
        return True

    def _jump_target(self, step: Step, target: str) -> None:
        target = re.sub(r"\(.*\)$", "", target.strip())  # Gosub arguments
        if not target:
            return
        parts = [p.strip() for p in target.split(",")]
        context, exten = step.context, step.exten
        if len(parts) == 3:
            context, exten, prio = parts
            if not self._ref_context(step, context, f"{step.app}({step.data})"):
                return
        elif len(parts) == 2:
            exten, prio = parts
        else:
            prio = parts[0]
        if "$" in context:
            return
        same = (context, exten) == (step.context, step.exten)  # its own extension
        if "$" not in exten and not same and not self._has_exten(context, exten):
            self.error(step.file, step.line, "extension-missing",
                       f'{step.app} jumps to extension "{exten}" of [{context}], which has no '
                       "such extension")
            return
        if prio and not prio.lstrip("+-").isdigit() and "$" not in prio and not self._has_label(
                context, None if "$" in exten else exten, prio):
            self.error(step.file, step.line, "label-missing",
                       f'{step.app} jumps to label "{prio}" in [{context}], {exten}, which does '
                       "not exist")

    def check_jumps(self) -> None:
        for steps in self.contexts.values():
            for step in steps:
                self._check_step(step, step.app, step.data)
        pjsip = self.confs.get(names.PJSIP)
        if pjsip is not None:
            for sec in pjsip.sections:
                ctx = sec.get("context")
                if sec.type == "endpoint" and ctx is not None \
                        and ctx.value not in self.known_contexts:
                    self.error(ctx.file, ctx.line, "context-missing",
                               f'endpoint {sec.name} sends calls to context "{ctx.value}", which '
                               f"{self._defined_in()} does not define")

    def _defined_in(self) -> str:
        stock = names.STOCK_FILES[names.EXTENSIONS]
        return (f"neither {names.EXTENSIONS} nor the host's {stock}"
                if (self.dir / stock).is_file() else names.EXTENSIONS)

    def _check_step(self, step: Step, app: str, data: str) -> None:
        lower = app.lower()
        if lower in ("gotoif", "gosubif"):
            q = data.rfind("]?")
            branches = data[q + 2:] if q != -1 else data.partition("?")[2]
            for branch in _split_branches(branches):
                self._jump_target(step, branch)
        elif lower in _JUMP_APPS:
            self._jump_target(step, data)
        elif lower == "execif":
            q = data.rfind("]?")
            inner = data[q + 2:] if q != -1 else data.partition("?")[2]
            for branch in _split_branches(inner):
                inner_app, inner_data = split_app(branch)
                self._check_step(step, inner_app, inner_data)
        elif lower == "set":
            key, _, value = data.partition("=")
            if key.strip() == "CHANNEL(hangup_handler_push)":
                self._ref_context(step, value.split(",")[0].strip(), "the hangup handler")
            if key.strip().lstrip("_") == "TRANSFER_CONTEXT":
                self._ref_context(step, value.strip(), "TRANSFER_CONTEXT")
        elif lower == "channelredirect":  # channel,[[context,]exten,]priority
            self._jump_target(step, data.partition(",")[2])
        elif lower == "originate":
            args = [a.strip() for a in data.split(",")]
            if len(args) >= 4 and args[1].lower() == "exten" and \
                    self._ref_context(step, args[2], "Originate") and \
                    "$" not in args[3] + args[2] and not self._has_exten(args[2], args[3]):
                self.error(step.file, step.line, "extension-missing",
                               f'Originate sends the call to extension "{args[3]}" of '
                               f"[{args[2]}], which has no such extension")
        for exten, context in _LOCAL_REF.findall(data):
            if self._ref_context(step, context, f"Local/{exten}@{context}") and \
                    "$" not in exten and not self._has_exten(context, exten):
                self.error(step.file, step.line, "extension-missing",
                           f'Local/{exten}@{context}: [{context}] has no extension "{exten}"')

    def check_routes(self) -> None:
        """Every access number and register number reaches the controller on every trunk."""
        register = {r.number: r for r in self.site.register
                    if r.number not in EMERGENCY_NUMBERS}  # routed statically
        for trunk in self.site.centre.trunks:
            ctx = names.trunk_context(trunk.name)
            if ctx not in self.contexts:
                self.error(names.EXTENSIONS, 0, "context-missing",
                           f"trunk {trunk.name} has no inbound context [{ctx}]; render again")
                continue
            line = self._context_line(ctx)
            wanted = [(n, f"access number {n} of trunk {trunk.name}")
                      for n in trunk.access_numbers]
            wanted += [(n, f"register number {n} ({r.name})") for n, r in register.items()]
            for number, what in wanted:
                steps = [s for s in self.contexts[ctx] if s.exten == number]
                if not steps:
                    self.error(names.EXTENSIONS, line, "no-route",
                               f"{what} has no route in [{ctx}]: calls to it on trunk "
                               f"{trunk.name} never reach the controller; render again")
                elif not any(self._goes_inbound(s) for s in steps):
                    self.error(names.EXTENSIONS, steps[0].line, "no-route",
                               f"{what} in [{ctx}] does not go to [{names.CTX_INBOUND}] (the "
                               "controller); render again")
            for number, what in _PROBES:
                pattern = next((s.exten for s in self.contexts[ctx]
                                if s.priority == 1 and exten_matches(s.exten, number)), None)
                steps = [s for s in self.contexts[ctx] if s.exten == pattern]
                if pattern is None or not any(self._goes_inbound(s) for s in steps):
                    self.error(names.EXTENSIONS, steps[0].line if steps else line, "no-route",
                               f"[{ctx}] does not send {what} such as {number} to "
                               f"[{names.CTX_INBOUND}]: such calls on trunk {trunk.name} are "
                               f"dropped; it needs the catch-alls {', '.join(names.CATCH_ALL)}")
            self._check_did_recovery(trunk, ctx, line)
        self._check_inbound_takes([n for t in self.site.centre.trunks for n in t.access_numbers]
                                  + list(register) + [n for n, _ in _PROBES])

    def _recovers_did(self, ctx: str, exten: str, depth: int = 0) -> bool:
        """Whether ``exten`` of ``ctx`` takes the DID from the To header (directly, or by a
        Goto to an extension of the same context that does)."""
        for s in self.contexts.get(ctx, ()):
            if s.exten != exten:
                continue
            target = [p.strip() for p in re.sub(r"\(.*\)$", "", s.data).split(",")]
            if s.app.lower() == "gosub" and target[0] == names.CTX_DID_FROM_TO:
                return True
            if s.app.lower() == "goto" and len(target) == 2 and depth < 3 and \
                    target[0] != exten and self._recovers_did(ctx, target[0], depth + 1):
                return True
        return False

    def _check_did_recovery(self, trunk: Trunk, ctx: str, line: int) -> None:
        first = trunk.access_numbers[0]
        if not self._recovers_did(ctx, "s"):
            self.error(names.EXTENSIONS, line, "no-did-recovery",
                       f'[{ctx}] extension "s" does not take the DID from the To header '
                       f"(Gosub({names.CTX_DID_FROM_TO},s,1({first}))): calls without a DID "
                       f"in the Request-URI would all count as {first}; render again")
        pjsip = self.confs.get(names.PJSIP)
        if trunk.auth is not TrunkAuth.REGISTRATION or pjsip is None:
            return
        reg = next((s for s in pjsip.sections if s.type == "registration" and
                    (_value(s, "endpoint") == trunk.name or
                     s.name == f"{trunk.name}-registration")), None)
        if reg is None:
            return  # check_pjsip reports it
        user = reg.get("contact_user")
        if user is None or not user.value or user.value.lstrip("+").isdigit():
            self.error(user.file if user else reg.file, user.line if user else reg.line,
                       "contact-user",
                       f"registration {reg.name} of trunk {trunk.name} needs contact_user="
                       f"{names.CONTACT_USER} (a name, not a number): without it Asterisk "
                       "registers the Contact sip:s@..., a provider that calls the Contact "
                       f"sends every call as s and each DID would count as {first}")
        elif not self._recovers_did(ctx, user.value):
            self.error(names.EXTENSIONS, line, "no-did-recovery",
                       f"calls to the registration's Contact user {user.value} have no "
                       f"extension in [{ctx}] that takes the DID from the To header; render "
                       "again")

    def _check_inbound_takes(self, numbers: list[str]) -> None:
        """[inbound] has an extension for every number a trunk context passes on to it."""
        if names.CTX_INBOUND not in self.contexts:
            return  # check_fallback reports it
        for number in numbers:
            if not self._has_exten(names.CTX_INBOUND, number):
                self.error(names.EXTENSIONS, self._context_line(names.CTX_INBOUND), "no-route",
                           f"[{names.CTX_INBOUND}] has no extension matching {number}: calls "
                           f"the trunk contexts pass on with it are dropped; its extension "
                           f"should be {names.INBOUND_PATTERN}")
                return

    @staticmethod
    def _goes_inbound(step: Step) -> bool:
        return step.app.lower() in ("goto", "gosub") and \
            step.data.split(",")[0].strip() == names.CTX_INBOUND

    def check_dids(self) -> None:
        owner = {n: t.name for t in self.site.centre.trunks for n in t.access_numbers}
        register = {r.number for r in self.site.register}
        for ctx, steps in self.contexts.items():
            firsts: dict[str, Step] = {}
            for s in steps:
                if s.priority != 1:
                    continue
                if s.exten in firsts:
                    self.error(s.file, s.line, "did-twice",
                               f'extension "{s.exten}" appears twice in [{ctx}] (first at line '
                               f"{firsts[s.exten].line}); a DID has one route")
                else:
                    firsts[s.exten] = s
        trunk_of_ctx = {names.trunk_context(t.name): t.name for t in self.site.centre.trunks}
        for ctx, trunk in trunk_of_ctx.items():
            for s in self.contexts.get(ctx, ()):
                if s.priority != 1 or not s.exten.isdigit():
                    continue
                if s.exten in owner and owner[s.exten] != trunk:
                    self.error(s.file, s.line, "did-twice",
                               f"DID {s.exten} is an access number of trunk {owner[s.exten]} but "
                               f"also routed in [{ctx}] (trunk {trunk}); a DID belongs to one "
                               "trunk")
                elif s.exten not in owner and s.exten not in register and \
                        s.exten not in _EMERGENCY_FORMS:
                    self.warning(s.file, s.line, "did-unknown",
                                 f"DID {s.exten} in [{ctx}] is neither an access number nor a "
                                 "register number of the site; the controller will send it to "
                                 "the general queue")

    def _controllers(self, agi: Step) -> list[str]:
        """The controllers' URLs [settings] names (an error and [] if it names none)."""
        values = self.settings()
        count = values.get("HOTLINE_AGI_COUNT")
        n = int(count[1]) if count is not None and count[1].isdigit() else 0
        urls = [values.get(f"HOTLINE_AGI_{i}", (agi, ""))[1] for i in range(1, n + 1)]
        bad = [i for i, url in enumerate(urls, 1) if not url.startswith("agi://")]
        if n == 0 or bad:
            self.error(count[0].file if count else agi.file, count[0].line if count else agi.line,
                       "no-controller",
                       f"[{names.CTX_SETTINGS}] must set HOTLINE_AGI_COUNT and HOTLINE_AGI_1.."
                       "HOTLINE_AGI_<count> to agi://HOST:PORT URLs"
                       + (f" (HOTLINE_AGI_{bad[0]} is missing or not agi://)" if bad else "")
                       + "; render again")
            return []
        return urls

    def _inbound_call(self) -> Call:
        """A call to the first access number, as its trunk context hands it over."""
        trunk = self.site.centre.trunks[0]
        return Call(self.contexts, names.CTX_INBOUND, trunk.access_numbers[0],
                    {"HOTLINE_TRUNK": trunk.name, "CHANNEL(channeltype)": "Local"})

    def check_fallback(self) -> None:
        """Run calls through [inbound] with each controller failing in turn: a controller
        that fails hands the call to the next one, the last one's failure to the general
        queue (by what the dialplan does, not by how its lines are written)."""
        steps = self.contexts.get(names.CTX_INBOUND)
        if steps is None:
            self.error(names.EXTENSIONS, 0, "context-missing",
                       f"[{names.CTX_INBOUND}] (the step that calls the controller) is missing")
            return
        line = self._context_line(names.CTX_INBOUND)
        agi = [s for s in steps if s.app.lower() == "agi" and "/inbound" in s.data]
        if not agi:
            self.error(names.EXTENSIONS, line, "no-controller",
                       f"[{names.CTX_INBOUND}] never calls AGI(agi://HOST:PORT/inbound,...)")
            return
        if "${EXTEN}" not in agi[0].data.split(",", 1)[-1]:
            self.error(agi[0].file, agi[0].line, "no-controller",
                       "the inbound AGI call must pass the dialled number (${EXTEN}) as its "
                       "first argument")
        urls = self._controllers(agi[0])
        if urls and self.site.centre.trunks:
            try:
                self._run_failover(urls, agi[0])
                self._run_hop_limit(agi[0])
            except Undecidable as exc:
                self.error(exc.step.file, exc.step.line, "no-failover",
                           f"cannot follow a call through [{names.CTX_INBOUND}]: {exc}; render "
                           "again")

    def _follow(self, results: list[tuple[str, str]]) -> tuple[list[str], Step | None, Call]:
        """Run a call through [inbound], answering its n-th AGI with ``results[n]``
        (AGISTATUS, HOTLINE_ACTION: "" is no decision, "queue" a decision for
        :meth:`_decided_queue`): the controllers it tried, the step it ends at (AGI or
        Queue, None when the call ended) and the call."""
        call = self._inbound_call()
        tried: list[str] = []
        for status, action in results:
            step = call.run(_is_agi_or_queue)
            url = _agi_url(call, step)
            if not url:
                return tried, step, call
            tried.append(url)
            call.variables.update({"AGISTATUS": status, cv.ACTION: action})
            if action:
                call.variables[cv.QUEUE] = self._decided_queue()
        step = call.run(_is_agi_or_queue)
        if url := _agi_url(call, step):
            tried.append(url)
        return tried, step, call

    def _decided_queue(self) -> str:
        """The queue of the controller's decision in the runs: not the general queue, so
        that a decision acted on and the fallback can be told apart."""
        general = self.site.centre.general_queue
        return next((q.name for q in self.site.queues if q.name != general), general)

    def _run_failover(self, urls: list[str], agi: Step) -> None:
        general = self.site.centre.general_queue
        n = len(urls)
        tried, step, call = self._follow([])
        if tried != urls[:1]:
            at = step or agi
            self.error(at.file, at.line, "no-controller",
                       f"a call to [{names.CTX_INBOUND}] reaches {_describe(step, call)} "
                       f"instead of the first controller {urls[0]}; render again")
            return
        for status, how in (("FAILURE", "fails (AGISTATUS=FAILURE)"),
                            ("SUCCESS", "ends its session without a decision (AGISTATUS="
                             f"SUCCESS and no {cv.ACTION}: a controller that died mid-call)")):
            tried, step, call = self._follow([(status, "")] * n)
            at = step or agi
            if tried != urls:
                i = next((k for k, url in enumerate(tried) if url != urls[k]), len(tried))
                self.error(at.file, at.line, "no-failover",
                           f"{n} controllers are set but after controller {i} ({urls[i - 1]}) "
                           f"{how} the call reaches {_describe(step, call)}, not controller "
                           f"{i + 1} ({urls[i]}); render again" if i < n else
                           f"after the last controller {how}, the call reaches "
                           f"{_describe(step, call)}, not the general queue; render again")
                return
            if _queue_name(call, step) != general:
                self.error(at.file, at.line, "no-fallback",
                           f"after the last controller ({urls[-1]}) {how}, the call reaches "
                           f"{_describe(step, call)}, not the general queue {general}: with "
                           "the controllers down, calls would not reach a human; render again")
                return
        queue = self._decided_queue()
        for status in ("SUCCESS", "FAILURE"):
            tried, step, call = self._follow([(status, "queue")])
            if tried != urls[:1] or _queue_name(call, step) != queue:
                at = step or agi
                self.error(at.file, at.line, "failover-decided",
                           f"a controller that decided ({cv.ACTION}=queue, {cv.QUEUE}="
                           f"{queue}) and ended with AGISTATUS={status}: the call reaches "
                           f"{_describe(step, call)} instead of Queue({queue}); a decision is "
                           "acted on, and never asked for twice; render again")
                return
        tried, step, call = self._follow([("HANGUP", "")])
        if step is not None and step.app.lower() != "hangup":
            self.error(step.file, step.line, "failover-hangup",
                       f"after the caller hung up during the AGI (AGISTATUS=HANGUP) the call "
                       f"reaches {_describe(step, call)}: a caller who left is never retried "
                       "or queued; render again")

    def _run_hop_limit(self, agi: Step) -> None:
        """A call that arrives over the hop limit (as the inherited variable or the SIP
        header) reaches the general queue without any AGI; one just under it is routed."""
        limit = self.settings().get("HOTLINE_MAX_HOPS")
        if limit is None or not limit[1].isdigit():
            self.error(agi.file, agi.line, "hop-limit",
                       f"[{names.CTX_SETTINGS}] does not set HOTLINE_MAX_HOPS: a routing loop "
                       "would route the same call again and again; render again")
            return
        n = int(limit[1])
        general = self.site.centre.general_queue
        header = f"PJSIP_HEADER(read,{names.HOPS_HEADER})"
        for how, arriving in (
                (f"{names.HOPS_VARIABLE}={{}}", {names.HOPS_VARIABLE: "{}"}),
                (f"the SIP header {names.HOPS_HEADER}: {{}}",
                 {"CHANNEL(channeltype)": "PJSIP", header: "{}"})):
            for hops, routed in ((n, False), (n - 1, True)):
                call = self._inbound_call()
                call.variables.update({k: v.format(hops) for k, v in arriving.items()})
                step = call.run(_is_agi_or_queue)
                if routed and hops >= 0 and not _agi_url(call, step):
                    self.error(agi.file, agi.line, "hop-limit",
                               f"a call arriving with {how.format(hops)} (under the limit "
                               f"HOTLINE_MAX_HOPS={n}) reaches {_describe(step, call)} instead "
                               "of the controller; render again")
                    return
                if not routed and _queue_name(call, step) != general:
                    self.error(agi.file, agi.line, "hop-limit",
                               f"a call arriving with {how.format(hops)} (it has passed through "
                               f"this dialplan HOTLINE_MAX_HOPS={n} times: a routing loop) "
                               f"reaches {_describe(step, call)}, not the general queue "
                               f"{general} unrouted; render again")
                    return

    def _forms(self) -> list[tuple[str, str]]:
        """One number of each form a carrier may deliver, built on a register number."""
        short = next((r.number for r in self.site.register
                      if r.number not in EMERGENCY_NUMBERS), "12345")
        area = next((n[:-len(a)] for t in self.site.centre.trunks for n in t.access_numbers
                     for a in t.access_numbers if n != a and n.startswith("0")
                     and n.endswith(a)), "0571")
        return [("exact DIDs", short), ("+86…", f"+86{short}"), ("86…", f"86{short}"),
                ("0086…", f"0086{short}"), ("area code + short number", f"{area}{short}")]

    def check_dialled_forms(self) -> None:
        """Each form of a dialled number reaches the controller as received, on every
        trunk, and so does a DID that only the To header carries; the info line says so."""
        forms = self._forms()
        to_header = "PJSIP_HEADER(read,To)"
        ok = True
        for trunk in self.site.centre.trunks:
            ctx = names.trunk_context(trunk.name)
            if ctx not in self.contexts:
                return  # check_routes reports it
            cases: list[tuple[str, str, str, dict[str, str | None]]] = [
                (label, number, number, {}) for label, number in forms]
            recovered = f"+86{forms[0][1]}"
            starts = ["s"] + ([names.CONTACT_USER] if trunk.auth is TrunkAuth.REGISTRATION
                              else [])
            cases += [(f"the To header <sip:{recovered}@…> of a call to {start}", start,
                       recovered, {to_header: f"<sip:{recovered}@198.51.100.7>;tag=a1"})
                      for start in starts]
            for label, exten, expect, extra in cases:
                call = Call(self.contexts, ctx, exten,
                            {"CHANNEL(channeltype)": "PJSIP",
                             f"PJSIP_HEADER(read,{names.HOPS_HEADER})": "", **extra})
                try:
                    step = call.run(_is_agi_or_queue)
                except Undecidable as exc:
                    step = None
                    call.ended = str(exc)
                args = (call.expand(step.data) or "").split(",") \
                    if step is not None and step.app.lower() == "agi" else []
                if len(args) < 2 or args[1] != expect:
                    ok = False
                    self.error(names.EXTENSIONS, self._context_line(ctx), "no-route",
                               f"[{ctx}]: a call with {label} ({exten}) reaches "
                               f"{_describe(step, call)}, not the controller with the number "
                               f"as received ({expect}), which it normalises; render again")
        if ok and self.site.centre.trunks:
            examples = ", ".join(f"{label} ({number})" for label, number in forms)
            self.info.append(
                f"dialled numbers reach the controller as received on every trunk: {examples}; "
                "a call whose Request-URI has no number (s, or a registration trunk's "
                f"contact user {names.CONTACT_USER}) takes it from the To header "
                f"(<sip:+86{forms[0][1]}@…> -> +86{forms[0][1]}). The controller normalises "
                "them (country code, area code before a short number) before routing; "
                f"{cv.DIALLED} keeps the number as received. Emergency numbers "
                f"({', '.join(sorted(EMERGENCY_NUMBERS))}, also as +86…, 86…, 0086…) never "
                "reach it: they dial their linkage: target")

    def check_emergency(self) -> None:
        """A call a trunk delivers on an emergency number, in any form, goes straight to its
        linkage target: static steps only (no AGI, Queue, prompt, recording, Answer), never
        into [inbound]; over the hop limit it ends without any of those either."""
        targets = {t.number: t.dial for t in self.site.file.linkage}
        for trunk in self.site.centre.trunks:
            ctx = names.trunk_context(trunk.name)
            if ctx not in self.contexts:
                continue  # check_routes reports it
            line = self._context_line(ctx)
            for number in sorted(EMERGENCY_NUMBERS):
                for form in names.emergency_forms(number):
                    if not any(s.exten == form for s in self.contexts[ctx]):
                        self.error(names.EXTENSIONS, line, "emergency-route",
                                   f"[{ctx}] has no extension of its own for the emergency "
                                   f"number {form}: a trunk that delivers it would send it "
                                   "to the controller like any number; render again")
                        continue
                    try:
                        self._run_emergency(ctx, form, targets.get(number, ""))
                    except Undecidable as exc:
                        self.error(exc.step.file, exc.step.line, "emergency-route",
                                   f"cannot follow a call to {form} through [{ctx}]: {exc}")

    def _run_emergency(self, ctx: str, form: str, dial: str) -> None:
        limit = self.settings().get("HOTLINE_MAX_HOPS", (None, "0"))[1]
        header = f"PJSIP_HEADER(read,{names.HOPS_HEADER})"
        for hops, expect in (("", dial), (limit, "")):
            call = Call(self.contexts, ctx, form, {"CHANNEL(channeltype)": "PJSIP",
                                                    header: hops})
            events: list[Step] = []
            while (step := call.run(lambda _s: True)) is not None:
                events.append(step)
                if step.app.lower() in ("dial", "hangup"):
                    break
            bad = [s for s in call.trace if s.app.lower() in _NOT_EMERGENCY or
                   s.context == names.CTX_INBOUND or
                   (s.app.lower() in ("goto", "gosub") and names.CTX_INBOUND in s.data)]
            if bad:
                self.error(bad[0].file, bad[0].line, "emergency-route",
                           f"a call to the emergency number {form} in [{ctx}] reaches "
                           f"{bad[0].app}({bad[0].data}) in [{bad[0].context}]: an emergency "
                           "call is passed straight on, never answered, prompted, recorded, "
                           "queued or given to the controller; render again")
                return
            last = events[-1] if events else None
            dialled = call.expand(last.data.split(",")[0]) if last is not None and \
                last.app.lower() == "dial" else ""
            if expect and dialled != expect:
                self.error(last.file if last else names.EXTENSIONS, last.line if last else 0,
                           "emergency-route",
                           f"a call to the emergency number {form} in [{ctx}] "
                           f"{'dials ' + dialled if dialled else 'never dials'}, not its "
                           f"linkage: target {expect or '(none: add one to linkage:)'}; "
                           "render again")
                return
            if not expect and dialled:
                self.error(last.file if last else names.EXTENSIONS, last.line if last else 0,
                           "emergency-route",
                           f"a call to {form} arriving over the hop limit ({limit}) still "
                           f"dials {dialled}: a routing loop would never end; render again")
                return

    def check_hop_legs(self) -> None:
        """Every leg the dialplan places carries the hop count: Dial and Originate add the
        SIP header (pre-dial handler); Originate, whose legs inherit nothing, also passes
        the variable."""
        for steps in self.contexts.values():
            for s in steps:
                app = s.app.lower()
                if app not in ("dial", "originate"):
                    continue
                missing = []
                if names.HOPS_PREDIAL not in s.data:
                    missing.append(f"the option {names.HOPS_PREDIAL}")
                if app == "originate" and f"__{names.HOPS_VARIABLE}=" not in s.data:
                    missing.append(f"__{names.HOPS_VARIABLE}=${{{names.HOPS_VARIABLE}}} in v()")
                if missing:
                    self.error(s.file, s.line, "hop-count",
                               f"{s.app}() places a leg without the hop count "
                               f"({' and '.join(missing)}): a trunk that routes it back here "
                               "would start a routing loop; render again")

    # -- queues -------------------------------------------------------------------------

    def check_queues(self) -> None:
        conf = self.confs[names.QUEUES]
        defined = {s.name: s for s in conf.sections if s.name != "general"}
        for sec in conf.sections:
            if sec.name == "general":
                continue
            strategy = sec.get("strategy")
            if strategy is not None and strategy.value not in _QUEUE_STRATEGIES:
                self.error(strategy.file, strategy.line, "queue-strategy",
                           f'queue {sec.name}: strategy "{strategy.value}" is not one of '
                           f"{', '.join(sorted(_QUEUE_STRATEGIES))}")
        for queue in all_asterisk_queues(self.site):
            if queue not in defined:
                self.error(names.QUEUES, 0, "queue-missing",
                           f'queue "{queue}" of the site file is not in {names.QUEUES}; the '
                           "controller may send calls there; render again")
        known = set(all_asterisk_queues(self.site))
        for name, sec in defined.items():
            if name not in known:
                self.warning(sec.file, sec.line, "queue-unknown",
                             f'queue "{name}" is not in the site file (rendered from another '
                             "site?)")
        for steps in self.contexts.values():
            for s in steps:
                if s.app.lower() == "queue":
                    name = s.data.split(",")[0].strip()
                    if name and "$" not in name and name not in defined:
                        self.error(s.file, s.line, "queue-missing",
                                   f'Queue({name}): queue "{name}" is not in {names.QUEUES}')
        gen = self.settings().get("HOTLINE_GENERAL_QUEUE")
        if gen is not None and gen[1] not in defined:
            self.error(gen[0].file, gen[0].line, "queue-missing",
                       f'HOTLINE_GENERAL_QUEUE is "{gen[1]}", which {names.QUEUES} does not '
                       "define: the fallback would fail")

    # -- prompts ------------------------------------------------------------------------

    def check_prompt_refs(self) -> None:
        refs: list[tuple[str, int, str]] = []
        for steps in self.contexts.values():
            for s in steps:
                refs += [(s.file, s.line, pid) for pid in _SOUND_REF.findall(s.data)]
        queues = self.confs.get(names.QUEUES)
        if queues is not None:
            for sec in queues.sections:
                for e in sec.entries:
                    refs += [(e.file, e.line, pid) for pid in _SOUND_REF.findall(e.value)]
        for file, line, pid in refs:
            if pid not in self.prompts:
                self.error(file, line, "prompt-missing",
                           f'prompt "hotline12345/{pid}" is not defined (not a site prompt, a '
                           "register transition prompt or a built-in); add it to prompts: in "
                           "the site file")

    def check_audio(self, sounds: Path) -> None:
        label = str(sounds)
        if not sounds.is_dir():
            self.error(label, 0, "prompt-audio-missing",
                       f"the sounds directory {sounds} does not exist; build it with "
                       "`hotline12345 prompts build --out DIR`")
            return
        for pid, source in self.prompts.items():
            found = find_audio(sounds, pid)
            if found is None:
                self.error(f"{label}/{pid}.wav", 0, "prompt-audio-missing",
                           f"no audio for prompt {pid} ({source.origin}); build it with "
                           "`hotline12345 prompts build --out DIR`")
            elif found.suffix == ".wav":
                problem = wav_problem(found)
                if problem is not None:
                    self.error(f"{label}/{found.name}", 0, "prompt-audio-format",
                               f"prompt {pid} {problem}")

    # -- manager.conf -------------------------------------------------------------------

    def _placeholder(self, file: str, line: int, what: str, env: str) -> None:
        message = (f"{what} is still the placeholder; set {env} and render again (or fill it "
                   "in on the Asterisk host only; never commit it)")
        if self.allow_placeholders:
            self.warning(file, line, "placeholder-secret", message)
        else:
            self.error(file, line, "placeholder-secret", message)

    def check_manager(self) -> None:
        conf = self.confs[names.MANAGER]
        gen = conf.first("general")
        enabled = gen.get("enabled") if gen else None
        if enabled is None or enabled.value.lower() not in ("yes", "true", "1", "on"):
            self.error(names.MANAGER, gen.line if gen else 0, "ami-disabled",
                       "[general] must have enabled=yes for the AMI monitor to connect")
        user = self.required(conf.first(names.AMI_USER), names.MANAGER, "ami-user-missing",
                             f"no [{names.AMI_USER}] user: the AMI monitor cannot log in")
        if user is None:
            return
        secret = user.get("secret")
        if secret is None or not secret.value:
            self.error(names.MANAGER, user.line, "ami-secret",
                       f"[{names.AMI_USER}] has no secret")
        elif names.is_placeholder(secret.value):
            self._placeholder(secret.file, secret.line, f"the AMI secret of [{names.AMI_USER}]",
                              names.AMI_SECRET_ENV)
        permits, denies = user.values("permit"), user.values("deny")
        if not denies or not permits:
            self.error(names.MANAGER, user.line, "ami-open",
                       f"[{names.AMI_USER}] needs deny=0.0.0.0/0.0.0.0 and permit=<controller "
                       "address>: without both it accepts logins from anywhere")
        for e in user.entries:
            if e.key == "permit" and e.value.split("/")[0] in ("0.0.0.0", "::"):
                self.error(e.file, e.line, "ami-open",
                           f"permit={e.value} lets any address log in; permit only the "
                           "controller's address")
        bind = gen.get("bindaddr") if gen else None
        if bind is not None:
            self._check_ami_reach(bind, user)
        for key, allowed in (("read", _EXTRA_READ_OK), ("write", _WRITE_OK)):
            entry = user.get(key)
            if entry is None:
                continue
            classes = {c.strip().lower() for c in entry.value.split(",") if c.strip()}
            extra = sorted(classes - allowed)
            dangerous = sorted(set(extra) & _DANGEROUS)
            if dangerous or (key == "write" and extra):
                self.error(entry.file, entry.line, "ami-privilege",
                           f"{key}={entry.value} grants {', '.join(extra)}; the AMI monitor "
                           f"needs only {key}={','.join(sorted(allowed))}")
            elif extra:
                self.warning(entry.file, entry.line, "ami-privilege",
                             f"{key}={entry.value} grants {', '.join(extra)}, which the AMI "
                             "monitor does not use")

    def _check_ami_reach(self, bind: Entry, user: Section) -> None:
        """Each permitted controller can reach AMI where it listens (``bind``)."""
        for e in (e for e in user.entries if e.key == "permit"):
            try:
                problem = ami_reach_problem(bind.value, e.value.split("/")[0])
            except ValueError:
                continue  # not an address: Asterisk reports it
            if problem is not None:
                self.error(bind.file, bind.line, "ami-unreachable",
                           f"the controller {e.value.split('/')[0]} (permit= at {e.file}:"
                           f"{e.line}) cannot log in: {problem}; render with --ami-bind set "
                           "to this host's address on the controllers' network")

    # -- who may read the secrets -------------------------------------------------------

    def check_secret_modes(self) -> None:
        """A file that holds a real secret (not a placeholder) is readable by its owner, and
        by the asterisk group at most."""
        holders: dict[str, Entry] = {}
        for name in names.SECRET_FILES:
            conf = self.confs.get(name)
            for sec in conf.sections if conf else ():
                for e in sec.entries:
                    if e.key in ("secret", "password") and e.value and \
                            not names.is_placeholder(e.value):
                        holders.setdefault(e.file, e)
        for file, entry in sorted(holders.items()):
            try:
                st = (self.dir / file).stat()
            except OSError:
                continue
            mode = stat.S_IMODE(st.st_mode)
            fix = (f"chmod 0600 {file} (or chgrp {names.ASTERISK_GROUP} and chmod 0640 when "
                   f"Asterisk runs as {names.ASTERISK_GROUP}); a render creates it so")
            if mode & 0o007:
                self.warning(file, entry.line, "secret-readable",
                             f"{file} holds a secret ({entry.key}=) and every user of this host "
                             f"may read it (mode {mode:04o}); {fix}")
            elif mode & 0o070 and _group_name(st.st_gid) != names.ASTERISK_GROUP:
                self.warning(file, entry.line, "secret-readable",
                             f"{file} holds a secret ({entry.key}=) and group "
                             f"{_group_name(st.st_gid)} may read it (mode {mode:04o}), not only "
                             f"{names.ASTERISK_GROUP}; {fix}")

    # -- confbridge profiles ------------------------------------------------------------

    def check_confbridge(self) -> None:
        """Every ConfBridge() names profiles that exist, of the right type; the three-way
        caller is the marked user and the others leave with it."""
        conf = self.confs[names.CONFBRIDGE]
        wanted = {names.CTX_LINKAGE: "marked", names.CTX_CONFERENCE: "end_marked"}
        for steps in self.contexts.values():
            for step in (s for s in steps if s.app.lower() == "confbridge"):
                args = [a.strip() for a in step.data.split(",")]
                for kind, name in zip(("bridge", "user"), args[1:3], strict=False):
                    if not name or "$" in name:
                        continue
                    sec = conf.first(name, kind)
                    if sec is None:
                        self.error(step.file, step.line, "confbridge-profile-missing",
                                   f'ConfBridge() uses the {kind} profile "{name}", which '
                                   f"{names.CONFBRIDGE} does not define (type={kind}); without "
                                   "it ConfBridge hangs the call up; render again")
                    elif kind == "user" and step.context in wanted:
                        option = wanted[step.context]
                        if _value(sec, option).lower() not in ("yes", "true", "1", "on"):
                            self.error(sec.file, sec.line, "confbridge-profile",
                                       f"user profile {name} (used in [{step.context}]) needs "
                                       f"{option}=yes: the conference must end when the caller "
                                       "hangs up")

    # -- the host's own files (a deployed /etc/asterisk) ---------------------------------

    def check_stock(self) -> None:
        included = {ours for ours, stock in names.STOCK_FILES.items()
                    if ours in self.confs and (self.dir / stock).is_file()
                    and self._check_include(ours, stock)}
        if names.MANAGER in included:
            self._check_stock_manager()
        if names.PJSIP in included:
            self._check_transports()
        if names.QUEUES in included:
            self._check_stock_queues()

    def _check_include(self, ours: str, stock: str) -> bool:
        """Whether ``stock`` includes ``ours`` (an error if not, or if misplaced)."""
        lines = (self.dir / stock).read_text(encoding="utf-8", errors="replace").splitlines()
        found = [(n, inc) for n, ln in enumerate(lines, 1)
                 if (inc := include_target(ln)) is not None and Path(inc[0]).name == ours]
        if not found:
            self.error(stock, 0, "include-missing",
                       f"{stock} does not include {ours}, so Asterisk never reads it; add "
                       f"`#include {ours}` as its last line")
            return False
        at, (_, optional) = found[-1]
        if optional:
            self.warning(stock, at, "include-optional",
                         f"#tryinclude {ours} is skipped without a word when the file is "
                         "missing; use #include")
        rest = [(n, strip_comment(ln)) for n, ln in enumerate(lines[at:], at + 1)]
        after = next(((n, ln) for n, ln in rest if ln), None)
        if after is not None and not after[1].startswith(("[", "#")):
            self.error(stock, after[0], "include-position",
                       f'"{after[1][:40]}" follows #include {ours}, so Asterisk adds it to the '
                       f"last section of {ours}; make the #include the last line of {stock}")
        return True

    def _check_stock_manager(self) -> None:
        conf = read(self.dir, "manager.conf")
        general = [s for s in conf.sections if s.name == "general"]
        if not general or general[0].file == names.MANAGER:
            self.error("manager.conf", 0, "ami-general-missing",
                       f"manager.conf has no [general] before #include {names.MANAGER}: "
                       "Asterisk refuses its [general](+) and loads no AMI settings; add "
                       "[general] (with enabled=yes) before the #include")
            return
        first = general[0]  # Asterisk reads the first [general]; (+) sections add to it
        entries = first.entries + [e for s in general[1:] if s.options == "+"
                                   for e in s.entries]
        enabled = [e for e in entries if e.key == "enabled"]
        if not enabled or enabled[-1].value.lower() not in ("yes", "true", "1", "on"):
            where = enabled[-1] if enabled else None
            self.error(where.file if where else "manager.conf",
                       where.line if where else first.line, "ami-disabled",
                       "AMI ends up disabled (the last enabled= of manager.conf's [general] is "
                       "not yes): the AMI monitor cannot connect")
        binds = [e for e in entries if e.key == "bindaddr"]
        user = self.confs[names.MANAGER].first(names.AMI_USER)
        if binds and user is not None and binds[-1].file != names.MANAGER:
            self._check_ami_reach(binds[-1], user)  # a host line after ours won

    def _check_stock_queues(self) -> None:
        """The rendered queues file has no [general]; it relies on the host's. Asterisk's
        own default is persistentmembers=no (only the sample queues.conf sets yes), and then
        every seat logged in over AMI is gone after a restart."""
        general = read(self.dir, "queues.conf").first("general")
        value = _value(general, "persistentmembers") if general is not None else ""
        if value.lower() not in ("yes", "true", "1", "on"):
            self.warning("queues.conf", general.line if general is not None else 0,
                         "queues-persistent",
                         "queues.conf's [general] does not set persistentmembers=yes (Asterisk's "
                         "default is no): seats logged in over AMI (the wallboard's add) are "
                         "lost when Asterisk restarts; add persistentmembers=yes to [general]")

    def _check_transports(self) -> None:
        seen: dict[tuple[str, str], Section] = {}
        for sec in read(self.dir, "pjsip.conf").sections:
            if sec.type != "transport":
                continue
            key = (_value(sec, "protocol") or "udp", _value(sec, "bind"))
            if key in seen:
                first = seen[key]
                self.error(sec.file, sec.line, "transport-clash",
                           f"transport {sec.name} binds {key[1]} ({key[0]}) like {first.name} "
                           f"({first.file}:{first.line}); Asterisk cannot bind both: keep one "
                           "and point the endpoints at it")
            else:
                seen[key] = sec

    # -- pjsip.conf ---------------------------------------------------------------------

    def check_pjsip(self) -> None:
        conf = self.confs[names.PJSIP]
        by_type: dict[str, dict[str, Section]] = {}
        for sec in conf.sections:
            by_type.setdefault(sec.type, {}).setdefault(sec.name, sec)
        endpoints = by_type.get("endpoint", {})
        transports = by_type.get("transport", {})
        auths = by_type.get("auth", {})
        for sec in endpoints.values():
            tr = sec.get("transport")
            if tr is not None and tr.value not in transports:
                self.error(tr.file, tr.line, "transport-missing",
                           f"endpoint {sec.name}: transport {tr.value} is not defined")
        for trunk in self.site.centre.trunks:
            ep = self.required(endpoints.get(trunk.name), names.PJSIP, "endpoint-missing",
                               f"trunk {trunk.name} has no [{trunk.name}] type=endpoint; render "
                               "again")
            if ep is None:
                continue
            ctx = ep.get("context")
            if ctx is None or ctx.value != names.trunk_context(trunk.name):
                self.error(ctx.file if ctx else names.PJSIP, ctx.line if ctx else ep.line,
                           "endpoint-context",
                           f"endpoint {trunk.name} must send calls to context "
                           f"{names.trunk_context(trunk.name)}")
            if trunk.name not in by_type.get("aor", {}):
                self.error(names.PJSIP, ep.line, "aor-missing",
                           f"trunk {trunk.name} has no [{trunk.name}] type=aor")
            identified = [s for s in by_type.get("identify", {}).values()
                          if _value(s, "endpoint") == trunk.name and s.values("match")]
            if trunk.auth is TrunkAuth.IP and not identified:
                self.error(names.PJSIP, ep.line, "identify-missing",
                           f"IP trunk {trunk.name} has no type=identify section with match=: its "
                           "calls would be rejected")
            if trunk.auth is TrunkAuth.REGISTRATION:
                regs = [s for s in by_type.get("registration", {}).values()
                        if _value(s, "endpoint") == trunk.name
                        or s.name == f"{trunk.name}-registration"]
                if not regs:
                    self.error(names.PJSIP, ep.line, "registration-missing",
                               f"trunk {trunk.name} uses registration but has no "
                               "type=registration section")
        for name, sec in auths.items():
            pw = sec.get("password")
            if pw is not None and names.is_placeholder(pw.value):
                self._placeholder(pw.file, pw.line, f"the password of [{name}]",
                                  names.trunk_password_env(name.removesuffix("-auth")))
        for sec in conf.sections:
            for key in ("outbound_auth", "auth"):
                e = sec.get(key)
                if e is not None and sec.type in ("endpoint", "registration") and \
                        e.value not in auths:
                    self.error(e.file, e.line, "auth-missing",
                               f"{sec.name}: {key}={e.value} names no type=auth section")
        self._check_dial_endpoints(set(endpoints))
        self._check_loop_trunks(by_type)

    def _own_addresses(self) -> set[str]:
        """Addresses (and names) that are this Asterisk host: where its PJSIP transports
        and AMI listen, the controllers' addresses, its host name."""
        own = {"localhost", socket.gethostname().lower()}
        pjsip = self.confs.get(names.PJSIP)
        for sec in pjsip.sections if pjsip else ():
            if sec.type == "transport" and _value(sec, "bind"):
                own.add(_host_of(_value(sec, "bind")))
        manager = self.confs.get(names.MANAGER)
        general = manager.first("general") if manager else None
        if general is not None and _value(general, "bindaddr"):
            own.add(_value(general, "bindaddr"))
        for key, (_, value) in self.settings().items():
            if re.fullmatch(r"HOTLINE_AGI_\d+", key):
                own.add(_host_of(value.removeprefix("agi://").split("/")[0]))
        return own

    def _check_loop_trunks(self, by_type: dict[str, dict[str, Section]]) -> None:
        """A linkage or sub-centre dial string through an endpoint whose AOR contact is
        this host turns the dialled number into a new inbound call: a routing loop."""
        own = self._own_addresses()
        endpoints, aors = by_type.get("endpoint", {}), by_type.get("aor", {})
        dials = {t.dial: f"linkage[{t.name}].dial" for t in self.site.file.linkage}
        dials.update({c.dial: f"sub_centres[{c.name}].dial" for c in self.site.file.sub_centres})
        limit = self.settings().get("HOTLINE_MAX_HOPS", (None, "?"))[1]
        for dial, where in dials.items():
            for ep in names.pjsip_endpoints(dial):
                sec = endpoints.get(ep)
                for aor in (_value(sec, "aors") if sec else "").split(","):
                    found = aors.get(aor.strip())
                    for entry in [e for e in found.entries if e.key == "contact"] \
                            if found else []:
                        for contact in entry.value.split(","):
                            host = _contact_host(contact)
                            if host and _is_own(host, own):
                                self.warning(
                                    entry.file, entry.line, "loop-trunk",
                                    f"{where} {dial} goes through endpoint {ep}, whose AOR "
                                    f"{aor.strip()} has contact {contact.strip()}: that is this "
                                    "Asterisk host, so each call to it comes back as a new "
                                    "inbound call (a routing loop, which the hop limit "
                                    f"HOTLINE_MAX_HOPS={limit} cuts short); point the AOR "
                                    "at the provider or the sub-centre")

    def _check_dial_endpoints(self, endpoints: set[str]) -> None:
        used: dict[str, tuple[str, int, str]] = {}
        for steps in self.contexts.values():
            for s in steps:
                for ep in names.pjsip_endpoints(s.data):
                    used.setdefault(ep, (s.file, s.line, f"{s.app}({s.data})"))
        for dial, where in site_dials(self.site).items():
            for ep in names.pjsip_endpoints(dial):
                used.setdefault(ep, (names.PJSIP, 0, where))
        for ep, (file, line, where) in sorted(used.items()):
            if ep not in endpoints:
                self.warning(file, line, "endpoint-undefined",
                             f"PJSIP endpoint {ep} (used by {where}) is not defined in "
                             f"{names.PJSIP}; define it in {names.PJSIP_LOCAL}")


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _host_of(address: str) -> str:
    """``10.0.0.2:5060`` -> ``10.0.0.2``; ``[::1]:5060`` -> ``::1``; a bare address as it is."""
    address = address.strip()
    if address.startswith("["):
        return address[1:].partition("]")[0]
    if address.count(":") == 1:
        return address.partition(":")[0]
    return address


def _contact_host(contact: str) -> str:
    m = re.match(r"\s*<?sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>]+)", contact)
    return m.group(1).strip("[]").lower() if m else ""


def _is_own(host: str, own: set[str]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host in own
    return address.is_loopback or address.is_unspecified or any(
        _same_address(address, o) for o in own)


def _same_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, other: str) -> bool:
    try:
        return address == ipaddress.ip_address(other)
    except ValueError:
        return False


def _is_agi_or_queue(step: Step) -> bool:
    return step.app.lower() in ("agi", "queue")


def _agi_url(call: Call, step: Step | None) -> str:
    """The controller URL an ``AGI(...)`` step calls ("" if ``step`` is no AGI)."""
    if step is None or step.app.lower() != "agi":
        return ""
    target = call.expand(step.data.split(",")[0]) or ""
    return target.rsplit("/", 1)[0] if "/" in target.removeprefix("agi://") else target


def _queue_name(call: Call, step: Step | None) -> str:
    if step is None or step.app.lower() != "queue":
        return ""
    return call.expand(step.data.split(",")[0]) or ""


def _describe(step: Step | None, call: Call) -> str:
    if step is None:
        return f"the end of the call ({call.ended})"
    return f"{step.app}({call.expand(step.data) or step.data}) at line {step.line}"


def _value(section: Section, key: str) -> str:
    entry = section.get(key)
    return entry.value if entry is not None else ""


def _split_branches(text: str) -> Iterable[str]:
    """``a,b,1:c,d,2`` -> the true and false branches (a ``:`` inside ``${...}`` stays)."""
    depth, start, out = 0, 0, []
    for i, ch in enumerate(text):
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == ":" and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [b for b in out if b.strip()]
