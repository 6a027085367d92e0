"""The site file's schema, as frozen dataclasses. Field names are the YAML keys."""

from __future__ import annotations

import enum
import itertools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import chinese_calendar

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


class Urgency(enum.StrEnum):
    """A ticket's urgency, as the site file's ``tickets.limits`` and the ticket name it."""

    URGENT = "紧急"  # limits on the wall clock, 7×24
    NORMAL = "一般"  # limits in working days


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
    name: str  # the trunk's name: its pjsip endpoint and context
    label: str = ""  # shown in the rendered files' comments
    # the 12345 numbers this trunk delivers, as the carrier sends them
    access_numbers: tuple[str, ...] = ("12345",)
    # registration: we register to the carrier; ip: it sends from known addresses
    auth: TrunkAuth = TrunkAuth.IP
    host: str = ""  # the carrier's SBC address
    port: int = 5060  # the carrier's SIP port
    transport: str = "udp"  # udp, tcp or tls
    match: tuple[str, ...] = ()  # source addresses for IP authentication
    username: str = ""  # registration; the password comes from the environment
    codecs: tuple[str, ...] = ("alaw", "ulaw")  # pjsip allow= list, in order

    @property
    def password_env(self) -> str:
        return trunk_password_env(self.name)


@dataclass(frozen=True, slots=True)
class Centre:
    name: str  # the centre's name (中文)
    province: str  # province (省)
    city: str  # city (市)
    trunks: tuple[Trunk, ...]  # the carriers' trunks that deliver calls
    timezone: str = "Asia/Shanghai"  # IANA time zone of rules' time windows and register dates
    general_queue: str = "q-general"  # the queue every call falls back to (综合受理)
    # The centre's area codes, written with their 0 (0571). Dialled numbers lose one before
    # a short number (057112317 -> 12317); a caller's local number gets the first. Empty:
    # derived from the trunks' access numbers (057112345 -> 0571); see docs/numbers.md.
    area_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Overflow:
    """After ``after_s`` seconds in queue, or with ``waiting_over`` callers waiting, send the
    call to another queue or another centre (多援一)."""

    to_queue: str = ""  # the queue to overflow to; or
    to_centre: str = ""  # the sub-centre to overflow to
    after_s: int = 0  # seconds in the queue before the overflow (0: not by time)
    waiting_over: int = 0  # callers waiting at which new calls overflow (0: not by load)


@dataclass(frozen=True, slots=True)
class Queue:
    name: str  # the Asterisk queue's name
    label: str  # the queue's name for people (中文)
    skills: tuple[str, ...] = ()  # skills of the seats that serve it
    strategy: Strategy = Strategy.RRMEMORY  # Asterisk's ring strategy
    service_level_s: int = 15  # answered within this many seconds counts as on time
    timeout_s: int = 120  # seconds a caller waits before the overflow or the general queue
    wrapup_s: int = 10  # seconds a seat rests after a call (整理时间)
    members: tuple[str, ...] = ()  # the seats' interfaces (PJSIP/8001), static members
    expert_seats: tuple[str, ...] = ()  # 专家座席: a separate Asterisk queue "<name>-expert"
    overflow: tuple[Overflow, ...] = ()  # where callers go after a wait or above a load, in order
    announce: str = ""  # prompt id played periodically to waiting callers

    @property
    def expert_queue(self) -> str:
        """The Asterisk queue of this queue's expert seats (专家座席)."""
        return expert_queue_name(self.name)


@dataclass(frozen=True, slots=True)
class SubCentre:
    name: str  # the sub-centre's name in rules and the register
    label: str  # its name for people (中文)
    dial: str  # Asterisk dial string, e.g. PJSIP/12366@tax-subcentre
    fallback_queue: str = ""  # when the sub-centre does not answer


@dataclass(frozen=True, slots=True)
class TransfersIn:
    """How a call this linkage target transfers to 12345 is recognised (12345 <-> 110
    both ways, 国办发〔2022〕12号): the DIDs it dials, or its callers' number prefixes."""

    dids: tuple[str, ...] = ()  # DIDs the partner dials to transfer to 12345
    caller_prefixes: tuple[str, ...] = ()  # national form: 0571110, not +86571110
    queue: str = ""  # the queue such calls wait in (default: the general queue)


