"""Prompt audio: the catalogue of every prompt Asterisk plays, and ``prompts build``.

The catalogue holds, by prompt id (the sound ``hotline12345/<id>``):

- every site prompt (``prompts:`` in the site file: Chinese ``text`` or a recorded ``file``);
- every register row's transition prompt, ``transition-<number>`` (its Chinese ``prompt``);
- the survey flow's prompts (``survey-question``, ``survey-invalid``, ``survey-thanks``), with
  built-in texts unless the site file defines prompts of the same ids.

``build_prompts`` turns each into ``<out>/<id>.wav``: 8 kHz, mono, 16-bit PCM, the format
Asterisk's ``format_wav`` plays without transcoding from slin. Text is spoken by espeak-ng's
Mandarin voice and resampled with sox; recorded files are converted with sox.
Digits are spelt out the way Chinese hotlines read numbers (12345 → 幺二三四五).

The default voice is ``cmn-latn-pinyin``, not ``cmn``: espeak-ng 1.51 (Debian 12) turns
Chinese characters into pinyin with tone digits and then, in ``cmn`` ("latin as English"),
reads that pinyin as English (您好 → "nin two hao three"). ``cmn-latn-pinyin`` reads it as
pinyin. :func:`check_tools` probes the voice and refuses one that switches to English.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hotline12345.config.schema import Site

DEFAULT_VOICE = "cmn-latn-pinyin"
RATE = 8000
PROBE_TEXT = "您好"
INSTALL_HINT = "install them with: sudo apt-get install espeak-ng sox"

#: Prompts the controller's survey flow plays (hotline12345/ivr/flows/survey.py).
BUILTIN_PROMPTS: dict[str, str] = {
    "survey-question": "请您对本次服务进行评价：非常满意请按5，满意请按4，基本满意请按3，"
                       "不满意请按2，非常不满意请按1。",
    "survey-invalid": "输入有误，请按1到5之间的数字键。",
    "survey-thanks": "感谢您的评价，再见。",
}

#: Extensions Asterisk can play a prompt from, in the order ``check`` looks for them.
SOUND_EXTENSIONS = (".wav", ".sln", ".sln16", ".gsm", ".ulaw", ".alaw", ".g722")

_LONG_DIGITS = "零幺二三四五六七八九"  # numbers of 3+ digits: read digit by digit, 1 = 幺
_SHORT_DIGITS = "零一二三四五六七八九"  # "按1": 一


class PromptBuildError(RuntimeError):
    """A prompt could not be built; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class PromptSource:
    id: str
    origin: str  # where it is defined, for messages: "site prompts[now-12345]", ...
    text: str = ""
    file: Path | None = None  # a recording supplied by the site (absolute)


def catalogue(site: Site) -> dict[str, PromptSource]:
    """Every prompt the controller or the dialplan plays, by id, in a stable order."""
    base = Path(site.source).parent
    out: dict[str, PromptSource] = {}
    for pid, prompt in site.file.prompts.items():
        out[pid] = PromptSource(pid, f"site prompts[{pid}]", text=prompt.text,
                                file=(base / prompt.file).resolve() if prompt.file else None)
    for row in site.register:
        pid = row.prompt_id
        if pid not in out:
            out[pid] = PromptSource(pid, f"register {row.number} ({row.name})", text=row.prompt)
    for pid, text in BUILTIN_PROMPTS.items():
        if pid not in out:
            out[pid] = PromptSource(pid, "built-in (survey flow)", text=text)
    return out


def speakable(text: str) -> str:
    """Spell digits out: runs of 3+ digits digit by digit with 幺 for 1 (phone numbers),
    shorter runs with 一 (\"按1\" → \"按一\")."""
    def spell(match: re.Match[str]) -> str:
        digits = match.group(0)
        table = _LONG_DIGITS if len(digits) >= 3 else _SHORT_DIGITS
        return "".join(table[int(d)] for d in digits)
    return re.sub(r"[0-9]+", spell, text)


def find_audio(sounds_dir: Path, pid: str) -> Path | None:
    """The file Asterisk would play for ``hotline12345/<pid>`` from ``sounds_dir``."""
    for ext in SOUND_EXTENSIONS:
        candidate = sounds_dir / f"{pid}{ext}"
        if candidate.is_file():
            return candidate
    return None


