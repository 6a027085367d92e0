"""Figures and seat states from synthetic event sequences (field names as in Asterisk 22,
see ../shared/asterisk-22-captures/ami-queue-call.raw), with an injected clock."""

from __future__ import annotations

import datetime as dt

import pytest

from hotline12345.agents.codec import AmiMessage
from hotline12345.agents.figures import SITE_TZ, DecidedCall, Ledger, local_midnight, window_start
from hotline12345.agents.queues import QueueDef, queue_defs
from hotline12345.agents.state import QueueState
from hotline12345.agents.wallboard import chart as wallboard_chart
from hotline12345.agents.wallboard import wallboard_snapshot

# 2026-11-28 10:00:00 in Asia/Shanghai
NOW = dt.datetime(2026, 11, 28, 10, 0, 0, tzinfo=SITE_TZ).timestamp()


def ev(name: str, **fields: object) -> AmiMessage:
    headers = {"Event": name, **{k: str(v) for k, v in fields.items()}}
    return AmiMessage("event", name, headers)


def join(q: str, uid: str, number: str = "13800138000", name: str = "张三") -> AmiMessage:
    return ev("QueueCallerJoin", Channel=f"PJSIP/trunk-{uid}", CallerIDNum=number,
              CallerIDName=name, Uniqueid=uid, Queue=q, Position=1, Count=1)


def leave(q: str, uid: str) -> AmiMessage:
    return ev("QueueCallerLeave", Channel=f"PJSIP/trunk-{uid}", Uniqueid=uid, Queue=q,
              Position=1, Count=0)


def connect(q: str, uid: str, iface: str = "PJSIP/8001", hold: int = 0) -> AmiMessage:
    return ev("AgentConnect", Channel=f"PJSIP/trunk-{uid}", Uniqueid=uid, Queue=q,
              Interface=iface, MemberName="坐席一", DestChannel=f"{iface}-0001",
              HoldTime=hold, RingTime=0)


def abandon(q: str, uid: str, hold: int = 0) -> AmiMessage:
    return ev("QueueCallerAbandon", Channel=f"PJSIP/trunk-{uid}", Uniqueid=uid, Queue=q,
              Position=1, OriginalPosition=1, HoldTime=hold)


def member(event: str, q: str, iface: str, **over: object) -> AmiMessage:
    fields: dict[str, object] = dict(Queue=q, MemberName="坐席一", Interface=iface,
                                     StateInterface=iface, Membership="dynamic", Penalty=0,
                                     CallsTaken=0, LastCall=0, LastPause=0, LoginTime=0,
                                     InCall=0, Status=1, Paused=0, PausedReason="",
                                     Ringinuse=1, Wrapuptime=0)
    fields.update(over)
    return ev(event, **fields)


def fresh() -> QueueState:
    return QueueState([QueueDef("A", "综合受理", 20), QueueDef("B", "为企服务专席", 15)])


def test_four_outcomes_give_every_figure() -> None:
    s = fresh()
    t = NOW - 300
    s.apply(join("A", "1"), t)
    s.apply(leave("A", "1"), t + 10)
    s.apply(connect("A", "1"), t + 10)  # answered after 10 s
    s.apply(join("A", "2"), t + 20)
    s.apply(leave("A", "2"), t + 40)
    s.apply(connect("A", "2"), t + 40)  # answered after 20 s (= target, not within 15 s)
    s.apply(join("A", "3"), t + 50)
    s.apply(abandon("A", "3"), t + 80)  # abandoned after 30 s
    s.apply(leave("A", "3"), t + 80)
    s.apply(join("A", "4"), t + 90)
    s.apply(leave("A", "4"), t + 120)  # queue timeout: no AgentConnect follows
    assert s.expire(t + 124) is False  # within the grace period
    assert s.expire(t + 125) is True
    s.apply(join("A", "5", "13912345678", "李雷"), NOW - 42)  # still waiting
    f = s.figures("A", "15m", NOW)
    assert (f.offered, f.answered, f.abandoned, f.unanswered) == (4, 2, 1, 1)
    assert (f.answered_15s, f.answered_in_target) == (1, 2)
    assert f.answer_rate == 0.5 and f.answer_15s_rate == 0.5 and f.abandon_rate == 0.25
    assert f.asa_s == 15.0 and f.service_level == 0.5
    assert f.longest_wait_s == 42.0
    assert s.figures(None, "15m", NOW) == f  # queue B has nothing
    empty = s.figures("B", "1h", NOW)
    assert (empty.offered, empty.answer_rate, empty.asa_s, empty.service_level) == (
        0, None, None, None)
    timeout = [r for r in s.overall.records if r.outcome == "unanswered"]
    assert [(r.uniqueid, r.decided_at, r.wait_s) for r in timeout] == [("4", t + 120, 30.0)]


