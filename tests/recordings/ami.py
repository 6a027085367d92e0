"""Reading the real Asterisk 22 AMI captures (../shared/asterisk-22-captures) into events."""

from __future__ import annotations

from tests.captures import CAPTURES


def parse_frames(data: bytes) -> list[dict[str, str]]:
    """AMI messages: ``Key: Value`` lines, CRLF, each message closed by an empty line."""
    events = []
    for block in data.decode("utf-8").split("\r\n\r\n"):
        fields: dict[str, str] = {}
        for line in block.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                fields.setdefault(key, value)
            elif line.endswith(":"):
                fields.setdefault(line[:-1], "")
        if "Event" in fields:
            events.append(fields)
    return events


def capture_events(name: str) -> list[dict[str, str]]:
    return parse_frames((CAPTURES / name).read_bytes())
