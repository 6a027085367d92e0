"""The site file's schema, as frozen dataclasses. Field names are the YAML keys."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, time

from hotline12345.legacy_numbers.model import AfterCutover, Mode, RegisterRow


class TrunkAuth(enum.StrEnum):
    REGISTRATION = "registration"
    IP = "ip"


class Transfer(enum.StrEnum):
    BLIND = "blind"  # 盲转: Asterisk drops out of the call
    THREE_WAY = "three_way"  # 三方通话: the seat stays on the call with the caller and the target


class Strategy(enum.StrEnum):
    RINGALL = "ringall"
    LEASTRECENT = "leastrecent"
    FEWESTCALLS = "fewestcalls"
    RANDOM = "random"
    RRMEMORY = "rrmemory"
    RRORDERED = "rrordered"
    LINEAR = "linear"
    WRANDOM = "wrandom"


class ActionKind(enum.StrEnum):
    QUEUE = "queue"
    EXPERT = "expert"
    SUB_CENTRE = "sub_centre"
    LINKAGE = "linkage"
    ANNOUNCE_HANGUP = "announce_hangup"
    ASK = "ask"


def expert_queue_name(queue: str) -> str:
    """The Asterisk queue that holds the expert seats of ``queue``."""
    return f"{queue}-expert"


def trunk_password_env(trunk: str) -> str:
    """``HOTLINE12345_TRUNK_<NAME>_PASSWORD``: the variable holding a trunk's password;
    characters a shell cannot put in a variable name (``-``) become ``_``."""
    return f"HOTLINE12345_TRUNK_{re.sub(r'[^A-Za-z0-9]+', '_', trunk).upper()}_PASSWORD"


@dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    label: str = ""
    access_numbers: tuple[str, ...] = ("12345",)
    auth: TrunkAuth = TrunkAuth.IP
    host: str = ""
    port: int = 5060
    transport: str = "udp"
    match: tuple[str, ...] = ()  # source addresses for IP authentication
    username: str = ""  # registration; the password comes from the environment
    codecs: tuple[str, ...] = ("alaw", "ulaw")

    @property
    def password_env(self) -> str:
        return trunk_password_env(self.name)


@dataclass(frozen=True, slots=True)
class Centre:
    name: str
    province: str
    city: str
    trunks: tuple[Trunk, ...]
    timezone: str = "Asia/Shanghai"
    general_queue: str = "q-general"
    # The centre's area codes, written with their 0 (0571). Dialled numbers lose one before
    # a short number (057112317 -> 12317); a caller's local number gets the first. Empty:
    # derived from the trunks' access numbers (057112345 -> 0571); see docs/numbers.md.
    area_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Overflow:
    """After ``after_s`` seconds in queue, or with ``waiting_over`` callers waiting, send the
    call to another queue or another centre (多援一)."""

    to_queue: str = ""
    to_centre: str = ""
    after_s: int = 0
    waiting_over: int = 0


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    label: str
    skills: tuple[str, ...] = ()
    strategy: Strategy = Strategy.RRMEMORY
    service_level_s: int = 15
    timeout_s: int = 120
    wrapup_s: int = 10
    members: tuple[str, ...] = ()
    expert_seats: tuple[str, ...] = ()  # 专家座席: a separate Asterisk queue "<name>-expert"
    overflow: tuple[Overflow, ...] = ()
    announce: str = ""  # prompt id played periodically to waiting callers

    @property
    def expert_queue(self) -> str:
        """The Asterisk queue of this queue's expert seats (专家座席)."""
        return expert_queue_name(self.name)


@dataclass(frozen=True, slots=True)
class SubCentre:
    name: str
    label: str
    dial: str  # Asterisk dial string, e.g. PJSIP/12366@tax-subcentre
    fallback_queue: str = ""  # when the sub-centre does not answer


@dataclass(frozen=True, slots=True)
class TransfersIn:
    """How a call this linkage target transfers to 12345 is recognised (12345 <-> 110
    both ways, 国办发〔2022〕12号): the DIDs it dials, or its callers' number prefixes."""

    dids: tuple[str, ...] = ()
    caller_prefixes: tuple[str, ...] = ()  # national form: 0571110, not +86571110
    queue: str = ""  # the queue such calls wait in (default: the general queue)


@dataclass(frozen=True, slots=True)
class LinkageTarget:
    name: str
    number: str
    label: str
    dial: str
    transfer: Transfer = Transfer.BLIND
    transfers_in: TransfersIn | None = None


@dataclass(frozen=True, slots=True)
class EnterpriseQuestion:
    prompt: str  # prompt id
    digit: str = "1"  # the key an enterprise caller presses
    on: tuple[str, ...] = ("12345",)  # dialled numbers where the question is asked


@dataclass(frozen=True, slots=True)
class Enterprise:
    """The enterprise green channel (为企服务专席)."""

    queue: str
    priority: int = 10
    numbers_file: str = ""  # one number per line, relative to the site file
    prefixes: tuple[str, ...] = ()
    ask: EnterpriseQuestion | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str = ""  # Chinese text for espeak-ng, or
    file: str = ""  # a recorded file supplied by the site