@dataclass(frozen=True, slots=True)
class LinkageTarget:
    name: str  # the target's name in rules and the register
    number: str  # its public number (110, 119, 95598, ...)
    label: str  # its name for people (中文)
    dial: str  # Asterisk dial string
    transfer: Transfer = Transfer.BLIND  # blind (盲转) or three_way (三方通话: the seat stays on)
    transfers_in: TransfersIn | None = None  # how calls it transfers to 12345 are recognised


@dataclass(frozen=True, slots=True)
class EnterpriseQuestion:
    prompt: str  # prompt id
    digit: str = "1"  # the key an enterprise caller presses
    on: tuple[str, ...] = ("12345",)  # dialled numbers where the question is asked


@dataclass(frozen=True, slots=True)
class Enterprise:
    """The enterprise green channel (为企服务专席)."""

    queue: str  # the queue of the enterprise seats
    priority: int = 10  # queue priority of enterprise callers (0-100)
    numbers_file: str = ""  # one number per line, relative to the site file
    prefixes: tuple[str, ...] = ()  # caller number prefixes of enterprises
    # the one question that lets a caller say they are an enterprise
    ask: EnterpriseQuestion | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str = ""  # Chinese text that espeak-ng speaks; or
    file: str = ""  # a recorded file supplied by the site


@dataclass(frozen=True, slots=True)
class TimeWindow:
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)  # ISO weekdays, 1 = Monday
    start: time = time(0, 0)  # from this local time (the centre's time zone)
    end: time = time(0, 0)  # end <= start spans midnight; equal means all day


@dataclass(frozen=True, slots=True)
class Conditions:
    dialled: tuple[str, ...] = ()  # dialled numbers, as routing reads them (normalised)
    caller: tuple[str, ...] = ()  # numbers or Asterisk patterns (_138XXXXXXXX)
    time: TimeWindow | None = None  # a time window (the centre's time zone)
    enterprise: bool | None = None  # true: only enterprise callers; false: only others
    language: tuple[str, ...] = ()  # the channel's language (Asterisk CHANNEL(language))
    blocked: bool | None = None  # true: only callers on the blocklist


@dataclass(frozen=True, slots=True)
class ActionSpec:
    action: ActionKind  # what to do with the call
    target: str = ""  # the queue, sub-centre or linkage target it goes to
    priority: int | None = None  # queue priority (0-100; default: the queue's)
    prompt: str = ""  # prompt id played before the action (required for announce_hangup)


@dataclass(frozen=True, slots=True)
class RuleQuestion:
    """The one question a rule may ask; digits map to actions, anything else to ``default``."""

    prompt: str  # prompt id of the question
    options: dict[str, ActionSpec]  # digit -> action
    default: ActionSpec  # no answer, or any other digit
    timeout_s: int = 5  # seconds to wait for the digit (1-30)
    retries: int = 1  # times the question is repeated without an answer


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # unique; shown in the route's reasons and HOTLINE_RULE
    then: ActionSpec  # the action when the rule matches (ask: see ask)
    # all conditions given must hold; none: always
    when: Conditions = field(default_factory=Conditions)
    ask: RuleQuestion | None = None  # the rule's one question


@dataclass(frozen=True, slots=True)
class ModeDefaults:
    priority: int = 0  # queue priority of calls on a number in this merge mode
    # continue: keep routing after the cutover; hangup: announce, end
    after_cutover: AfterCutover = AfterCutover.CONTINUE


@dataclass(frozen=True, slots=True)
class RegisterRowSpec:
    """A register row (``hotlines:``) in the site file: overrides the default row of the same number
    (only the fields given), or adds a number (then every field is required)."""

    number: str  # the retired hotline's number
    name: str | None = None  # its name (中文)
    department: str | None = None  # the department that ran it
    mode: Mode | None = None  # how it merges into 12345
    target: str | None = None  # the queue, sub-centre or linkage target of its calls
    prompt: str | None = None  # prompt id played to its callers (transition announcement)
    transition_start: datetime | None = None  # from when callers hear the prompt
    cutover: datetime | None = None  # when the old number stops (after_cutover applies)
    provenance: str | None = None  # the document that ordered the merge
    after_cutover: AfterCutover | None = None  # overrides mode_defaults.<mode>.after_cutover


