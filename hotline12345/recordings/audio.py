"""Reading MixMonitor recordings and normalising them for Vosk, with pydub.

Input is what MixMonitor writes: WAV (PCM, or G.711/GSM inside WAV), raw GSM 06.10, raw
mu-law / A-law, and signed-linear (``sln`` 8 kHz, ``sln16`` 16 kHz). Output is mono,
16-bit little-endian PCM at the rate the model is fed (see :class:`DecodeRate`).

Every file is checked before it is decoded, and one that cannot be read raises
:class:`BadRecording` naming the file, what is wrong and how to fix it: a 0-byte WAV (not even
its header), truncated, not audio, a sample rate MixMonitor does not write, stereo, or larger
than the configured limit. A file that holds no audio but is otherwise sound (a WAV header
with no samples, a 0-byte raw file, or pure silence) is no error: it reads as an
:class:`Audio` with no samples, and :func:`has_speech_signal` says it holds no sound, so the
pipeline marks the leg 无语音 and still makes the ticket. A file that
is still being written (modified within the settle time, or a WAV whose header Asterisk has
not finalised yet) raises :class:`RecordingNotReady` instead, and the job is retried later.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydub import AudioSegment
from pydub.exceptions import CouldntDecodeError

from hotline12345.recordings.naming import FORMATS

#: Sample rates MixMonitor writes (wav/sln/gsm/G.711 at 8 kHz; wav16/sln16 at 16 kHz).
DEFAULT_ACCEPTED_RATES: frozenset[int] = frozenset({8000, 16000})
#: Longest recording accepted by default: four hours.
DEFAULT_MAX_SECONDS = 4 * 3600.0

_GSM_FRAME = 33  # bytes per 20 ms GSM 06.10 frame (160 samples at 8 kHz)
_WAV_PLACEHOLDER_SIZES = (0, 0xFFFFFFFF)

_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"RIFF", "a RIFF/WAV file"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"ID3", "an MP3 file"),
    (b"OggS", "an Ogg file"),
    (b"fLaC", "a FLAC file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3", "an SQLite database"),
    (b"<", "an XML/HTML document"),
    (b"{", "a JSON document"),
)


class BadRecording(Exception):
    """A recording that cannot be transcribed. ``str()`` names the file, the problem and the fix."""

    def __init__(self, path: Path | str, problem: str, fix: str) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: {problem}; {fix}")


class RecordingNotReady(Exception):
    """The file is still being written; try again after ``retry_after`` seconds."""

    def __init__(self, path: Path | str, reason: str, retry_after: float) -> None:
        self.path = str(path)
        self.retry_after = retry_after
        super().__init__(f"{path}: {reason}; retrying in {retry_after:.1f} s")


@dataclass(frozen=True, slots=True)
class AudioLimits:
    accepted_rates: frozenset[int] = DEFAULT_ACCEPTED_RATES
    max_seconds: float = DEFAULT_MAX_SECONDS
    settle_seconds: float = 2.0  # a file modified more recently may still be growing


@dataclass(frozen=True, slots=True)
class DecodeRate:
    """Which rate to hand the recogniser, from the model's ``conf/mfcc.conf``.

    Kaldi resamples inside the feature pipeline when the config allows it (its windowed-sinc
    resampler is better than pydub's linear ``ratecv``), so audio goes in at its own rate
    when allowed; otherwise pydub resamples it to the model's rate first."""

    model_rate: int
    allow_upsample: bool
    allow_downsample: bool = True  # Vosk forces allow_downsample on

    def for_input(self, rate: int) -> int:
        if rate == self.model_rate:
            return rate
        if rate < self.model_rate and self.allow_upsample:
            return rate
        if rate > self.model_rate and self.allow_downsample:
            return rate
        return self.model_rate


@dataclass(frozen=True, slots=True)
class Audio:
    """Normalised audio: mono 16-bit little-endian PCM."""

    path: str
    pcm: bytes
    rate: int
    source_format: str
    source_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.rate


def _bytes_per_second(fmt: str) -> float:
    return {"gsm": 1650.0, "ulaw": 8000.0, "alaw": 8000.0, "sln": 16000.0,
            "sln16": 32000.0}.get(fmt, 16000.0)


def _sniff(head: bytes) -> str | None:
    """What a file that should be raw audio looks like instead, if it looks like something."""
    for magic, what in _MAGICS:
        if head.startswith(magic):
            return what
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:512]):
        return "a text file"
    return None


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def check_settled(path: Path, limits: AudioLimits, now: float | None = None) -> None:
    """Raise :class:`RecordingNotReady` if ``path`` was modified within the settle time."""
    age = (time.time() if now is None else now) - path.stat().st_mtime
    if age < limits.settle_seconds:
        raise RecordingNotReady(path, f"modified {age:.1f} s ago (still being written?)",
                                limits.settle_seconds - age + 0.1)