@dataclass(frozen=True, slots=True)
class TimeWindow:
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)  # ISO weekdays, 1 = Monday
    start: time = time(0, 0)
    end: time = time(0, 0)  # end <= start spans midnight; equal means all day


@dataclass(frozen=True, slots=True)
class Conditions:
    dialled: tuple[str, ...] = ()
    caller: tuple[str, ...] = ()  # numbers or Asterisk patterns (_138XXXXXXXX)
    time: TimeWindow | None = None
    enterprise: bool | None = None
    language: tuple[str, ...] = ()
    blocked: bool | None = None


@dataclass(frozen=True, slots=True)
class ActionSpec:
    action: ActionKind
    target: str = ""
    priority: int | None = None
    prompt: str = ""  # prompt id played before the action (required for announce_hangup)


@dataclass(frozen=True, slots=True)
class Question:
    """The one question a rule may ask; digits map to actions, anything else to ``default``."""

    prompt: str
    options: dict[str, ActionSpec]
    default: ActionSpec
    timeout_s: int = 5
    retries: int = 1


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    then: ActionSpec
    when: Conditions = field(default_factory=Conditions)
    ask: Question | None = None


@dataclass(frozen=True, slots=True)
class ModeDefaults:
    priority: int = 0
    after_cutover: AfterCutover = AfterCutover.CONTINUE


@dataclass(frozen=True, slots=True)
class RegisterRowSpec:
    """A register row (``hotlines:``) in the site file: overrides the default row of the same number
    (only the fields given), or adds a number (then every field is required)."""

    number: str
    name: str | None = None
    department: str | None = None
    mode: Mode | None = None
    target: str | None = None
    prompt: str | None = None
    transition_start: datetime | None = None
    cutover: datetime | None = None
    provenance: str | None = None
    after_cutover: AfterCutover | None = None


@dataclass(frozen=True, slots=True)
class RegisterSection:
    use_default: bool = True  # start from the shipped default register
    remove: tuple[str, ...] = ()  # numbers to drop from it


@dataclass(frozen=True, slots=True)
class ClassificationRule:
    department: str
    category: str
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Speech:
    model: str = ""  # path to a Vosk model directory (vosk-model-small-cn-0.22 in production)
    language: str = "zh-CN"
    dither_zero: bool = True  # reproducible decodes


#: The bounds, in seconds, of each controller timeout (site file and command line alike).
CONTROLLER_TIMEOUT_BOUNDS: dict[str, tuple[float, float]] = {
    "env_timeout_s": (0.1, 60.0),
    "command_timeout_s": (0.1, 3600.0),
    "session_budget_s": (1.0, 86400.0),
}


@dataclass(frozen=True, slots=True)
class Controller:
    """The FastAGI controller's time limits (``hotline12345 serve``; its ``--env-timeout``,
    ``--command-timeout`` and ``--session-budget`` override them). A call that runs past one
    ends with FAILURE, and the dialplan's fallback takes it."""

    env_timeout_s: float = 5.0  # Asterisk's environment block must arrive within this
    command_timeout_s: float = 120.0  # each AGI command's reply (a prompt plays meanwhile)
    session_budget_s: float = 900.0  # the whole session, prompts and question included


def controller_timeout_problem(name: str, value: float) -> str:
    """Why ``value`` cannot be the controller timeout ``name`` (empty when it can)."""
    low, high = CONTROLLER_TIMEOUT_BOUNDS[name]
    if not low <= value <= high:
        return f"{value:g} is out of range: seconds from {low:g} to {high:g}"
    return ""


@dataclass(frozen=True, slots=True)
class SiteFile:
    """The site file exactly as written."""

    centre: Centre
    queues: tuple[Queue, ...]
    linkage: tuple[LinkageTarget, ...] = ()
    sub_centres: tuple[SubCentre, ...] = ()
    enterprise: Enterprise | None = None
    prompts: dict[str, Prompt] = field(default_factory=dict)
    register: RegisterSection = field(default_factory=RegisterSection)
    hotlines: tuple[RegisterRowSpec, ...] = ()
    rules: tuple[Rule, ...] = ()
    mode_defaults: dict[str, ModeDefaults] = field(default_factory=dict)
    blocklist: tuple[str, ...] = ()
    classification: tuple[ClassificationRule, ...] = ()
    speech: Speech = field(default_factory=Speech)
    controller: Controller = field(default_factory=Controller)


@dataclass(frozen=True, slots=True)
class Site:
    """A validated site: the file, the merged register and the loaded side files."""

    source: str
    file: SiteFile
    register: tuple[RegisterRow, ...]
    enterprise_numbers: frozenset[str]

    @property
    def centre(self) -> Centre:
        return self.file.centre

    @property
    def queues(self) -> tuple[Queue, ...]:
        return self.file.queues

    def queue(self, name: str) -> Queue | None:
        return next((q for q in self.file.queues if q.name == name), None)

    def access_numbers(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for trunk in self.file.centre.trunks:
            for number in trunk.access_numbers:
                seen[number] = None
        return tuple(seen)
