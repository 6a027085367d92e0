"""Modes, rule precedence, enterprise priority, linkage, the one question, overflow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hotline12345.config import Site
from hotline12345.routing import Action, CallContext, Decision, QueueLoad, Router

TZ = ZoneInfo("Asia/Shanghai")
LIVE = datetime(2025, 3, 5, 10, 0, tzinfo=TZ)  # a Wednesday, after every cut-over
IN_TRANSITION = datetime(2021, 1, 15, 10, 0, tzinfo=TZ)

SiteFactory = Callable[..., Site]


def decide(site: Site, dialled: str, **kw: Any) -> Decision:
    kw.setdefault("at", LIVE)
    kw.setdefault("caller", "13800138000")
    return Router(site).decide(CallContext(dialled, **kw))


def test_whole_merge_retired_continue_and_hangup(make_site: SiteFactory) -> None:
    site = make_site()
    router = Router(site)
    cont = router.decide(CallContext("12317", LIVE, "13800138000"))
    assert (cont.action, cont.target, cont.prompts) == (
        Action.QUEUE, "q-general", ("hotline12345/now-12345",))
    gone = router.decide(CallContext("12358", LIVE, "13800138000"))
    assert gone.action is Action.ANNOUNCE_HANGUP
    assert gone.prompts == ("hotline12345/now-12345",)
    assert any("then the call ends" in r for r in gone.reasons)


def test_transition_minute_boundary_with_time_of_day(make_site: SiteFactory) -> None:
    router = Router(make_site())
    before = router.decide(CallContext("12317", datetime(2021, 1, 1, 7, 59, tzinfo=TZ)))
    during = router.decide(CallContext("12317", datetime(2021, 1, 1, 8, 0, tzinfo=TZ)))
    assert before.prompts == () and before.variables["HOTLINE_PHASE"] == "before_transition"
    assert during.prompts == ("hotline12345/transition-12317",)


def test_sub_centre_and_linkage_three_way(make_site: SiteFactory) -> None:
    router = Router(make_site())
    tax = router.decide(CallContext("12366", IN_TRANSITION))
    assert tax.action is Action.SUB_CENTRE and tax.variables["HOTLINE_DIAL"] == "PJSIP/12366@tax"
    assert tax.variables["HOTLINE_FALLBACK_QUEUE"] == "q-general"
    water = router.decide(CallContext("96116", LIVE))  # a 协同联动 register row: blind
    assert water.action is Action.LINKAGE and water.target == "water"
    assert water.variables["HOTLINE_TRANSFER"] == "blind"
    assert water.variables["HOTLINE_LINKAGE_NUMBER"] == "96116"
    linked = Router(make_site(rules="""\
  - name: to-police
    when: {dialled: ["12399"]}
    then: {action: linkage, target: police}
""")).decide(CallContext("12399", LIVE))
    assert linked.action is Action.LINKAGE and linked.target == "police"
    assert linked.variables["HOTLINE_TRANSFER"] == "three_way"
    assert linked.variables["HOTLINE_LINKAGE_NUMBER"] == "110"
    assert any("三方通话" in r for r in linked.reasons)


def test_first_matching_rule_wins(make_site: SiteFactory) -> None:
    rules = """\
  - name: first
    when: {dialled: ["12315"], caller: ["_139XXXXXXXX"]}
    then: {action: queue, target: dialect, priority: 3}
  - name: second
    when: {dialled: ["12315"]}
    then: {action: linkage, target: water}
  - name: third
    when: {caller: ["_139XXXXXXXX"]}
    then: {action: queue, target: q-general}
