"""Reading every format MixMonitor writes, normalising, and refusing bad files clearly."""

from __future__ import annotations

import os
import struct
import subprocess
import time
import wave
from pathlib import Path

import pytest

from hotline12345.recordings.audio import (
    AudioLimits,
    BadRecording,
    DecodeRate,
    RecordingNotReady,
    g711_decode,
    has_speech_signal,
    read_recording,
)
from tests.recordings.conftest import RATE, Speech, write_wav

LIMITS = AudioLimits(settle_seconds=0.0)
AS_IS = DecodeRate(16000, allow_upsample=True)


def _sox(src: Path, dst: Path, *args: str) -> Path:
    subprocess.run(["sox", str(src), *args, str(dst)], check=True, capture_output=True)
    return dst


def _sox_pcm(src: Path, *in_args: str) -> bytes:
    out = subprocess.run(["sox", *in_args, str(src), "-t", "raw", "-e", "signed", "-b", "16",
                          "-"], check=True, capture_output=True)
    return out.stdout


@pytest.fixture
def wav8k(tmp_path: Path, speech: Speech) -> Path:
    return write_wav(tmp_path / "1.1.wav", speech.caller)


def _old(path: Path) -> Path:
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


@pytest.mark.parametrize(("ext", "sox_type"), [("ulaw", "ul"), ("ul", "ul"), ("pcm", "ul"),
                                               ("alaw", "al"), ("al", "al")])
def test_g711_raw_is_decoded_exactly_as_sox_does(wav8k: Path, tmp_path: Path, ext: str,
                                                 sox_type: str) -> None:
    path = _sox(wav8k, tmp_path / f"1.1.{ext}", "-t", sox_type)
    audio = read_recording(path, LIMITS, AS_IS)
    assert (audio.rate, audio.source_rate) == (8000, 8000)
    assert audio.pcm == _sox_pcm(path, "-t", sox_type, "-r", "8000", "-c", "1")


def test_g711_tables_match_the_standard_reference_points() -> None:
    # mu-law 0xFF and A-law 0xD5 are the zero codes; 0x00 / 0x2A are the extremes
    assert g711_decode(b"\xff\x7f\x00\x80", "ulaw") == struct.pack("<4h", 0, 0, -32124, 32124)
    assert g711_decode(b"\xd5\x2a\xaa", "alaw") == struct.pack("<3h", 8, -32256, 32256)


@pytest.mark.parametrize(("ext", "rate"), [("sln", 8000), ("raw", 8000), ("sln16", 16000)])
def test_signed_linear(wav8k: Path, tmp_path: Path, ext: str, rate: int) -> None:
    path = _sox(wav8k, tmp_path / f"1.1.{ext}", "-t", "raw", "-e", "signed", "-b", "16",
                "-r", str(rate))
    audio = read_recording(path, LIMITS, AS_IS)
    assert (audio.rate, audio.pcm) == (rate, path.read_bytes())


def test_wav_variants(wav8k: Path, tmp_path: Path) -> None:
    pcm = _sox_pcm(wav8k)
    assert read_recording(wav8k, LIMITS, AS_IS).pcm == pcm
    ulaw_wav = _sox(wav8k, tmp_path / "2.2.wav", "-e", "u-law")
    assert read_recording(ulaw_wav, LIMITS, AS_IS).pcm == _sox_pcm(ulaw_wav)
    wav16 = _sox(wav8k, tmp_path / "3.3.wav16", "-t", "wav", "-r", "16000")
    audio = read_recording(wav16, LIMITS, AS_IS)
    assert (audio.rate, audio.source_format) == (16000, "wav")


def test_gsm_is_decoded_with_ffmpeg(wav8k: Path, tmp_path: Path) -> None:
    path = _sox(wav8k, tmp_path / "1.1.gsm", "-t", "gsm")
    audio = read_recording(path, LIMITS, AS_IS)
    ref = _sox_pcm(path, "-t", "gsm")
    assert audio.rate == 8000
    assert len(audio.pcm) == len(ref)  # 160 samples per 33-byte frame
    # GSM decoders may differ in the last bit; the signal must be the same
    import array

    a, b = array.array("h", audio.pcm), array.array("h", ref)
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 64


def test_resampled_when_the_model_cannot_upsample(wav8k: Path) -> None:
    no_up = DecodeRate(16000, allow_upsample=False)
    assert no_up.for_input(8000) == 16000
    audio = read_recording(wav8k, LIMITS, no_up)
    assert (audio.rate, audio.source_rate) == (16000, 8000)
    assert len(audio.pcm) == pytest.approx(2 * wav8k.stat().st_size - 88, abs=8)
    assert AS_IS.for_input(8000) == 8000 and AS_IS.for_input(48000) == 48000


# --- bad input -----------------------------------------------------------------------------

def _wav_header(data_len: int, rate: int = RATE, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + data_len) + b"WAVE" + b"fmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits) +
            b"data" + struct.pack("<I", data_len))


