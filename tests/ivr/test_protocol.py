"""The sans-IO AGI codec, against the real Asterisk 22 session in
../shared/asterisk-22-captures/fastagi-session.log and against bad input."""

from __future__ import annotations

import pytest

from hotline12345.ivr.protocol import (
    FAILURE_LINE,
    MAX_COMMAND_BYTES,
    AgiConnection,
    CommandError,
    ConnectionClosed,
    Environment,
    HangupEvent,
    Limits,
    ProtocolError,
    Quoted,
    Reply,
    State,
    format_command,
    format_environment,
    format_mset,
    parse_command,
    parse_reply_line,
)
from hotline12345.ivr.simulate import separate_app_args


def feed_capture(capture: list[tuple[str, bytes]], chunks: int | None = None) -> list[object]:
    """Play the capture through a connection; Asterisk's bytes either as captured (one
    write per line) or re-split into pieces of ``chunks`` bytes."""
    conn = AgiConnection()
    events: list[object] = []
    pending = b""
    for direction, data in capture:
        if direction == ">":
            if pending:
                for i in range(0, len(pending), chunks or len(pending)):
                    events += conn.receive_data(pending[i:i + (chunks or len(pending))])
                pending = b""
            conn.send_raw_command(data)
        else:
            pending += data
    if pending:
        events += conn.receive_data(pending)
    events += conn.receive_data(b"")
    return events


def test_capture_environment(capture: list[tuple[str, bytes]]) -> None:
    env = feed_capture(capture)[0]
    assert isinstance(env, Environment)
    assert env.script == "route"  # agi_network_script keeps its query string: route?x=1
    assert env.query == {"x": "1"}
    assert env.args == ("arg1", "中文")
    assert env.uniqueid == "1795849847.2"
    assert env.callerid == "13800138000"
    assert env.calleridname == "张三"
    assert env.dnid is None and env.rdnis is None  # the literal "unknown"
    assert env.variables["agi_dnid"] == "unknown"
    assert env.variables["agi_accountcode"] == ""
    assert env.channel == "Local/s@caller-00000001;1"


def test_capture_replies(capture: list[tuple[str, bytes]]) -> None:
    events = feed_capture(capture)
    replies = [e for e in events if isinstance(e, Reply)]
    assert [r.code for r in replies] == [200, 200, 200, 200, 200, 200, 200, 200, 200, 510, 520,
                                         200, 511, 200, 200, 200]
    assert replies[1].data == "13800138000" and replies[1].result == 1
    assert replies[2].data == "张三"
    assert replies[4].result == 0 and replies[4].endpos == 11234
    assert replies[5].result_text == "123"  # GET DATA digits
    assert replies[8].data == "Local/s@caller-00000001;1"
    usage = replies[10]
    assert usage.text.startswith("520-Invalid command syntax.")
    assert usage.text.endswith("520 End of proper usage.")
    assert usage.text.count("\n") == 6
    assert replies[11].result == -1  # WAIT FOR DIGIT as the caller hung up
    assert replies[13].data == "q-tax"  # GET VARIABLE still answers after the hangup
    assert isinstance(events[-1], ConnectionClosed) and events[-1].clean


def test_hangup_is_an_event_not_a_reply(capture: list[tuple[str, bytes]]) -> None:
    events = feed_capture(capture)
    at = next(i for i, e in enumerate(events) if isinstance(e, HangupEvent))
    before, after = events[at - 1], events[at + 1]
    assert isinstance(before, Reply) and before.result == -1
    assert isinstance(after, Reply) and after.code == 511  # the STREAM FILE after the hangup
    assert sum(isinstance(e, HangupEvent) for e in events) == 1


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_any_split_of_the_capture_gives_the_same_events(
        capture: list[tuple[str, bytes]], size: int) -> None:
    assert feed_capture(capture, size) == feed_capture(capture)


def test_eof_at_every_byte_offset_of_the_environment(capture_env: bytes) -> None:
    for k in range(len(capture_env)):
        for chunk in (1, max(1, k)):
            conn = AgiConnection()
            events: list[object] = []
            for i in range(0, k, chunk):
                events += conn.receive_data(capture_env[i:min(k, i + chunk)])
            events += conn.receive_data(b"")
            assert not any(isinstance(e, Environment) for e in events), k
            assert isinstance(events[-2], ProtocolError), k
            assert "closed before the end of the environment" in events[-2].message
            assert events[-1] == ConnectionClosed(clean=False)
            assert conn.state is State.CLOSED
    conn = AgiConnection()
    assert isinstance(conn.receive_data(capture_env)[0], Environment)


def test_100_trying_is_skipped() -> None:
    conn = AgiConnection()
    conn.receive_data(b"agi_uniqueid: 1.1\n\n")
    conn.send_command("RECORD FILE", "x", "wav", "#", 1000)
    events = conn.receive_data(b"100 result=0 Trying...\n200 result=0 (timeout) endpos=800\n")
    assert events == [Reply(200, 0, "0", "timeout", 800, "200 result=0 (timeout) endpos=800")]