def load(path: Path, limits: AudioLimits, fmt: str | None = None) -> AudioSegment:
    """Check and decode one recording into a pydub segment (any width, mono)."""
    ext = path.suffix.lstrip(".").lower()
    fmt = fmt or FORMATS.get(ext)
    if fmt is None:
        raise BadRecording(path, f'unknown extension ".{ext}"',
                           f"name it .wav, .gsm, .ulaw, .alaw, .sln or .sln16 after its format "
                           f"({', '.join(sorted(FORMATS))} are read)")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BadRecording(path, "file not found",
                           "check the recordings directory is shared with this worker "
                           "(same path on every machine)") from None
    if size == 0:
        if fmt != "wav":  # a raw format has no header: no bytes is no audio
            return AudioSegment(data=b"", sample_width=2, frame_rate=8000 if fmt != "sln16"
                                else 16000, channels=1)
        raise BadRecording(path, "empty file (0 bytes, not even a WAV header)",
                           "MixMonitor could not write it: check the disk was not full and "
                           "the recordings directory is writable by Asterisk")
    max_bytes = limits.max_seconds * _bytes_per_second(fmt) * (2 if fmt == "wav" else 1) + 4096
    if size > max_bytes:
        est = size / _bytes_per_second(fmt)
        raise BadRecording(path, f"huge file ({size / 1e6:.0f} MB, about {_hours(est)} of audio) "
                           f"above the {_hours(limits.max_seconds)} limit",
                           "split it (sox in.wav out.wav trim 0 3600 : newfile : restart) or "
                           "raise recordings max_seconds")
    with path.open("rb") as f:
        data = f.read()
    if fmt == "wav":
        return _load_wav(path, data, limits)
    what = _sniff(data[:512])
    if what:
        raise BadRecording(path, f"not audio: the file is {what}",
                           f"a .{ext} file must hold raw {fmt} audio as MixMonitor writes it")
    if fmt in ("sln", "sln16"):
        rate = 16000 if fmt == "sln16" else 8000
        if len(data) % 2:
            raise BadRecording(path, f"truncated: {len(data)} bytes is not a whole number of "
                               "16-bit samples", "the copy was cut short; copy it again from "
                               "the Asterisk server")
        return AudioSegment(data=data, sample_width=2, frame_rate=rate, channels=1)
    if fmt in ("ulaw", "alaw"):
        return AudioSegment(data=g711_decode(data, fmt), sample_width=2, frame_rate=8000,
                            channels=1)
    # GSM 06.10: 33-byte frames, each starting with the 0xD signature nibble.
    if len(data) % _GSM_FRAME:
        raise BadRecording(path, f"truncated: {len(data)} bytes is not a whole number of "
                           f"{_GSM_FRAME}-byte GSM frames", "the copy was cut short; copy it "
                           "again from the Asterisk server")
    if any(data[i] >> 4 != 0xD for i in range(0, min(len(data), 50 * _GSM_FRAME), _GSM_FRAME)):
        raise BadRecording(path, "not audio: GSM frames must start with the 0xD signature",
                           "a .gsm file must hold raw GSM 06.10 frames as MixMonitor writes them")
    return _ffmpeg(path, "gsm", "gsm")


