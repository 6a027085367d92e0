"""The sans-IO AMI codec on the real Asterisk 22 captures
(../shared/asterisk-22-captures/ami-queue-call.raw and ami-agi-call.raw)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline12345.agents.codec import (
    AmiEncodeError,
    AmiMessage,
    AmiParser,
    AmiProtocolError,
    encode_action,
)

from .conftest import AGI_CAPTURE, QUEUE_CAPTURE

QUEUE_BYTES = QUEUE_CAPTURE.read_bytes()
AGI_BYTES = AGI_CAPTURE.read_bytes()


def parse_whole(data: bytes) -> list[AmiMessage]:
    return AmiParser().feed(data)


def parse_chunks(data: bytes, cuts: list[int]) -> list[AmiMessage]:
    parser = AmiParser()
    out: list[AmiMessage] = []
    prev = 0
    for cut in [*sorted(cuts), len(data)]:
        out += parser.feed(data[prev:cut])
        prev = cut
    return out


def test_queue_capture_parses_to_the_messages_asterisk_sent() -> None:
    msgs = parse_whole(QUEUE_BYTES)
    assert msgs[0].kind == "greeting" and msgs[0].name == "11.0.0"
    assert len(msgs) == 118
    responses = [(m.name, m.action_id, m.get("Message")) for m in msgs if m.kind == "response"]
    assert responses == [
        ("Success", "login", "Authentication accepted"),
        ("Success", "qa-1", "Added interface to queue"),
        ("Success", "qp-1", "Interface paused successfully"),
        ("Success", "qsum-1", "Queue summary will follow"),
        ("Success", "orig-2", "Originate successfully queued"),
        ("Success", "qstat-1", "Queue status will follow"),
        ("Success", "qr-1", "Removed interface from queue"),
        ("Error", "qr-2", "Unable to remove interface: Not there"),
        ("Success", "ping-1", ""),
        ("Goodbye", "bye", "Thanks for all the fish."),
    ]
    added = next(m for m in msgs if m.name == "QueueMemberAdded")
    assert added.get("MemberName") == "李四"
    assert added.get("PausedReason") == ""  # "PausedReason: " with nothing after it
    pause = next(m for m in msgs if m.name == "QueueMemberPause")
    assert pause.get("PausedReason") == "培训"
    join = next(m for m in msgs if m.name == "QueueCallerJoin")
    assert (join.get("CallerIDName"), join.get("CallerIDNum")) == ("王五", "13900139000")
    # OriginateResponse is an event that carries a Response field.
    orig = next(m for m in msgs if m.name == "OriginateResponse")
    assert orig.kind == "event" and orig.get("Response") == "Success"


def test_agi_capture_parses_whole() -> None:
    msgs = parse_whole(AGI_BYTES)
    assert msgs[0].kind == "greeting"
    assert len(msgs) == 84
    names = {m.get("CallerIDName") for m in msgs if m.get("CallerIDName")}
    assert "张三" in names
    assert msgs[-1].kind == "response" and msgs[-1].name == "Goodbye"


@pytest.mark.parametrize("capture", [QUEUE_CAPTURE, AGI_CAPTURE], ids=lambda p: p.name)
def test_one_byte_reads_give_the_same_messages(capture) -> None:  # type: ignore[no-untyped-def]
    data = capture.read_bytes()
    parser = AmiParser()
    out: list[AmiMessage] = []
    for i in range(len(data)):
        out += parser.feed(data[i : i + 1])
    assert out == parse_whole(data)
    assert parser.buffered == 0 and parser.malformed == 0


def _frame_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of every frame after the greeting line."""
    spans = []
    start = data.index(b"\r\n") + 2
    while start < len(data):
        end = data.index(b"\r\n\r\n", start) + 4
        spans.append((start, end))
        start = end
    return spans