"""
    site = make_site(rules)
    d1 = decide(site, "12315", caller="13912345678")
    assert (d1.action, d1.target, d1.priority) == (Action.QUEUE, "dialect", 3)
    assert 'rule "first" matched' in d1.reasons
    d2 = decide(site, "12315", caller="13812345678")
    assert (d2.action, d2.target) == (Action.LINKAGE, "water")
    d3 = decide(site, "12317", caller="13912345678")
    assert d3.target == "q-general" and 'rule "third" matched' in d3.reasons
    # A caller of unknown number never matches a caller pattern.
    d4 = decide(site, "12317", caller=None)
    assert not any("rule" in r for r in d4.reasons)


def test_blocked_caller_hears_prompt_and_is_hung_up(make_site: SiteFactory) -> None:
    d = decide(make_site(), "12345", caller="17012345678")
    assert d.action is Action.ANNOUNCE_HANGUP
    assert d.prompts == ("hotline12345/blocked",)


def test_enterprise_recognised_by_list_prefix_flag_and_answer(make_site: SiteFactory) -> None:
    router = Router(make_site())
    for caller, flag, answer in (("02066668888", False, None), ("057188886666", False, None),
                                 ("13800138000", True, None), ("13800138000", False, "1")):
        d = router.decide(CallContext("12345", LIVE, caller, enterprise=flag, answer=answer))
        assert (d.action, d.target, d.priority) == (Action.QUEUE, "enterprise", 9), caller
        assert d.variables["QUEUE_PRIO"] == "9"
        assert any("enterprise" in r for r in d.reasons)
    # Not recognised: the one question is asked, and no answer falls back to general.
    ask = router.decide(CallContext("12345", LIVE, "13800138000"))
    assert ask.action is Action.ASK and ask.question is not None
    assert ask.question.prompt == "hotline12345/ask-ent" and ask.question.retries == 1
    none = router.decide(CallContext("12345", LIVE, "13800138000", answer=""))
    assert (none.action, none.target, none.priority) == (Action.QUEUE, "q-general", 0)


def test_enterprise_on_merged_number_gets_enterprise_queue(make_site: SiteFactory) -> None:
    d = decide(make_site(), "12315", caller="02066668888")
    assert (d.target, d.priority) == ("enterprise", 9)
    # but a sub-centre keeps its own expert seats
    d = decide(make_site(), "12366", caller="02066668888")
    assert d.action is Action.SUB_CENTRE


def test_rule_question_options_and_default(make_site: SiteFactory) -> None:
    rules = """\
  - name: dialect
    when: {dialled: ["12345"], enterprise: false}
    then: {action: ask}
    ask:
      prompt: ask-lang
      timeout_s: 4
      options: {"2": {action: queue, target: dialect, priority: 2}}
      default: {action: queue, target: q-general}
"""
    router = Router(make_site(rules))
    asked = router.decide(CallContext("12345", LIVE, "13800138000"))
    assert asked.action is Action.ASK and asked.question is not None
    assert asked.question.timeout_s == 4 and asked.question.purpose == "rule:dialect"
    chosen = router.decide(CallContext("12345", LIVE, "13800138000", answer="2"))
    assert (chosen.target, chosen.priority) == ("dialect", 2)
    for answer in ("", "7"):
        fallback = router.decide(CallContext("12345", LIVE, "13800138000", answer=answer))
        assert fallback.target == "q-general"
        assert any("default applies" in r for r in fallback.reasons)


def test_time_window_weekdays_and_overnight(make_site: SiteFactory) -> None:
    rules = """\
  - name: night
    when: {time: {days: [1, 2, 3, 4, 5], start: "22:00", end: "06:00"}}
    then: {action: queue, target: dialect, prompt: night}
"""
    router = Router(make_site(rules))
    wed_2300 = datetime(2025, 3, 5, 23, 0, tzinfo=TZ)
    thu_0530 = datetime(2025, 3, 6, 5, 30, tzinfo=TZ)  # Wednesday's night
    sat_0530 = datetime(2025, 3, 8, 5, 30, tzinfo=TZ)  # Friday's night: Friday is day 5
    sun_0530 = datetime(2025, 3, 9, 5, 30, tzinfo=TZ)  # Saturday's night: no match
    wed_2159 = datetime(2025, 3, 5, 21, 59, tzinfo=TZ)
    hits = [router.decide(CallContext("12317", at)).target == "dialect"
            for at in (wed_2300, thu_0530, sat_0530, sun_0530, wed_2159)]
    assert hits == [True, True, True, False, False]
    # the window is read in Shanghai time: 14:30 UTC is 22:30 local
    utc = datetime(2025, 3, 5, 14, 30, tzinfo=ZoneInfo("UTC"))
    assert router.decide(CallContext("12317", utc)).target == "dialect"


def test_language_condition(make_site: SiteFactory) -> None:
    rules = """\
  - name: cantonese
    when: {language: [yue]}
    then: {action: queue, target: dialect}
"""
    router = Router(make_site(rules))
    assert router.decide(CallContext("12345", LIVE, answer="", language="yue")).target == "dialect"
    assert router.decide(CallContext("12345", LIVE, answer="", language="zh")).target == "q-general"


def test_overflow_on_waiting_callers_and_after_seconds(make_site: SiteFactory) -> None:
    router = Router(make_site())
    calm = router.decide(CallContext("12315", LIVE, queue_load={"market": QueueLoad(2, 30.0)}))
    assert calm.target == "market"
    busy = router.decide(CallContext("12315", LIVE, queue_load={"market": QueueLoad(3, 30.0)}))
    assert busy.target == "q-general"
    assert any("多援一" in r for r in busy.reasons)


def test_expert_action_targets_expert_queue(make_site: SiteFactory) -> None:
    rules = """\
  - name: expert
    when: {dialled: ["12317"]}
    then: {action: expert, target: q-general, priority: 4}