@dataclass(frozen=True, slots=True)
class RegisterSection:
    use_default: bool = True  # start from the shipped default register
    remove: tuple[str, ...] = ()  # numbers to drop from it


@dataclass(frozen=True, slots=True)
class ClassificationRule:
    department: str  # the department a ticket goes to
    category: str  # the ticket's category
    keywords: tuple[str, ...]  # words in the transcript that select this rule


@dataclass(frozen=True, slots=True)
class Speech:
    model: str = ""  # path to a Vosk model directory (vosk-model-small-cn-0.22 in production)
    language: str = "zh-CN"  # the transcripts' language
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


#: A site's office hours when the site file gives none: 09:00-12:00 and 13:30-17:30 (7 hours).
DEFAULT_OFFICE_HOURS = ("09:00-12:00", "13:30-17:30")
_OFFICE_HOURS = re.compile(r"\s*([0-9]{1,2}:[0-9]{2})\s*-\s*([0-9]{1,2}:[0-9]{2})\s*")


def parse_office_hours(spans: tuple[str, ...]) -> tuple[tuple[time, time], ...]:
    """``("09:00-12:00", "13:30-17:30")`` as (start, end) pairs, in order. Raises ValueError,
    its message saying what to write, when a span is malformed, empty or backwards, when two
    overlap, or when there are none."""
    if not spans:
        raise ValueError('give at least one span of office hours, e.g. ["09:00-12:00", '
                         '"13:30-17:30"]')
    parsed: list[tuple[time, time]] = []
    for span in spans:
        found = _OFFICE_HOURS.fullmatch(span)
        try:
            if found is None:
                raise ValueError(span)
            start, end = (time.fromisoformat(found.group(i).zfill(5)) for i in (1, 2))
        except ValueError:
            raise ValueError(f'"{span}" is not a span of office hours; write it as "HH:MM-HH:MM",'
                             ' e.g. "09:00-12:00"') from None
        if end <= start:
            raise ValueError(f'"{span}" ends before it starts (or is empty); a span lies within '
                             'one day, e.g. "13:30-17:30"')
        parsed.append((start, end))
    parsed.sort()
    for (_, end), (start, _) in itertools.pairwise(parsed):
        if start < end:
            raise ValueError(f"office hours overlap around {start:%H:%M}; list separate spans, "
                             'e.g. ["09:00-12:00", "13:30-17:30"]')
    return tuple(parsed)


_KNOWN_YEARS: dict[int, bool] = {}


def calendar_knows_year(year: int) -> bool:
    """Whether chinesecalendar has the State Council's holidays and 调休 days for ``year``."""
    if year not in _KNOWN_YEARS:
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
            _KNOWN_YEARS[year] = True
        except NotImplementedError:  # "no available data for year ..."
            _KNOWN_YEARS[year] = False
    return _KNOWN_YEARS[year]


@dataclass(frozen=True, slots=True)
class CalendarSettings:
    """Working days and hours for the ticket deadlines. Holidays and the 调休 weekends that are
    working days come from chinesecalendar (the State Council's notices); ``holidays`` and
    ``workdays`` override it, e.g. for a year it does not know yet (see docs/deadlines.md)."""

    timezone: str = "Asia/Shanghai"  # IANA time zone of the office hours and the dates
    # a working day's office hours; 0.5 working day is half of them (3.5 h by default)
    office_hours: tuple[str, ...] = DEFAULT_OFFICE_HOURS
    holidays: tuple[date, ...] = ()  # extra days off (a holiday chinesecalendar does not know)
    workdays: tuple[date, ...] = ()  # extra working days (a 调休 weekend it does not know)

    def known(self, day: date) -> bool:
        """Whether the overrides or chinesecalendar say if ``day`` is a working day."""
        return day in self.holidays or day in self.workdays or calendar_knows_year(day.year)

    def unknown_days_ahead(self, today: date, days: int = 60) -> list[date]:
        """The days from ``today`` to ``today + days - 1`` that nobody has data for."""
        ahead = (today + timedelta(days=i) for i in range(days))
        return [day for day in ahead if not self.known(day)]