def _ffmpeg(path: Path, fmt: str, codec: str | None) -> AudioSegment:
    try:
        seg: AudioSegment = AudioSegment.from_file(str(path), format=fmt, codec=codec)
    except FileNotFoundError as exc:
        raise BadRecording(path, f"cannot decode {fmt}: ffmpeg is not installed ({exc})",
                           "install ffmpeg (apt-get install ffmpeg) on every worker") from None
    except (CouldntDecodeError, IndexError, KeyError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise BadRecording(path, f"not audio, or a damaged {fmt} file (ffmpeg: {detail})",
                           "check the file plays (ffprobe FILE); re-copy it from the "
                           "Asterisk server") from None
    return seg


def _load_wav(path: Path, data: bytes, limits: AudioLimits) -> AudioSegment:
    if not (data.startswith(b"RIFF") and data[8:12] == b"WAVE"):
        what = _sniff(data[:512]) or "not RIFF/WAVE"
        raise BadRecording(path, f"not audio: not a WAV file (it is {what})",
                           "a .wav file must be a RIFF/WAVE file as MixMonitor writes it")
    if len(data) < 44:
        raise BadRecording(path, f"truncated: {len(data)} bytes, shorter than a WAV header",
                           "the copy was cut short; copy it again from the Asterisk server")
    fmt_chunk: bytes | None = None
    data_start = data_len = -1
    pos = 12
    while pos + 8 <= len(data):
        cid, clen = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt_chunk = data[body:body + clen]
        elif cid == b"data":
            data_start, data_len = body, clen
            break
        pos = body + clen + (clen & 1)
    if fmt_chunk is None or len(fmt_chunk) < 16:
        raise BadRecording(path, "truncated or damaged WAV: no complete fmt chunk",
                           "copy it again from the Asterisk server")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt_chunk)
    if tag == 0xFFFE and len(fmt_chunk) >= 26:
        tag = struct.unpack_from("<H", fmt_chunk, 24)[0]
    if data_start < 0:
        raise BadRecording(path, "truncated WAV: no data chunk", "copy it again from the "
                           "Asterisk server")
    if channels != 1:
        raise BadRecording(path, f"stereo: {channels} channels, MixMonitor records mono",
                           "record each party with MixMonitor's r()/t() options, or split the "
                           "channels: sox in.wav out-caller.wav remix 1; sox in.wav "
                           "out-seat.wav remix 2")
    if rate not in limits.accepted_rates:
        accepted = " or ".join(str(r) for r in sorted(limits.accepted_rates))
        raise BadRecording(path, f"wrong sample rate: {rate} Hz, MixMonitor writes {accepted} Hz",
                           f"resample it: sox in.wav -r {min(limits.accepted_rates)} out.wav")
    present = len(data) - data_start
    if data_len in _WAV_PLACEHOLDER_SIZES:
        # Asterisk writes the sizes when it closes the file: a placeholder means it is still
        # recording, or died before closing. After the settle time, keep what is there.
        check_settled(path, limits)
        data_len = present
    elif data_len > present:
        raise BadRecording(path, f"truncated: the WAV header promises {data_len} bytes of audio, "
                           f"the file holds {present}", "the copy was cut short; copy it again "
                           "from the Asterisk server")
    pcm = data[data_start:data_start + data_len]
    bytes_per_s = rate * max(bits, 8) // 8 if tag == 1 else rate
    if len(pcm) / bytes_per_s > limits.max_seconds:
        raise BadRecording(path, f"huge file ({_hours(len(pcm) / bytes_per_s)} of audio) above "
                           f"the {_hours(limits.max_seconds)} limit",
                           "split it (sox in.wav out.wav trim 0 3600 : newfile : restart) or "
                           "raise recordings max_seconds")
    if tag == 1:
        if bits not in (8, 16, 24, 32):
            raise BadRecording(path, f"unsupported PCM width: {bits} bits",
                               "convert it to 16-bit: sox in.wav -b 16 out.wav")
        width = bits // 8
        pcm = pcm[: len(pcm) - len(pcm) % width]  # may be empty: a leg with no audio
        if width == 1:  # WAV 8-bit PCM is unsigned; pydub expects it so
            return AudioSegment(data=pcm, sample_width=1, frame_rate=rate, channels=1)
        return AudioSegment(data=pcm, sample_width=width, frame_rate=rate, channels=1)
    if tag in (6, 7):  # A-law, mu-law inside WAV
        return AudioSegment(data=g711_decode(pcm, "alaw" if tag == 6 else "ulaw"),
                            sample_width=2, frame_rate=rate, channels=1)
    if tag == 0x31:  # GSM 6.10 in WAV (Asterisk's wav49)
        return _ffmpeg(path, "wav", None)
    raise BadRecording(path, f"unsupported WAV encoding (format tag 0x{tag:04x})",
                       "convert it to 16-bit PCM: sox in.wav -e signed -b 16 out.wav")


#: Peak amplitude (16-bit) at or below which a leg is silence: about -50 dBFS, below any
#: voice on a telephone line, above the dither and comfort noise of a silent trunk.
SILENCE_PEAK = 100


def has_speech_signal(audio: Audio) -> bool:
    """Whether ``audio`` holds any sound: samples, some above :data:`SILENCE_PEAK`."""
    if not audio.pcm:
        return False
    peak: int = AudioSegment(data=audio.pcm, sample_width=2, frame_rate=audio.rate,
                             channels=1).max
    return peak > SILENCE_PEAK


def normalise(path: Path, segment: AudioSegment, rate: DecodeRate, fmt: str) -> Audio:
    """Mono, 16-bit, at the rate the recogniser is fed."""
    seg = segment
    source_rate = int(seg.frame_rate)
    if seg.channels != 1:
        seg = seg.set_channels(1)
    if seg.sample_width != 2:
        seg = seg.set_sample_width(2)
    target = rate.for_input(source_rate)
    if target != source_rate:
        seg = seg.set_frame_rate(target)
    raw: Any = seg.raw_data
    return Audio(str(path), bytes(raw), target, fmt, source_rate)


def read_recording(path: Path, limits: AudioLimits, rate: DecodeRate) -> Audio:
    """Check, decode and normalise one file."""
    ext = path.suffix.lstrip(".").lower()
    segment = load(path, limits)
    return normalise(path, segment, rate, FORMATS.get(ext, ext))


# --- G.711 (ITU-T) decoding, table-driven ---------------------------------------------------

def _ulaw(byte: int) -> int:
    u = ~byte & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def _alaw(byte: int) -> int:
    a = byte ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _tables(fn: Any) -> tuple[bytes, bytes]:
    lo = bytearray(256)
    hi = bytearray(256)
    for b in range(256):
        v = fn(b) & 0xFFFF
        lo[b], hi[b] = v & 0xFF, v >> 8
    return bytes(lo), bytes(hi)


_G711 = {"ulaw": _tables(_ulaw), "alaw": _tables(_alaw)}


def g711_decode(data: bytes, law: str) -> bytes:
    """Decode mu-law or A-law bytes into 16-bit little-endian PCM."""
    lo, hi = _G711[law]
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)