"""
    d = decide(make_site(rules), "12317")
    assert (d.action, d.target) == (Action.EXPERT, "q-general-expert")
    assert d.variables["HOTLINE_QUEUE"] == "q-general-expert"


def test_unknown_number_still_reaches_a_human(make_site: SiteFactory) -> None:
    d = decide(make_site(), "99999")
    assert (d.action, d.target) == (Action.QUEUE, "q-general")


def test_decisions_are_the_same_in_every_process() -> None:
    """No hash order or clock leaks into a decision: two interpreters with different hash
    seeds print the same decisions, reasons included."""
    import json
    import os
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from datetime import datetime\n"
        "from zoneinfo import ZoneInfo\n"
        "from hotline12345.config import load_site\n"
        "from hotline12345.routing import CallContext, Router\n"
        "site = load_site(None); router = Router(site)\n"
        "at = datetime(2021, 6, 15, 9, 30, tzinfo=ZoneInfo('Asia/Shanghai'))\n"
        "numbers = [r.number for r in site.register] + ['12345', '99999']\n"
        "out = [router.decide(CallContext(n, at, c, answer=a)).as_dict()\n"
        "       for n in numbers for c in ('13800138000', None) for a in (None, '1', '')]\n"
        "json.dump(out, sys.stdout, ensure_ascii=False, sort_keys=True)\n")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")]
    assert runs[0] == runs[1]
    assert len(json.loads(runs[0])) == 31 * 2 * 3


def test_indexed_rules_keep_file_order(make_site: SiteFactory) -> None:
    """Rules found through the caller-prefix and language indexes still lose to an earlier
    plain rule and beat a later one."""
    rules = """\
  - name: lang-first
    when: {language: [yue], dialled: ["12315"]}
    then: {action: queue, target: dialect}
  - name: prefix-second
    when: {caller: ["_139XXXXXXXX"]}
    then: {action: queue, target: market}
  - name: plain-third
    when: {dialled: ["12315"]}
    then: {action: linkage, target: water}
  - name: wildcard-fourth
    when: {caller: ["_X."]}
    then: {action: queue, target: enterprise}
"""
    router = Router(make_site(rules))

    def name(dialled: str, caller: str | None, language: str | None = None) -> str:
        d = router.decide(CallContext(dialled, LIVE, caller, answer="", language=language))
        return d.variables["HOTLINE_RULE"]

    assert name("12315", "13912345678", "yue") == "lang-first"
    assert name("12317", "13912345678", "yue") == "prefix-second"
    assert name("12315", "13912345678") == "prefix-second"
    assert name("12315", "13812345678") == "plain-third"
    assert name("12317", "13812345678") == "wildcard-fourth"
    assert name("12317", None) == ""


def test_one_keypress_answers_one_question(make_site: SiteFactory) -> None:
    """Pressing 1 at the enterprise question makes the caller an enterprise; a rule that
    then matches enterprises and would ask its own question must not read the same 1."""
    rules = """\
  - name: ent-menu
    when: {dialled: ["12345"], enterprise: true}
    then: {action: ask}
    ask:
      prompt: ask-lang
      options: {"1": {action: queue, target: market}}
      default: {action: queue, target: enterprise, priority: 9}
"""
    router = Router(make_site(rules))
    first = router.decide(CallContext("12345", LIVE, "13800138000"))
    assert first.question is not None and first.question.purpose == "enterprise"
    for answer_to in ("enterprise", None):  # explicit, or worked out by the router
        d = router.decide(CallContext("12345", LIVE, "13800138000", answer="1",
                                      answer_to=answer_to))
        assert (d.target, d.priority) == ("enterprise", 9)
        assert any("already answered one question" in r for r in d.reasons)
    # A caller recognised by number is asked the rule's question, and its answer counts.
    asked = router.decide(CallContext("12345", LIVE, "02066668888"))
    assert asked.question is not None and asked.question.purpose == "rule:ent-menu"
    chosen = router.decide(CallContext("12345", LIVE, "02066668888", answer="1"))
    assert chosen.target == "market"