@dataclass(frozen=True, slots=True)
class Department:
    """A department (承办单位) that tickets are dispatched to."""

    name: str  # its name, as classification rules and tickets give it
    categories: tuple[str, ...] = ()  # the ticket categories it takes


@dataclass(frozen=True, slots=True)
class LimitRule:
    """A deadline rule: it applies to tickets of its urgency and/or category (give at least
    one). Each limit comes from the first rule that matches and sets it, else from the
    defaults of ``tickets``. ``*_hours`` run on the wall clock (7×24), ``*_working_days`` on
    working time (office hours of working days)."""

    urgency: Urgency | None = None  # tickets of this urgency (紧急 or 一般)
    category: str | None = None  # tickets of this category
    sign_hours: float | None = None  # 签收 within this many hours from 派单 (wall clock)
    sign_working_days: float | None = None  # 签收 within this many working days from 派单
    answer_hours: float | None = None  # 答复 within this many hours from 派单 (wall clock)
    answer_working_days: float | None = None  # 答复 within this many working days from 派单
    return_window_hours: float | None = None  # 退单 allowed this many hours after 派单
    return_window_working_days: float | None = None  # 退单 allowed this many working days
    revisit_hours: float | None = None  # 回访 within this many hours of the 答复
    revisit_working_days: float | None = None  # 回访 within this many working days of 答复


#: The limits a site gets when its file gives none: the issue's 紧急 30 minutes to sign for
#: and 2 hours to answer on the wall clock, 咨询 3 and 复杂 15 working days to answer.
DEFAULT_LIMITS = (
    LimitRule(urgency=Urgency.URGENT, sign_hours=0.5, answer_hours=2),
    LimitRule(category="咨询", answer_working_days=3),
    LimitRule(category="复杂", answer_working_days=15),
)


@dataclass(frozen=True, slots=True)
class TicketLoopSettings:
    """The ticket loop's deadlines and limits (派单 → 签收 → 答复 → 回访)."""

    # deadline rules by urgency and/or category; for each limit the first rule that matches
    # and sets it wins, else the defaults below
    limits: tuple[LimitRule, ...] = DEFAULT_LIMITS
    sign_working_days: float = 0.5  # 签收 within this many working days of 派单
    answer_working_days: float = 5  # 答复 within this many working days of 派单 (一般诉求)
    return_window_working_days: float = 1  # 退单 allowed this many working days after 派单
    revisit_working_days: float = 1  # 回访 within this many working days of the 答复
    max_extensions: int = 3  # 延期 a ticket may get at most this many times
    max_extension_working_days: float = 3  # each 延期 adds at most this many working days
    max_reopens: int = 1  # 重办 after a 不满意 rating at most this many times, then 督办
    # 并单 is suggested for tickets of the same caller and category within this many hours
    merge_window_hours: float = 72
    # `serve` raises the computed 督办 levels (黄牌, 红牌, 督办单) this often, in seconds
    sweep_interval_s: float = 300


class FeedKind(enum.StrEnum):
    """How a department receives its feed (信息共享)."""

    WEBHOOK = "webhook"  # signed HTTP POSTs (Standard Webhooks) to the department's URL
    REDIS_STREAM = "redis_stream"  # XADD to a Redis Stream of the centre's Redis
    PULL = "pull"  # the department reads GET /api/feed?after=<cursor>


#: The event kinds a feed can carry (the ticket loop's events; ``events:`` names them).
#: tests/sharing/test_feed_config.py ties it to the lifecycle table.
FEED_EVENTS: tuple[str, ...] = (
    "created", "dispatched", "signed", "returned", "return_rejected", "reassigned",
    "assist_added", "assist_answered", "answered", "supervised", "extension_requested",
    "extended", "extension_refused", "paused", "resumed", "closed", "revisited", "rated",
    "reopened", "merged", "followed",
    "surge",  # the analytics' surge warning (预警): sent only to subscriptions that name it
)