@pytest.mark.parametrize("capture", [QUEUE_CAPTURE, AGI_CAPTURE], ids=lambda p: p.name)
def test_every_split_point_gives_the_same_messages(capture) -> None:  # type: ignore[no-untyped-def]
    """Two reads split at every byte boundary of the stream. A parser that has consumed
    the frames before a boundary holds no bytes (checked), so each frame is split at each
    of its boundaries on a fresh parser; a UTF-8 name cut in two arrives whole (panoramisk
    1.4 drops the cut character, see below)."""
    data = capture.read_bytes()
    reference = parse_whole(data)
    greeting_end = data.index(b"\r\n") + 2
    spans = _frame_spans(data)
    assert len(spans) == len(reference) - 1
    first_end = spans[0][1]
    for cut in range(1, first_end):  # inside the greeting and the first frame
        parser = AmiParser()
        assert parser.feed(data[:cut]) + parser.feed(data[cut:first_end]) == reference[:2]
    multibyte = 0
    for (start, end), expected in zip(spans, reference[1:], strict=True):
        whole = AmiParser()
        whole.feed(data[:start])
        assert whole.buffered == 0  # the parser's state at a frame boundary is empty
        frame = data[start:end]
        multibyte += any(b >= 0x80 for b in frame)
        for cut in range(1, len(frame)):
            parser = AmiParser(expect_greeting=False)
            assert parser.feed(frame[:cut]) + parser.feed(frame[cut:]) == [expected], (
                f"split at byte {start + cut}"
            )
    assert greeting_end < first_end and multibyte > 10


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(QUEUE_BYTES)), max_size=40))
def test_random_chunkings_give_the_same_messages(cuts: list[int]) -> None:
    assert parse_chunks(QUEUE_BYTES, cuts) == parse_whole(QUEUE_BYTES)


def test_panoramisk_drops_a_chinese_character_split_across_reads() -> None:
    """Why we do not use panoramisk's protocol: it decodes each read on its own with
    errors='ignore' (panoramisk/ami_protocol.py, data_received)."""
    from panoramisk.ami_protocol import AMIProtocol

    got = []

    class Factory:
        def dispatch(self, message):  # type: ignore[no-untyped-def]
            got.append(message)

    proto = AMIProtocol()
    proto.connection_made(None)
    proto.factory = Factory()
    proto.encoding = "utf8"  # what panoramisk's Manager sets
    frame = "Event: QueueMemberPause\r\nMemberName: 李四\r\nPausedReason: 培训\r\n\r\n".encode()
    cut = frame.index("李".encode()) + 1
    proto.data_received(frame[:cut])
    proto.data_received(frame[cut:])
    assert got[0]["MemberName"] == "四"  # 李 is lost
    assert AmiParser(expect_greeting=False).feed(frame[:cut])  == []
    parser = AmiParser(expect_greeting=False)
    parser.feed(frame[:cut])
    assert parser.feed(frame[cut:])[0].get("MemberName") == "李四"


def test_panoramisk_never_resolves_added_interface_to_queue() -> None:
    """Why we do not use panoramisk's Manager for actions: the QueueAdd reply of the
    capture ("Message: Added interface to queue") is taken for the start of a list."""
    import asyncio

    from panoramisk.actions import Action
    from panoramisk.message import Message

    async def run() -> bool:
        action = Action({"Action": "QueueAdd", "ActionID": "qa-1"})
        reply = Message.from_line(
            "Response: Success\r\nActionID: qa-1\r\nMessage: Added interface to queue"
        )
        action.add_message(reply)
        return bool(action.future.done())

    assert asyncio.run(run()) is False


def test_line_without_colon_is_logged_and_the_rest_kept(caplog: pytest.LogCaptureFixture) -> None:
    parser = AmiParser(expect_greeting=False)
    with caplog.at_level(logging.WARNING, logger="hotline12345.agents.ami"):
        msgs = parser.feed(b"Event: QueueCallerJoin\r\nthis is garbage\r\nQueue: q1\r\n\r\n")
    assert len(msgs) == 1 and msgs[0].get("Queue") == "q1"
    record = next(r for r in caplog.records if r.getMessage() == "ami.frame.malformed")
    assert record.fields["reason"] == "line 2 is not 'Key: Value'"  # type: ignore[attr-defined]
    assert parser.malformed == 1