def test_reply_parsing() -> None:
    r = parse_reply_line("200 result= (timeout)")
    assert r is not None and r.result is None and r.result_text == "" and r.data == "timeout"
    r = parse_reply_line("200 result=1 (a (b) c) endpos=-1")
    assert r is not None and r.data == "a (b) c" and r.endpos == -1
    r = parse_reply_line("200 result=1*2#")
    assert r is not None and r.result is None and r.result_text == "1*2#"
    r = parse_reply_line("200 result=0123")
    assert r is not None and r.result == 123 and r.result_text == "0123"
    assert parse_reply_line("hello") is None
    assert parse_reply_line("20 result=1") is None


@pytest.mark.parametrize("line", [b"hello world\n", b"2000 result=1\n", b"\x00\x01\n",
                                  b"520 Invalid\n", b"HANGUPX\n"])
def test_garbage_reply_line_is_a_protocol_error(line: bytes) -> None:
    conn = AgiConnection()
    conn.receive_data(b"agi_uniqueid: 1.1\n\n")
    if line != b"520 Invalid\n":
        conn.send_command("ANSWER")
    events = conn.receive_data(line + b"200 result=0\n")
    assert len(events) == 1 and isinstance(events[0], ProtocolError)
    assert events[0].line == 3 and events[0].phase == "reply"
    assert conn.state is State.ERROR
    assert conn.receive_data(b"200 result=0\n") == []  # nothing after an error


def test_reply_to_no_command_is_a_protocol_error() -> None:
    conn = AgiConnection()
    conn.receive_data(b"agi_uniqueid: 1.1\n\n")
    events = conn.receive_data(b"200 result=0\n")
    assert isinstance(events[0], ProtocolError) and "to no command" in events[0].message


@pytest.mark.parametrize(("data", "message"), [
    (b"agi_uniqueid 1.1\n\n", "expected 'agi_name: value'"),
    (b"agi uniqueid: 1.1\n\n", "expected 'agi_name: value'"),
    (b"agi_x: 1\nagi_x: 2\n\n", "agi_x sent twice"),
    (b"agi_arg_2: b\n\n", "agi_arg_1 is missing"),
    (b"agi_arg_x: b\n\n", "agi_arg_x"),
    (b"agi_network_script: ?x=1\n\n", "agi_network_script"),
])
def test_bad_environment_names_the_field(data: bytes, message: str) -> None:
    for chunk in (len(data), 1):  # all lines at once, and one byte (so one line) at a time
        conn = AgiConnection()
        events: list[object] = []
        for i in range(0, len(data), chunk):
            events += conn.receive_data(data[i:i + chunk])
        assert len(events) == 1 and isinstance(events[0], ProtocolError), events
        assert message in events[0].message
        assert events[0].phase == "environment"


def test_oversized_lines_and_environment() -> None:
    limits = Limits(max_line_bytes=100, max_env_bytes=300, max_env_lines=5)
    conn = AgiConnection(limits)
    events = conn.receive_data(b"agi_x: " + b"y" * 200)  # no newline yet: refused early
    assert isinstance(events[0], ProtocolError) and "longer than 100 bytes" in events[0].message
    conn = AgiConnection(limits)
    events = conn.receive_data(b"agi_x: " + b"y" * 200 + b"\n\n")
    assert isinstance(events[0], ProtocolError) and "longer than 100 bytes" in events[0].message
    conn = AgiConnection(limits)
    events = conn.receive_data(b"".join(b"agi_%d: %s\n" % (i, b"v" * 80) for i in range(4)))
    assert isinstance(events[0], ProtocolError) and "larger than 300 bytes" in events[0].message
    conn = AgiConnection(limits)
    events = conn.receive_data(b"".join(b"agi_%d: v\n" % i for i in range(9)) + b"\n")
    assert isinstance(events[0], ProtocolError) and "more than 5 lines" in events[0].message
    conn = AgiConnection(limits)
    conn.receive_data(b"agi_uniqueid: 1.1\n\n")
    conn.send_command("GET VARIABLE", "X")
    events = conn.receive_data(b"200 result=1 (" + b"z" * 200 + b")\n")
    assert isinstance(events[0], ProtocolError) and events[0].phase == "reply"


def test_multi_line_520_bounded() -> None:
    conn = AgiConnection(Limits(max_block_lines=4))
    conn.receive_data(b"agi_uniqueid: 1.1\n\n")
    conn.send_command("STREAM FILE")
    events = conn.receive_data(b"520-Invalid\n200 result=0\nx\ny\nz\n520 End\n")
    assert isinstance(events[0], ProtocolError) and "520 usage block" in events[0].message


def test_usage_block_lines_are_not_replies() -> None:
    conn = AgiConnection()
    conn.receive_data(b"agi_uniqueid: 1.1\n\n")
    conn.send_command("STREAM FILE")
    events = conn.receive_data(b"520-Invalid\n200 result=0\nHANGUP\n520 End of proper usage.\n")
    assert len(events) == 1 and isinstance(events[0], Reply) and events[0].code == 520
    assert conn.pending == 0