def test_windows_and_local_midnight() -> None:
    midnight = dt.datetime(2026, 11, 28, 0, 0, tzinfo=SITE_TZ).timestamp()
    assert local_midnight(NOW) == midnight
    assert window_start("15m", NOW) == NOW - 900
    with pytest.raises(ValueError, match="unknown window"):
        window_start("2h", NOW)
    s = fresh()
    for uid, at in (("y", midnight - 1), ("m", midnight), ("2h", NOW - 7200),
                    ("30m", NOW - 1800), ("15m", NOW - 900), ("10m", NOW - 600)):
        s.apply(join("A", uid), at - 5)
        s.apply(connect("A", uid), at)
    counts = {w: s.figures("A", w, NOW).answered for w in ("15m", "1h", "today")}
    # 15m: decided in (NOW-900, NOW] -> only "10m"; a call at exactly NOW-900 is outside.
    assert counts == {"15m": 1, "1h": 3, "today": 5}


def test_leave_before_abandon_and_hangup_without_abandon() -> None:
    s = fresh()
    s.apply(join("A", "1"), NOW - 30)
    s.apply(leave("A", "1"), NOW - 20)
    s.apply(abandon("A", "1"), NOW - 20)  # other order than usual: still one abandon
    s.apply(join("B", "2"), NOW - 15)
    s.apply(ev("Hangup", Channel="PJSIP/trunk-2", Uniqueid="2", Cause=16), NOW - 5)
    outcomes = [(r.queue, r.uniqueid, r.outcome, r.wait_s) for r in s.overall.records]
    assert outcomes == [("A", "1", "abandoned", 10.0), ("B", "2", "abandoned", 10.0)]
    assert s.queues["B"].callers == {}


def test_rejoin_counts_a_second_offer() -> None:
    s = fresh()
    s.apply(join("A", "1"), NOW - 60)
    s.apply(leave("A", "1"), NOW - 50)  # overflowed out ...
    s.apply(join("A", "1"), NOW - 40)  # ... and back in: the first stay was unanswered
    s.apply(leave("A", "1"), NOW - 30)
    s.apply(connect("A", "1"), NOW - 30)
    ids = [(r.id, r.outcome) for r in s.overall.records]
    assert ids == [("A|1|1", "unanswered"), ("A|1|2", "answered")]


def test_hold_time_used_when_the_join_was_not_seen() -> None:
    s = fresh()
    s.apply(leave("A", "9"), NOW - 1)
    s.apply(connect("A", "9", hold=12), NOW)
    r = s.overall.records[0]
    assert (r.outcome, r.wait_s, r.joined_at) == ("answered", 12.0, NOW - 12)