def wav_problem(path: Path) -> str | None:
    """Why a ``.wav`` prompt would not play as intended, or None when it is 8 kHz mono 16-bit."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width, frames = (w.getframerate(), w.getnchannels(),
                                             w.getsampwidth(), w.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        return f"is not a readable WAV file ({exc})"
    if (rate, channels, width) != (RATE, 1, 2):
        return (f"is {rate} Hz, {channels} channel(s), {8 * width}-bit; Asterisk plays 8000 Hz "
                "mono 16-bit WAV (rebuild it with `hotline12345 prompts build`)")
    if frames == 0:
        return "holds no audio"
    return None


def check_tools(voice: str = DEFAULT_VOICE, *, need_espeak: bool = True) -> None:
    """Raise :class:`PromptBuildError` unless sox (and espeak-ng with ``voice``) are usable."""
    missing = [tool for tool in (("espeak-ng", "sox") if need_espeak else ("sox",))
               if shutil.which(tool) is None]
    if missing:
        raise PromptBuildError(f"{' and '.join(missing)} not found on PATH; {INSTALL_HINT}")
    if need_espeak:
        listing = _run(["espeak-ng", f"--voices={voice.split('-')[0]}"], "list espeak-ng voices")
        names = {line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1}
        if voice not in names:
            raise PromptBuildError(
                f'espeak-ng has no voice "{voice}" (found: {", ".join(sorted(names)) or "none"});'
                f" the Mandarin voices are cmn-latn-pinyin and cmn (espeak-ng --voices=zh lists "
                f"them); {INSTALL_HINT}")
        phonemes = _run(["espeak-ng", "-v", voice, "-q", "-x", "--", PROBE_TEXT],
                        f"probe voice {voice}")
        if "(en)" in phonemes:
            raise PromptBuildError(
                f'espeak-ng voice "{voice}" reads Chinese characters as English-spelt pinyin '
                f'({PROBE_TEXT} → {phonemes.strip()[:60]}); use --voice {DEFAULT_VOICE}')


def build_prompts(site: Site, out: Path, *, voice: str = DEFAULT_VOICE,
                  only: Iterable[str] | None = None, jobs: int | None = None) -> list[Path]:
    """Write ``<out>/<id>.wav`` for every catalogue prompt (or those in ``only``)."""
    prompts = catalogue(site)
    if only is not None:
        wanted = list(only)
        unknown = [pid for pid in wanted if pid not in prompts]
        if unknown:
            raise PromptBuildError(f"unknown prompt id(s) {', '.join(unknown)}; known: "
                                   f"{', '.join(prompts)}")
        prompts = {pid: prompts[pid] for pid in wanted}
    check_tools(voice, need_espeak=any(p.file is None for p in prompts.values()))
    for p in prompts.values():
        if p.file is not None and not p.file.is_file():
            raise PromptBuildError(f"{p.origin}: recording {p.file} not found")
    out.mkdir(parents=True, exist_ok=True)
    workers = jobs or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: _build_one(p, out, voice), prompts.values()))


def _build_one(prompt: PromptSource, out: Path, voice: str) -> Path:
    target = out / f"{prompt.id}.wav"
    with tempfile.TemporaryDirectory(prefix="hotline12345-prompt-") as tmp:
        if prompt.file is not None:
            source = prompt.file
        else:
            text = speakable(prompt.text).strip()
            if not text:
                raise PromptBuildError(f"{prompt.origin}: the prompt text is empty")
            source = Path(tmp) / "speech.wav"
            _run(["espeak-ng", "-v", voice, "-w", str(source), "--", text],
                 f"speak {prompt.origin}")
        partial = Path(tmp) / "out.wav"
        # -D: no dither, so a rebuild from the same text gives the same bytes.
        _run(["sox", "-D", str(source), "-r", str(RATE), "-c", "1", "-b", "16", "-e",
              "signed-integer", str(partial)], f"convert {prompt.origin}")
        problem = wav_problem(partial)
        if problem is not None:
            raise PromptBuildError(f"{prompt.origin}: the converted audio {problem}")
        shutil.move(str(partial), target)
    return target


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        raise PromptBuildError(f"{argv[0]} not found on PATH; {INSTALL_HINT}") from None
    except subprocess.TimeoutExpired:
        raise PromptBuildError(f"{what}: {argv[0]} did not finish within 120 s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise PromptBuildError(f"{what}: {argv[0]} failed (exit {done.returncode})"
                               + (f": {detail[-1]}" if detail else ""))
    return done.stdout