def test_crlf_lines_are_accepted() -> None:
    conn = AgiConnection()
    events = conn.receive_data(b"agi_uniqueid: 1.1\r\nagi_callerid: unknown\r\n\r\n")
    assert isinstance(events[0], Environment) and events[0].callerid is None


def test_non_utf8_name_does_not_cost_the_call() -> None:
    conn = AgiConnection()
    events = conn.receive_data("agi_calleridname: 王五\n\n".encode("gbk"))
    assert isinstance(events[0], Environment)
    assert "\ufffd" in (events[0].calleridname or "")


def test_send_before_environment_is_refused() -> None:
    with pytest.raises(CommandError, match="state environment"):
        AgiConnection().send_command("ANSWER")


def test_format_command_matches_the_capture() -> None:
    assert format_command("SET VARIABLE", "ROUTE", Quoted("q-tax")) == \
        b'SET VARIABLE ROUTE "q-tax"\n'
    assert format_command("STREAM FILE", "hello-world", "") == b'STREAM FILE hello-world ""\n'
    assert format_command("VERBOSE", "after hangup", 1) == b'VERBOSE "after hangup" 1\n'
    assert format_command("GET FULL VARIABLE", "${CHANNEL}") == b"GET FULL VARIABLE ${CHANNEL}\n"


@pytest.mark.parametrize(("args", "message"), [
    (("SET VARIABLE", "X", "a\nEXEC Hangup"), "argument 2"),
    (("SET VARIABLE", "X", "a\r"), "line break"),
    (("SET VARIABLE", "X", "a\0"), "NUL"),
    (("SET VARIABLE", "X", 1.5), "expected str or int"),
    (("SET VARIABLE", "X", True), "expected str or int"),
    (("STREAM FILE\n", "x"), "command verb"),
    (("SET VARIABLE", "X", "y" * MAX_COMMAND_BYTES), "Asterisk reads at most 2047"),
])
def test_bad_commands_are_refused(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        format_command(*args)  # type: ignore[arg-type]


def test_quoting_round_trips_through_asterisks_parser() -> None:
    values = ['a b', 'say "hi"', "back\\slash", "", "tab\there", '\\"', "张三 李四"]
    line = format_command("X Y", *values).decode()[:-1]
    assert parse_command(line) == ["X", "Y", *values]


def test_mset_round_trips_through_asterisks_app_parser() -> None:
    pairs = [("A", "x,y"), ("B", 'q("\\)'), ("C", ""), ("D", "a=b[c"), ("E", "PJSIP/1@t")]
    argv = parse_command(format_command("EXEC", "MSet", format_mset(pairs)).decode()[:-1])
    got = [tuple(separate_app_args(p, "=", arraylen=2)) for p in separate_app_args(argv[2],
                                                                                    arraylen=99)]
    assert got == pairs
    with pytest.raises(CommandError, match="SET VARIABLE"):
        format_mset([("A", "${EVIL}")])
    with pytest.raises(CommandError, match="SET VARIABLE"):
        format_mset([("CALLERID(num)", "1")])


def test_environment_round_trip_and_failure_line() -> None:
    env = {"agi_network_script": "inbound/?dialled=12317&enterprise=1", "agi_arg_1": "12317"}
    conn = AgiConnection()
    got = conn.receive_data(format_environment(env))[0]
    assert isinstance(got, Environment)
    assert got.script == "inbound" and got.query == {"dialled": "12317", "enterprise": "1"}
    # res_agi.c run_agi(): strncasecmp(buf, "failure", 7) == 0 -> AGI_RESULT_FAILURE
    assert FAILURE_LINE.lower().startswith(b"failure") and FAILURE_LINE.endswith(b"\n")


def test_error_snippets_mask_numbers() -> None:
    conn = AgiConnection()
    events = conn.receive_data(b"agi_callerid 13800138000\n\n")
    assert isinstance(events[0], ProtocolError)
    assert "138****8000" in events[0].message and "13800138000" not in events[0].message


def test_known_reply_lines_take_the_same_path_as_new_ones() -> None:
    """A reply line seen before is recognised whole; the events and the bookkeeping are
    those of parsing it, and each connection's limits still apply."""
    def session(limits: Limits | None = None) -> AgiConnection:
        conn = AgiConnection(limits)
        assert isinstance(conn.receive_data(b"agi_uniqueid: 1.1\n\n")[0], Environment)
        conn.send_command("STREAM FILE", "x", "")
        return conn

    line = b"200 result=0 endpos=424242\n"
    first, again = session(), session()
    [r1] = first.receive_data(line)
    [r2] = again.receive_data(line)  # known now
    assert r1 == r2 and r2.endpos == 424242 and again.pending == 0
    assert again.receive_data(b"") == [ConnectionClosed(clean=True)]
    strict = session(Limits(max_line_bytes=24))
    [err] = strict.receive_data(line)
    assert isinstance(err, ProtocolError) and "longer than 24 bytes" in err.message
    unasked = AgiConnection()
    unasked.receive_data(b"agi_uniqueid: 1.1\n\n")
    [err] = unasked.receive_data(line)  # no command sent: still a protocol error
    assert isinstance(err, ProtocolError) and "to no command" in err.message