def feed_secret_env(subscription: str) -> str:
    """``HOTLINE12345_FEED_<NAME>_SECRET``: the variable holding a webhook subscription's
    signing secret (``..._PREVIOUS``: the one it replaces, during a rotation); characters a
    shell cannot put in a variable name become ``_``."""
    return f"HOTLINE12345_FEED_{re.sub(r'[^A-Za-z0-9]+', '_', subscription).upper()}_SECRET"


@dataclass(frozen=True, slots=True)
class FeedSubscription:
    """A department's subscription to ticket events (信息共享). The webhook's signing secret
    comes from the environment: ``HOTLINE12345_FEED_<NAME>_SECRET`` (and, while it is
    rotated, the old one in ``HOTLINE12345_FEED_<NAME>_SECRET_PREVIOUS``); see docs/feeds.md."""

    name: str  # unique; names the subscription in `feed status`, `feed replay` and its secret
    department: str  # the department (承办单位) whose tickets' events it receives
    kind: FeedKind  # webhook, redis_stream or pull
    url: str = ""  # webhook: the receiver's http(s) URL
    # event kinds it receives (created, dispatched, signed, ...); empty: every kind
    events: tuple[str, ...] = ()
    full_numbers: bool = False  # the caller's full number instead of 138****8000 (audited)
    # deliver to loopback, private, link-local or reserved addresses (refused by default: SSRF)
    allow_private_targets: bool = False
    timeout_s: float = 10.0  # webhook: seconds one delivery may take
    retry_hours: int = 24  # hours a failing delivery is retried before it is a dead letter
    stream: str = ""  # redis_stream: the stream's key (default hotline12345:feed:<department>)
    max_len: int = 100_000  # redis_stream: about this many entries are kept (XADD MAXLEN ~)

    @property
    def secret_env(self) -> str:
        return feed_secret_env(self.name)

    @property
    def stream_key(self) -> str:
        return self.stream or f"hotline12345:feed:{self.department}"


@dataclass(frozen=True, slots=True)
class SiteFile:
    """The site file exactly as written."""

    centre: Centre  # the centre: name, trunks, general queue
    queues: tuple[Queue, ...]  # the queues of seats
    # 协同联动 targets: 110, 119, 120, 122 and utility lines
    linkage: tuple[LinkageTarget, ...] = ()
    sub_centres: tuple[SubCentre, ...] = ()  # 设分中心: centres that take their own calls
    enterprise: Enterprise | None = None  # the enterprise green channel (为企服务专席)
    # prompt id -> text to synthesise or a recorded file
    prompts: dict[str, Prompt] = field(default_factory=dict)
    # the register of retired hotlines: the shipped one, less some
    register: RegisterSection = field(default_factory=RegisterSection)
    hotlines: tuple[RegisterRowSpec, ...] = ()  # register rows overridden or added, by number
    rules: tuple[Rule, ...] = ()  # ordered; the first rule that matches decides
    # per merge mode (整体并入, 双号并行, 设分中心, 协同联动)
    mode_defaults: dict[str, ModeDefaults] = field(default_factory=dict)
    # caller numbers or patterns that rules can match (when.blocked)
    blocklist: tuple[str, ...] = ()
    # ticket classification by keywords, first match wins
    classification: tuple[ClassificationRule, ...] = ()
    speech: Speech = field(default_factory=Speech)  # transcription of recordings
    # the FastAGI controller's time limits
    controller: Controller = field(default_factory=Controller)
    # working days and office hours of the ticket deadlines (chinesecalendar + overrides)
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    departments: tuple[Department, ...] = ()  # 承办单位 that tickets are dispatched to
    # the ticket loop's deadlines, extensions, 重办 and 并单
    tickets: TicketLoopSettings = field(default_factory=TicketLoopSettings)
    # departments' feeds of ticket events (信息共享): webhooks, Redis Streams, pull
    feeds: tuple[FeedSubscription, ...] = ()


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
