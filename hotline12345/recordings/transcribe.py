"""Decoding with Vosk: a streaming ``KaldiRecognizer`` per leg, with word times and confidences.

Audio goes to the recogniser in chunks of :data:`CHUNK_SECONDS`; each time Vosk reports an
endpoint (``AcceptWaveform`` returns true) the utterance is closed with ``Result()``, and the
rest with ``FinalResult()``. Chunking decides where Vosk may cut utterances, so it is part of
the contract: a direct decode with the same chunking gives exactly the same transcript.

``SetWords(True)`` gives each word its start, end and confidence. Partial results are never
read (the pipeline decodes finished recordings), so ``SetPartialWords`` stays off.

A grammar restricts the vocabulary; Vosk takes it as a JSON list which must be written with
``ensure_ascii=False``: an escaped ``"\\u9000"`` is looked up literally and silently matches
nothing. :func:`grammar_json` is the one place that writes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hotline12345.recordings.audio import Audio
from hotline12345.recordings.vosk_model import LoadedModel
from hotline12345.tickets.enums import Speaker

CHUNK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start: float
    end: float
    conf: float

    def as_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start": self.start, "end": self.end, "conf": self.conf}


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: Speaker
    start: float
    end: float
    text: str
    words: tuple[Word, ...]


def grammar_json(phrases: Iterable[str]) -> str:
    """A Vosk grammar: a JSON list of phrases, UTF-8 as is (never ``\\uXXXX``). Add
    ``"[unk]"`` to let other speech through as unknown, if the model's vocabulary has it."""
    return json.dumps([p for p in phrases if p], ensure_ascii=False)


def recognizer(model: LoadedModel, rate: int, grammar: Sequence[str] = ()) -> Any:
    from vosk import KaldiRecognizer

    rec = (KaldiRecognizer(model.model, float(rate), grammar_json(grammar)) if grammar
           else KaldiRecognizer(model.model, float(rate)))
    rec.SetWords(True)
    return rec


def raw_results(model: LoadedModel, pcm: bytes, rate: int, *, grammar: Sequence[str] = (),
                on_chunk: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Stream 16-bit mono ``pcm`` through a fresh recogniser; Vosk's result objects in order.
    ``on_chunk`` (tests: stop a worker in mid-decode) is called after every chunk the
    recogniser has taken. (A running job's lease is renewed by the worker's
    :class:`~hotline12345.recordings.pipeline.LeaseKeeper` thread, not from here.)"""
    rec = recognizer(model, rate, grammar)
    step = int(rate * CHUNK_SECONDS) * 2
    results: list[dict[str, Any]] = []
    for offset in range(0, len(pcm), step):
        if rec.AcceptWaveform(pcm[offset:offset + step]):
            results.append(json.loads(rec.Result()))
        if on_chunk is not None:
            on_chunk()
    results.append(json.loads(rec.FinalResult()))
    return results


def utterances_from(results: Iterable[dict[str, Any]], speaker: Speaker) -> list[Utterance]:
    out: list[Utterance] = []
    for res in results:
        words = tuple(Word(str(w["word"]), float(w["start"]), float(w["end"]),
                           float(w.get("conf", 1.0))) for w in res.get("result", ()))
        text = str(res.get("text", "")).strip()
        if not words and not text:
            continue
        start = words[0].start if words else 0.0
        end = words[-1].end if words else 0.0
        out.append(Utterance(speaker, start, end, text, words))
    return out


def decode(model: LoadedModel, audio: Audio, speaker: Speaker, *, grammar: Sequence[str] = (),
           on_chunk: Callable[[], None] | None = None) -> list[Utterance]:
    return utterances_from(raw_results(model, audio.pcm, audio.rate, grammar=grammar,
                                       on_chunk=on_chunk),
                           speaker)


_ORDER = {Speaker.CALLER: 0, Speaker.SEAT: 1, Speaker.MIXED: 2}


def dialogue(*legs: Iterable[Utterance]) -> list[Utterance]:
    """Merge the legs' utterances into one dialogue ordered by time."""
    merged = [u for leg in legs for u in leg]
    merged.sort(key=lambda u: (u.start, _ORDER[u.speaker], u.end))
    return merged


def format_time(seconds: float) -> str:
    minutes, sec = divmod(seconds, 60.0)
    return f"{int(minutes):02d}:{sec:04.1f}"


def dialogue_text(utterances: Iterable[Utterance]) -> str:
    """``[00:01.2] 来电人：…`` one line per utterance."""
    return "\n".join(f"[{format_time(u.start)}] {u.speaker.value}：{u.text}" for u in utterances)