def test_alerts_for_long_wait_and_low_answer_rate() -> None:
    s = fresh()
    s.apply(join("B", "w"), NOW - 16)  # target 15 s
    s.apply(join("A", "x"), NOW - 100)
    s.apply(abandon("A", "x"), NOW - 60)
    snap = wallboard_snapshot(s, NOW)
    assert [(a["kind"], a["queue"], a["text"]) for a in snap["alerts"]] == [
        ("answer_rate", "A", "综合受理：近15分钟接通率 0.0%，低于 95%"),
        ("wait", "B", "为企服务专席：最长等待 16 秒，超过目标 15 秒"),
    ]
    b = next(q for q in snap["queues"] if q["name"] == "B")
    assert b["waiting"] == [{"uniqueid": "w", "caller": "138****8000", "name": "张*",
                             "position": 1, "wait_s": 16.0, "joined_at": NOW - 16}]
    s.apply(join("B", "v"), NOW - 15)
    assert len([a for a in wallboard_snapshot(s, NOW - 1)["alerts"] if a["kind"] == "wait"]) == 0


def test_chart_counts_per_quarter_hour() -> None:
    s = fresh()
    base = dt.datetime(2026, 11, 28, 9, 30, tzinfo=SITE_TZ).timestamp()
    s.apply(join("A", "1"), base - 10)
    s.apply(connect("A", "1"), base)  # 09:30 bucket
    s.apply(join("A", "2"), base + 899)
    s.apply(abandon("A", "2"), base + 899)  # still 09:30
    s.apply(join("A", "3"), base + 900)
    s.apply(connect("A", "3"), base + 900)  # 09:45
    chart = wallboard_chart(s, NOW, hours=1)
    assert [(b["label"], b["offered"], b["answered"]) for b in chart] == [
        ("09:15", 0, 0), ("09:30", 2, 1), ("09:45", 1, 1), ("10:00", 0, 0)]


def test_ledger_late_record_and_prune() -> None:
    led = Ledger()

    def rec(i: str, t: float, outcome: str = "answered") -> DecidedCall:
        return DecidedCall(i, "A", i, t - 5, t, outcome, 5.0, 15.0)  # type: ignore[arg-type]

    led.add(rec("1", 100))
    led.add(rec("3", 300))
    led.add(rec("2", 200, "abandoned"))  # decided earlier, recorded later
    assert [r.id for r in led.records] == ["1", "2", "3"]
    assert led.totals(150, 300).offered == 2 and led.totals(150, 300).abandoned == 1
    assert led.totals(0, 1000).answered == 2
    assert led.prune(now=100 + 26 * 3600 + 150) == 2
    assert [r.id for r in led.records] == ["3"]
    # Windows that start after the cut are unchanged by pruning.
    assert led.totals(200, 1000) == led.totals(250, 300)
    assert (led.totals(200, 1000).offered, led.totals(200, 1000).answered) == (1, 1)
    led.add(rec("4", 400))
    assert led.totals(250, 400).offered == 2


def test_seat_states_wrapup_offline_and_partial_pause() -> None:
    s = fresh()
    iface = "PJSIP/8001"
    s.apply(member("QueueMemberAdded", "A", iface, Wrapuptime=10), NOW - 100)
    s.apply(member("QueueMemberAdded", "B", iface, Wrapuptime=10), NOW - 100)
    s.apply(join("A", "1"), NOW - 95)
    s.apply(ev("AgentCalled", Uniqueid="1", Queue="A", Interface=iface,
               DestChannel="PJSIP/8001-0001", MemberName="坐席一"), NOW - 94)
    assert s.seats[iface].current(NOW - 94)[0] == "ringing"
    s.apply(connect("A", "1"), NOW - 90)
    s.apply(ev("AgentComplete", Uniqueid="1", Queue="A", Interface=iface,
               DestChannel="PJSIP/8001-0001", TalkTime=30, Reason="caller"), NOW - 60)
    seat = s.seats[iface]
    assert seat.current(NOW - 55) == ("wrapup", NOW - 60)
    assert seat.current(NOW - 40) == ("idle", NOW - 50)  # wrap-up ended at complete + 10
    s.apply(member("QueueMemberPause", "A", iface, Paused=1, PausedReason="小休"), NOW - 30)
    assert seat.current(NOW)[0] == "idle"  # still takes calls from queue B
    s.apply(member("QueueMemberPause", "B", iface, Paused=1, PausedReason="培训"), NOW - 20)
    assert seat.current(NOW) == ("paused", NOW - 20)
    assert seat.paused_reason() == "培训、小休"
    s.apply(member("QueueMemberStatus", "B", iface, Status=5, Paused=1,
                   PausedReason="培训"), NOW - 10)
    assert seat.current(NOW) == ("offline", NOW - 10)


