"""``prompts build``: every prompt becomes an 8 kHz mono 16-bit WAV Asterisk plays, from
espeak-ng Mandarin or from the site's own recording; missing tools give an install hint."""

from __future__ import annotations

import array
import os
import shutil
import stat
import subprocess
import wave
from pathlib import Path

import pytest

from hotline12345.asterisk import PromptBuildError, build_prompts, catalogue
from hotline12345.asterisk.prompts import (
    BUILTIN_PROMPTS,
    DEFAULT_VOICE,
    PROBE_TEXT,
    check_tools,
    speakable,
    wav_problem,
)
from hotline12345.cli import main
from hotline12345.config import Site, default_site_path, load_site


def header(path: Path) -> tuple[int, int, int, int]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def peak(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        samples = array.array("h", w.readframes(w.getnframes()))
    return max((abs(s) for s in samples), default=0)


def test_every_prompt_builds_to_8khz_mono_16bit(tmp_path: Path, site: Site) -> None:
    out = tmp_path / "sounds"
    paths = build_prompts(site, out)
    ids = list(catalogue(site))
    assert [p.name for p in paths] == [f"{pid}.wav" for pid in ids]
    assert {"now-12345", "transition-12317", "ask-enterprise", *BUILTIN_PROMPTS} <= set(ids)
    assert len([i for i in ids if i.startswith("transition-")]) == len(site.register)
    for path in paths:
        rate, channels, width, frames = header(path)
        assert (rate, channels, width) == (8000, 1, 2), path.name
        assert frames > 8000 // 2, f"{path.name}: under half a second of speech"
        assert peak(path) > 1000, f"{path.name}: silent"
        assert wav_problem(path) is None


def test_build_is_reproducible(tmp_path: Path, site: Site) -> None:
    a = build_prompts(site, tmp_path / "a", only=["now-12345"])
    b = build_prompts(site, tmp_path / "b", only=["now-12345"])
    assert a[0].read_bytes() == b[0].read_bytes()


def test_default_voice_speaks_chinese_not_english_pinyin() -> None:
    phonemes = subprocess.run(["espeak-ng", "-v", DEFAULT_VOICE, "-q", "-x", PROBE_TEXT],
                              capture_output=True, text=True, check=True).stdout
    assert phonemes.strip() and "(en)" not in phonemes


def test_digits_are_read_the_way_hotlines_read_numbers() -> None:
    assert speakable("以后请直接拨打12345，企业请按1") == "以后请直接拨打幺二三四五，企业请按一"
    assert speakable("12319已并入") == "幺二三幺九已并入"
    assert speakable("按10") == "按一零"


def test_a_site_recording_is_converted(tmp_path: Path) -> None:
    recording = tmp_path / "hold.wav"
    with wave.open(str(recording), "wb") as w:  # 16 kHz stereo: what a studio delivers
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        tone = array.array("h", [(8000 if (i // 20) % 2 else -8000) for i in range(16000)])
        stereo = array.array("h", [s for s in tone for _ in (0, 1)])
        w.writeframes(stereo.tobytes())
    text = default_site_path().read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("queue-hold:"))
    site_file = tmp_path / "site.yaml"
    site_file.write_text(text.replace(line, "  queue-hold: {file: hold.wav}"), encoding="utf-8")
    site = load_site(site_file)
    source = catalogue(site)["queue-hold"]
    assert source.file == recording.resolve() and source.text == ""
    (path,) = build_prompts(site, tmp_path / "out", only=["queue-hold"])
    rate, channels, width, frames = header(path)
    assert (rate, channels, width) == (8000, 1, 2)
    assert 7900 <= frames <= 8100  # one second, resampled
    assert peak(path) > 4000


def test_missing_espeak_ng_says_how_to_install_it(tmp_path: Path, site: Site,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(PromptBuildError, match=r"apt-get install espeak-ng sox"):
        build_prompts(site, tmp_path / "out")
    assert main(["prompts", "build", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "espeak-ng and sox not found" in err and "apt-get install espeak-ng sox" in err
    assert not (tmp_path / "out").exists()


def test_a_voice_that_reads_chinese_as_english_is_refused(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """espeak-ng 1.51's cmn voice reads pinyin as English; the probe must catch such a voice.
    A stand-in espeak-ng answers like that one."""
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "espeak-ng"
    script.write_text("#!/bin/sh\n"
                      "case \"$*\" in\n"
                      "  *--voices*) printf 'Pty Language Age/Gender VoiceName File\\n"
                      " 5  cmn --/M Chinese sit/cmn\\n';;\n"
                      "  *-x*) printf \"(en)nI55nt'u:55_| h,eI55@55Tr'i:55(cmn)_|\\n\";;\n"
                      "esac\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    sox = shutil.which("sox")
    assert sox is not None
    os.symlink(sox, fake / "sox")
    monkeypatch.setenv("PATH", str(fake))
    with pytest.raises(PromptBuildError, match="cmn-latn-pinyin"):
        check_tools("cmn")
    with pytest.raises(PromptBuildError, match='no voice "xx"'):
        check_tools("xx")


def test_unknown_prompt_ids_are_refused(tmp_path: Path, site: Site) -> None:
    with pytest.raises(PromptBuildError, match="unknown prompt id"):
        build_prompts(site, tmp_path, only=["no-such-prompt"])


def test_wav_problem_names_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not a wave")
    assert "not a readable WAV" in (wav_problem(bad) or "")
    wide = tmp_path / "wide.wav"
    with wave.open(str(wide), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x01" * 100)
    assert "16000 Hz" in (wav_problem(wide) or "")


def test_cli_build_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "build", "--out", str(tmp_path), "--only", "survey-thanks"]) == 0
    assert header(tmp_path / "survey-thanks.wav")[:3] == (8000, 1, 2)
    capsys.readouterr()
    assert main(["prompts", "list"]) == 0
    listing = capsys.readouterr().out
    assert "transition-12317" in listing and "built-in (survey flow)" in listing