def _bad(path: Path, limits: AudioLimits = LIMITS) -> BadRecording:
    with pytest.raises(BadRecording) as info:
        read_recording(path, limits, AS_IS)
    message = str(info.value)
    assert message.startswith(f"{path}: "), "the error names the file"
    assert "; " in message and info.value.fix, "and says how to fix it"
    return info.value


def test_empty(tmp_path: Path) -> None:
    path = tmp_path / "1.1.wav"
    path.write_bytes(b"")
    assert "empty file" in _bad(path).problem


def test_truncated(tmp_path: Path, wav8k: Path) -> None:
    cut = tmp_path / "2.2.wav"
    cut.write_bytes(wav8k.read_bytes()[:20000])
    err = _bad(_old(cut))
    assert "truncated" in err.problem and "header promises" in err.problem
    short = tmp_path / "3.3.wav"
    short.write_bytes(wav8k.read_bytes()[:30])
    assert "truncated" in _bad(short).problem
    sln = tmp_path / "4.4.sln"
    sln.write_bytes(b"\x01\x02\x03")
    assert "truncated" in _bad(sln).problem
    gsm = tmp_path / "5.5.gsm"
    gsm.write_bytes(b"\xd0" * 40)
    assert "truncated" in _bad(gsm).problem


@pytest.mark.parametrize(("name", "content", "what"), [
    ("1.1.wav", b"hello, this is a text file\n" * 10, "not a WAV file"),
    ("2.2.wav", b"%PDF-1.7\n" + bytes(range(256)), "a PDF document"),
    ("3.3.ulaw", b"%PDF-1.7\n" + bytes(range(256)), "a PDF document"),
    ("4.4.sln", b"just some notes\n" * 20, "a text file"),
    ("5.5.gsm", bytes(33 * 4), "GSM frames must start"),
    ("6.6.alaw", b"\x7fELF" + bytes(300), "an ELF executable"),
])
def test_not_audio(tmp_path: Path, name: str, content: bytes, what: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    err = _bad(path)
    assert "not audio" in err.problem and what in err.problem


def test_wrong_sample_rate(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "1.1.wav", b"\0\0" * 44100, rate=44100)
    err = _bad(path)
    assert "wrong sample rate: 44100 Hz" in err.problem and "sox in.wav -r 8000" in err.fix


def test_stereo(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "1.1.wav", b"\0\0\0\0" * 8000, channels=2)
    err = _bad(path)
    assert "stereo" in err.problem and "remix 1" in err.fix


def test_huge(tmp_path: Path) -> None:
    sparse = tmp_path / "1.1.sln"
    with sparse.open("wb") as f:
        f.truncate(3 * 2**30)  # 3 GiB of nothing: a sparse file costs no disk
    err = _bad(sparse)
    assert "huge file" in err.problem and "4.0 h limit" in err.problem
    long_wav = write_wav(tmp_path / "2.2.wav", b"\0\0" * RATE * 3)
    assert "huge file" in _bad(long_wav, AudioLimits(max_seconds=2.0,
                                                     settle_seconds=0.0)).problem


def test_no_audio_reads_as_no_samples_and_unknown_extension(tmp_path: Path) -> None:
    """A WAV header with no samples, a 0-byte raw file and pure silence are sound files
    holding no audio (the leg is marked 无语音), not bad recordings."""
    limits = AudioLimits(settle_seconds=0.0)
    empty_wav = write_wav(tmp_path / "1.1.wav", b"")
    (tmp_path / "1.2.sln").write_bytes(b"")
    quiet = write_wav(tmp_path / "1.3.wav", b"\x10\x00\xf0\xff" * 4000)  # +-16: line noise
    for path in (empty_wav, tmp_path / "1.2.sln", quiet):
        audio = read_recording(path, limits, AS_IS)
        assert not has_speech_signal(audio), path
    assert read_recording(empty_wav, limits, AS_IS).pcm == b""
    loud = write_wav(tmp_path / "1.4.wav", b"\x00\x10" * 4000)
    assert has_speech_signal(read_recording(loud, limits, AS_IS))
    mp3 = tmp_path / "2.2.mp3"
    mp3.write_bytes(b"ID3" + bytes(100))
    assert 'unknown extension ".mp3"' in _bad(mp3).problem


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in _bad(tmp_path / "1.1.wav").problem


def test_a_file_still_being_written_is_not_ready_then_salvaged(tmp_path: Path,
                                                               speech: Speech) -> None:
    """Asterisk writes the WAV sizes when it closes the file; until then they are 0."""
    path = tmp_path / "1.1.wav"
    path.write_bytes(_wav_header(0) + speech.caller)
    limits = AudioLimits(settle_seconds=30.0)
    with pytest.raises(RecordingNotReady) as info:
        read_recording(path, limits, AS_IS)
    assert 0 < info.value.retry_after <= 30.1
    _old(path)  # Asterisk died before closing it: keep what is there
    assert read_recording(path, limits, AS_IS).pcm == speech.caller


def test_wave_module_agrees_on_our_fixture(wav8k: Path) -> None:
    with wave.open(str(wav8k)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