def test_resync_prunes_what_asterisk_no_longer_has() -> None:
    s = fresh()
    s.apply(member("QueueMemberAdded", "A", "PJSIP/8001"), NOW - 100)
    s.apply(member("QueueMemberAdded", "A", "PJSIP/8002"), NOW - 100)
    s.apply(join("A", "gone"), NOW - 90)
    s.apply(ev("QueueParams", Queue="A", ActionID="r1"), NOW)
    s.apply(ev("QueueMember", Queue="A", Name="坐席一", Location="PJSIP/8001", Penalty=2,
               InCall=0, Status=1, Paused=0, PausedReason="", ActionID="r1"), NOW)
    s.apply(ev("QueueEntry", Queue="A", Position=1, Channel="PJSIP/t-new", Uniqueid="new",
               CallerIDNum="13700137000", CallerIDName="韩梅梅", Wait=33, ActionID="r1"), NOW)
    s.apply(join("A", "during"), NOW)  # an event between the list items: kept
    s.apply(ev("QueueStatusComplete", ActionID="r1", EventList="Complete"), NOW)
    assert sorted(s.seats) == ["PJSIP/8001"]
    assert s.seats["PJSIP/8001"].memberships["A"].penalty == 2
    callers = s.queues["A"].callers
    assert sorted(callers) == ["during", "new"]
    assert callers["new"].joined_at == NOW - 33
    assert len(s.overall) == 0  # dropping stale entries decides nothing


def test_queue_defs_from_site_like_objects_and_mappings() -> None:
    class Q:
        def __init__(self, name: str, label: str, target: int, experts: tuple[str, ...]):
            self.name, self.label, self.service_level_s, self.expert_seats = (
                name, label, target, experts)

    class Site:
        queues = (Q("general", "综合受理", 15, ("PJSIP/8001",)), Q("legal", "法律", 20, ()))

    assert queue_defs(Site()) == (
        QueueDef("general", "综合受理", 15.0),
        QueueDef("general-expert", "综合受理（专家座席）", 15.0),
        QueueDef("legal", "法律", 20.0),
    )
    assert queue_defs({"q": ("队列", 30)}) == (QueueDef("q", "队列", 30.0),)
    assert queue_defs(None) == ()


def test_default_site_queues_load() -> None:
    from hotline12345.config import load_site

    defs = queue_defs(load_site(None))
    names = [d.name for d in defs]
    assert "q-general" in names and "q-general-expert" in names
    assert all(d.label for d in defs)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_non_finite_seconds_from_ami_are_ignored(value: str) -> None:
    """float() accepts them; a caller waiting since -inf made every snapshot fail."""
    s = QueueState([QueueDef("q-general", "综合受理", 15)])
    s.apply(AmiMessage("event", "QueueEntry", {"Event": "QueueEntry", "Queue": "q-general",
                                                "Uniqueid": "1.1", "Wait": value,
                                                "Position": "1"}), NOW)
    s.apply(AmiMessage("event", "QueueCallerAbandon", {
        "Event": "QueueCallerAbandon", "Queue": "q-general", "Uniqueid": "1.2",
        "HoldTime": value}), NOW)
    snap = wallboard_snapshot(s, NOW + 3)
    general = next(q for q in snap["queues"] if q["name"] == "q-general")
    assert general["waiting"][0]["wait_s"] == 3.0
    assert [r.wait_s for r in s.overall.records] == [0.0]
