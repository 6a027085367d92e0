"""Hypothesis fuzzing of the AGI codec: no exception escapes, nothing hangs, and the events
do not depend on how the bytes are split."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline12345.ivr.protocol import (
    AgiConnection,
    CommandError,
    ConnectionClosed,
    Environment,
    EnvironmentValueError,
    HangupEvent,
    Limits,
    ProtocolError,
    Reply,
    State,
    format_command,
    format_environment,
    format_mset,
    parse_command,
)
from hotline12345.ivr.simulate import AsteriskPeer, CallScript, separate_app_args
from hotline12345.logs import mask_text

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
EVENT_TYPES = (Environment, Reply, HangupEvent, ProtocolError, ConnectionClosed)

# Pieces that look like AGI, so the fuzzer reaches deep states, mixed with raw bytes.
_TOKENS = st.sampled_from([
    b"agi_uniqueid: 1.1\n", b"agi_callerid: unknown\n", b"agi_arg_1: x\n", b"\n", b"\r\n",
    b"agi_network_script: inbound?a=1&a=2\n", b"200 result=0\n", b"200 result=1 (x)\n",
    b"200 result= (timeout)\n", b"HANGUP\n", b"511 Command Not Permitted\n",
    b"520-Invalid\n", b"520 End of proper usage.\n", b"100 result=0 Trying...\n",
    b"510 Invalid or unknown command\n", b"\xe5\xbc\xa0", b"\xff", b":", b" ", b"agi_",
])
_STREAM = st.lists(st.one_of(_TOKENS, st.binary(max_size=40)), max_size=40).map(b"".join)


def _run(data: bytes, cuts: list[int], commands: int, limits: Limits) -> list[object]:
    conn = AgiConnection(limits)
    events: list[object] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        new = conn.receive_data(data[a:b])
        events += new
        if any(isinstance(e, Environment) for e in new) and conn.state is State.COMMANDS:
            for _ in range(commands):
                conn.send_command("NOOP")
    events += conn.receive_data(b"")
    assert conn.state is State.CLOSED
    return events


@FUZZ
@given(_STREAM, st.lists(st.integers(0, 2000), max_size=12), st.integers(0, 6))
def test_codec_never_raises_and_always_ends(data: bytes, cuts: list[int], commands: int) -> None:
    limits = Limits(max_line_bytes=64, max_env_bytes=256, max_env_lines=12,
                    max_block_bytes=128, max_block_lines=6)
    events = _run(data, cuts, commands, limits)
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    assert isinstance(events[-1], ConnectionClosed)
    assert sum(isinstance(e, Environment) for e in events) <= 1
    assert sum(isinstance(e, ConnectionClosed) for e in events) == 1
    errors = [e for e in events if isinstance(e, ProtocolError)]
    assert len(errors) <= 1
    if errors:  # nothing but the close after an error
        assert events.index(errors[0]) >= len(events) - 2


@FUZZ
@given(_STREAM, st.lists(st.integers(0, 2000), max_size=12))
def test_events_do_not_depend_on_the_split(data: bytes, cuts: list[int]) -> None:
    # Without commands sent mid-stream, the split points cannot matter.
    limits = Limits(max_line_bytes=64, max_env_bytes=256, max_env_lines=12)
    whole = _run(data, [], 0, limits)
    split = _run(data, cuts, 0, limits)
    assert [type(e) for e in whole] == [type(e) for e in split]
    assert [e for e in whole if not isinstance(e, ProtocolError)] == \
           [e for e in split if not isinstance(e, ProtocolError)]


_ARG = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\0"),
               max_size=30)


@FUZZ
@given(st.lists(_ARG, max_size=6))
def test_quoted_arguments_round_trip_through_parse_args(args: list[str]) -> None:
    line = format_command("SET VARIABLE", *args).decode("utf-8")[:-1]
    assert parse_command(line) == ["SET", "VARIABLE", *args]


@FUZZ
@given(st.text(max_size=80))
def test_parse_args_never_raises(line: str) -> None:
    assert isinstance(parse_command(line), list)


_NAME = st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True)
_VALUE = st.text(st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="$"),
                 max_size=25)


@FUZZ
@given(st.lists(st.tuples(_NAME, _VALUE), min_size=1, max_size=20))
def test_mset_pairs_round_trip(pairs: list[tuple[str, str]]) -> None:
    try:
        line = format_command("EXEC", "MSet", format_mset(pairs)).decode("utf-8")[:-1]
    except CommandError as exc:
        assert "2047" in str(exc)
        return
    argv = parse_command(line)
    got = [tuple(separate_app_args(p, "=", arraylen=2))
           for p in separate_app_args(argv[2], arraylen=99)]
    assert got == pairs


@FUZZ
@given(st.dictionaries(_NAME.map(lambda n: "agi_" + n.lower()), _VALUE, max_size=10))
def test_environment_round_trip(variables: dict[str, str]) -> None:
    variables = {k: v for k, v in variables.items() if not k.startswith("agi_arg_")
                 and k != "agi_network_script"}
    events = AgiConnection().receive_data(format_environment(variables))
    env = events[0]
    assert isinstance(env, Environment)
    assert dict(env.variables) == variables


@FUZZ
@given(st.lists(st.binary(max_size=60), max_size=10))
def test_simulated_asterisk_never_raises(chunks: list[bytes]) -> None:
    peer = AsteriskPeer(CallScript({"agi_uniqueid": "1.1"}, digits=["1"], hangup_at=2))
    for chunk in chunks:
        assert isinstance(peer.receive_data(chunk), bytes)
    peer.eof()
    assert peer.status in ("SUCCESS", "FAILURE", "HANGUP")


_ENV_KEY = st.one_of(st.sampled_from(["agi_uniqueid", "agi_arg_1", "agi_arg_2", "agi_arg_x",
                                      "agi_network_script", "___", "", "agi x", "agi:x",
                                      "agi_callerid"]),
                     st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True))
_ENV_VALUE = st.one_of(st.sampled_from(["", "unknown", "inbound?dialled=12345", "a: b",
                                        "/route/", "%2F", "张三", " lead"]),
                       st.text(st.characters(blacklist_categories=["Cs"],
                                             blacklist_characters="\r\n"), max_size=12))
_ENV_LINE = st.one_of(st.tuples(_ENV_KEY, _ENV_VALUE).map(lambda kv: f"{kv[0]}: {kv[1]}"),
                      st.tuples(_ENV_KEY, _ENV_VALUE).map(lambda kv: f"{kv[0]}:{kv[1]}"),
                      _ENV_VALUE)


@FUZZ
@given(st.lists(_ENV_LINE, min_size=1, max_size=14))
def test_environment_in_one_piece_equals_line_by_line(lines: list[str]) -> None:
    """An environment in one piece gives exactly the events (errors and their messages too)
    of the same bytes arriving one at a time, where each line is taken alone."""
    data = ("\n".join(lines) + "\n\n").encode("utf-8")
    limits = Limits(max_env_lines=12)
    whole = AgiConnection(limits).receive_data(data)
    conn = AgiConnection(limits)
    bytewise: list[object] = []
    for i in range(len(data)):
        bytewise += conn.receive_data(data[i:i + 1])
    assert whole == bytewise


def _line_by_line(chunks: list[bytes], limits: Limits) -> object | None:
    """The environment read one line at a time, each check in the order of the line, as the
    codec read it before it took the complete lines at once: the reference for the codec's
    events and error messages. ``chunks`` arrive one after the other. Returns the
    Environment, the ProtocolError, or None when the chunks hold no complete environment
    and break no limit yet."""
    env: dict[str, str] = {}
    line_no = env_bytes = 0
    data = b""

    def error(message: str) -> ProtocolError:
        return ProtocolError(message, line_no, "environment")

    for chunk in chunks:
        data += chunk
        while (nl := data.find(b"\n")) >= 0:
            line_no += 1
            raw, data = data[:nl], data[nl + 1:]
            if len(raw) > limits.max_line_bytes:
                return error(f"line longer than {limits.max_line_bytes} bytes ({len(raw)} "
                             "bytes)")
            env_bytes += len(raw) + 1
            if env_bytes > limits.max_env_bytes:
                return error(f"environment larger than {limits.max_env_bytes} bytes")
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw:
                try:
                    return Environment.from_variables(
                        env, max_query_fields=limits.max_query_fields)
                except EnvironmentValueError as exc:
                    return error(str(exc))
            if line_no > limits.max_env_lines:
                return error(f"environment has more than {limits.max_env_lines} lines")
            text = raw.decode("utf-8", "replace")
            key, sep, value = text.partition(":")
            if not sep or not key or not all(c.isascii() and (c.isalnum() or c == "_")
                                              for c in key):
                return error(f"expected 'agi_name: value', got {mask_text(text[:80])!r}")
            if key in env:
                return error(f"environment field {key} sent twice")
            env[key] = value[1:] if value[:1] == " " else value
        if len(data) > limits.max_line_bytes:
            line_no += 1
            return error(f"line longer than {limits.max_line_bytes} bytes (no newline after "
                         f"{len(data)} bytes)")
        if env_bytes + len(data) > limits.max_env_bytes:
            line_no += 1
            return error(f"environment larger than {limits.max_env_bytes} bytes")
    return None


_GOOD_ENV_LINE = st.one_of(st.from_regex(rb"agi_[a-z]{1,3}: ?[a-z ]{0,8}", fullmatch=True),
                           st.sampled_from([b"agi_cr: a\rb", b"agi_cr: v\r", b"agi_cr:\r",
                                            b"agi_zh: \xe5\xbc", b"agi_zh:\xff\xfe",
                                            b"agi_long: " + b"v" * 40]))
_RAW_ENV_LINE = st.one_of(_GOOD_ENV_LINE, _GOOD_ENV_LINE, _GOOD_ENV_LINE,
                          _ENV_LINE.map(lambda line: line.encode("utf-8")),
                          st.sampled_from([b"", b"\r", b"\r\r", b"\xe5\xbc\xa0: x"]),
                          st.binary(max_size=12))


@FUZZ
@given(st.lists(_RAW_ENV_LINE, max_size=7), st.sampled_from([b"\n", b"\r\n"]),
       st.lists(st.integers(0, 600), max_size=8), st.booleans())
def test_environment_matches_the_line_by_line_reference(
        lines: list[bytes], newline: bytes, cuts: list[int], complete: bool) -> None:
    """However the bytes are split, the codec's environment, or its error (message and line
    number), is the one a line-at-a-time reading gives, within every limit."""
    data = newline.join(lines) + (newline + newline if complete else b"")
    limits = Limits(max_line_bytes=48, max_env_bytes=220, max_env_lines=5, max_query_fields=3)
    conn = AgiConnection(limits)
    events: list[object] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    for chunk in chunks:
        events += conn.receive_data(chunk)
        if events:
            break
    expected = _line_by_line(chunks, limits)
    assert events[:1] == ([] if expected is None else [expected])