def test_frame_without_event_or_response_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    parser = AmiParser(expect_greeting=False)
    with caplog.at_level(logging.WARNING):
        msgs = parser.feed(b"Foo: bar\r\nCallerIDNum: 13900139000\r\n\r\nEvent: Ok\r\n\r\n")
    assert [m.name for m in msgs] == ["Ok"]
    record = next(r for r in caplog.records if r.getMessage() == "ami.frame.malformed")
    assert "neither 'Event' nor 'Response'" in record.fields["reason"]  # type: ignore[attr-defined]
    # The caller's number in the logged sample is masked.
    assert "13900139000" not in record.fields["sample"]  # type: ignore[attr-defined]
    assert "139****9000" in record.fields["sample"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("line", [
    "CallerIDNum: 13900139000 Exten: 12345",
    "Uniqueid: 1795849881.4",  # an Asterisk uniqueid is no phone number
    "CallerIDNum: +8613900139000",
    "Channel: PJSIP/13912345678-00000001",
    "Exten: 1234567 Priority: 123456",
])
def test_bad_frame_samples_mask_numbers_with_the_shared_masker(line: str) -> None:
    """One masking rule for the whole project: hotline12345.logs.mask_text."""
    from hotline12345.agents.codec import _sample
    from hotline12345.logs import mask_text

    assert _sample(line) == mask_text(line)


def test_invalid_utf8_is_replaced_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    parser = AmiParser(expect_greeting=False)
    with caplog.at_level(logging.WARNING):
        msgs = parser.feed(b"Event: QueueCallerJoin\r\nCallerIDName: \xe7\x8e\r\n\r\n")
    assert msgs[0].get("CallerIDName") == "\ufffd"
    assert any("invalid UTF-8" in r.fields["reason"] for r in caplog.records  # type: ignore[attr-defined]
               if r.getMessage() == "ami.frame.malformed")


def test_oversized_frame_is_dropped_and_parsing_resumes(caplog: pytest.LogCaptureFixture) -> None:
    parser = AmiParser(expect_greeting=False, max_frame_bytes=1000)
    with caplog.at_level(logging.WARNING):
        out = parser.feed(b"Event: Huge\r\nData: " + b"x" * 3000)
        out += parser.feed(b"y" * 2000 + b"\r\n\r\nEvent: After\r\n\r\n")
    assert [m.name for m in out] == ["After"]
    assert parser.buffered < 1000
    assert any(r.fields["reason"] == "frame too large" for r in caplog.records  # type: ignore[attr-defined]
               if r.getMessage() == "ami.frame.malformed")


def test_wrong_greeting_is_a_protocol_error() -> None:
    with pytest.raises(AmiProtocolError, match="not an AMI server"):
        AmiParser().feed(b"HTTP/1.1 400 Bad Request\r\n\r\n")


def test_greeting_has_no_blank_line_after_it() -> None:
    msgs = AmiParser().feed(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n"
                            b"ActionID: a\r\nMessage: Authentication accepted\r\n\r\n")
    assert [(m.kind, m.name) for m in msgs] == [("greeting", "11.0.0"), ("response", "Success")]


def test_repeated_keys_and_follows_body() -> None:
    parser = AmiParser(expect_greeting=False)
    msgs = parser.feed(
        b"Event: VarSet\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n"
        b"Response: Follows\r\nActionID: c1\r\nline one\r\nline two\r\n--END COMMAND--\r\n\r\n"
    )
    assert msgs[0].get_all("ChanVariable") == ["A=1", "B=2"]
    assert msgs[1].body == ("line one", "line two") and msgs[1].action_id == "c1"
    assert parser.malformed == 0


def test_encode_action_format_and_utf8() -> None:
    data = encode_action("QueuePause", "qp-1", {"Interface": "Local/agent2@agents/n",
                                                "Paused": "true", "Reason": "培训"})
    assert data == ("Action: QueuePause\r\nActionID: qp-1\r\nInterface: Local/agent2@agents/n\r\n"
                    "Paused: true\r\nReason: 培训\r\n\r\n").encode()


@pytest.mark.parametrize("value", ["a\r\nAction: Originate", "a\nb", "a\rb", "a\x00b"])
def test_encode_action_refuses_injection(value: str) -> None:
    with pytest.raises(AmiEncodeError) as info:
        encode_action("QueuePause", "x", {"Reason": value})
    assert info.value.field == "Reason"
