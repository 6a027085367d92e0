"""The Vosk model: checked and loaded once, at start-up, before workers are forked.

Nothing is ever downloaded: the model directory is configured (``speech.model`` in the site
file, ``--model``, or ``HOTLINE12345_VOSK_MODEL``); production uses vosk-model-small-cn-0.22
or vosk-model-cn-0.22 for Mandarin.

**Reproducible decodes.** Kaldi's MFCC front end adds random dither (``--dither=1.0`` by
default), so two decodes of the same audio differ. Vosk has no API for it; the only knob is
the model's ``conf/mfcc.conf``. With ``dither_zero`` (the default) the model is loaded from a
private overlay directory: symlinks to every file of the model except ``conf/mfcc.conf``,
which is a copy with ``--dither=0.0`` appended (the last value of an option wins). The
model directory itself is never modified, and the overlay is removed once Vosk has read it.

**8 kHz audio.** A model whose ``mfcc.conf`` lacks ``--allow-upsample=true`` rejects audio
below its rate. :func:`inspect_model` reads the file at start-up; the pipeline then
resamples with pydub (``upsample="resample"``, logged once), or refuses to start
(``upsample="refuse"``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline12345.env import VOSK_MODEL_ENV
from hotline12345.logs import log_event
from hotline12345.recordings.audio import DecodeRate

log = logging.getLogger(__name__)

_HOW = (f"set speech.model in the site file (or --model, or {VOSK_MODEL_ENV}) to an "
        "unpacked Vosk model directory such as vosk-model-small-cn-0.22; models are never "
        "downloaded at run time")


class ModelError(Exception):
    """The configured model cannot be used; the message names the path and the fix."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    path: Path
    name: str
    mfcc_conf: Path
    sample_rate: int
    allow_upsample: bool
    allow_downsample: bool
    dither: float | None  # as written in mfcc.conf; None = Kaldi's default 1.0

    def decode_rate(self, upsample: str = "resample") -> DecodeRate:
        return DecodeRate(self.sample_rate, self.allow_upsample, self.allow_downsample)


def _parse_conf(path: Path) -> dict[str, str]:
    opts: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("--"):
            continue
        key, _, value = line[2:].partition("=")
        opts[key.strip().replace("_", "-")] = value.strip() or "true"
    return opts


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes")


def model_name(path: Path) -> str:
    """The model's name for tickets: its directory name (the package name for a PyPI model
    whose directory is just ``model``)."""
    resolved = path.resolve()
    if resolved.name == "model" and resolved.parent.name:
        return resolved.parent.name.replace("_", "-")
    return resolved.name


def inspect_model(path: str | os.PathLike[str] | None) -> ModelInfo:
    """Check the model directory's layout and read its feature config; raise :class:`ModelError`
    with the path and the fix if anything is missing."""
    if path is None or str(path).strip() == "":
        raise ModelError(f"no Vosk model configured: {_HOW}")
    root = Path(path).expanduser()
    if not root.exists():
        raise ModelError(f"Vosk model {root}: directory not found; {_HOW}")
    if not root.is_dir():
        raise ModelError(f"Vosk model {root}: not a directory (an unpacked archive is needed: "
                         f"unzip vosk-model-small-cn-0.22.zip); {_HOW}")
    if (root / "am" / "final.mdl").is_file():
        mfcc = root / "conf" / "mfcc.conf"
        graph = root / "graph"
    elif (root / "final.mdl").is_file():
        mfcc = root / "mfcc.conf"
        graph = root
    else:
        raise ModelError(f"Vosk model {root}: am/final.mdl is missing, so this is not a Vosk "
                         f"model directory (or the archive was unpacked one level too high or "
                         f"low); {_HOW}")
    if not mfcc.is_file():
        raise ModelError(f"Vosk model {root}: {mfcc.relative_to(root)} is missing; the model is "
                         f"incomplete: unpack it again")
    if not ((graph / "HCLG.fst").is_file() or
            ((graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file())):
        raise ModelError(f"Vosk model {root}: no decoding graph ({graph.relative_to(root) or '.'}"
                         f"/HCLG.fst, or HCLr.fst with Gr.fst); the model is incomplete: unpack "
                         f"it again")
    opts = _parse_conf(mfcc)
    try:
        rate = int(float(opts.get("sample-frequency", "16000")))
    except ValueError:
        raise ModelError(f"{mfcc}: --sample-frequency={opts['sample-frequency']} is not a "
                         "number; fix the model's config") from None
    dither = opts.get("dither")
    return ModelInfo(
        path=root,
        name=model_name(root),
        mfcc_conf=mfcc,
        sample_rate=rate,
        allow_upsample=_truthy(opts.get("allow-upsample")),
        allow_downsample=True,
        dither=float(dither) if dither is not None else None,
    )


def check_rate_support(info: ModelInfo, input_rate: int, upsample: str) -> None:
    """The start-up check for 8 kHz recordings: log how they will be handled, or refuse."""
    if input_rate >= info.sample_rate or info.allow_upsample:
        return
    if upsample == "refuse":
        raise ModelError(f"Vosk model {info.path}: {info.mfcc_conf.name} lacks "
                         f"--allow-upsample=true, so it rejects {input_rate} Hz audio (the model "
                         f"runs at {info.sample_rate} Hz); add --allow-upsample=true to "
                         f"{info.mfcc_conf}, or set speech upsample to resample")
    log_event(log, "recordings.model.resample", level=logging.WARNING, model=str(info.path),
              model_rate=info.sample_rate, input_rate=input_rate,
              hint=f"{info.mfcc_conf} lacks --allow-upsample=true: {input_rate} Hz recordings "
                   f"are resampled to {info.sample_rate} Hz with pydub")


def _overlay(info: ModelInfo, dither: float) -> Path:
    """A private directory that looks like the model but with ``--dither=<dither>``."""
    top = Path(tempfile.mkdtemp(prefix="hotline12345-vosk-"))
    conf_rel = info.mfcc_conf.relative_to(info.path)
    root = info.path.resolve()
    for entry in root.iterdir():
        if len(conf_rel.parts) > 1 and entry.name == conf_rel.parts[0]:
            (top / entry.name).mkdir()
            for sub in entry.iterdir():
                if sub.name != conf_rel.name:
                    (top / entry.name / sub.name).symlink_to(sub)
        elif entry.name != conf_rel.name:
            (top / entry.name).symlink_to(entry)
    text = info.mfcc_conf.read_text(encoding="utf-8", errors="replace")
    if text and not text.endswith("\n"):
        text += "\n"
    (top / conf_rel).write_text(f"{text}--dither={dither}\n", encoding="utf-8")
    return top


class LoadedModel:
    """A loaded ``vosk.Model`` with what the pipeline needs to know about it. Load it in the
    parent process and fork the workers after, so they share its pages."""

    def __init__(self, info: ModelInfo, vosk_model: Any, dither_zero: bool,
                 language: str, upsample: str = "resample") -> None:
        self.info = info
        self.model = vosk_model
        self.dither_zero = dither_zero
        self.language = language
        self.upsample = upsample

    @property
    def name(self) -> str:
        return self.info.name

    def decode_rate(self) -> DecodeRate:
        return self.info.decode_rate(self.upsample)


def load_model(path: str | os.PathLike[str] | None, *, dither_zero: bool = True,
               language: str = "zh-CN", upsample: str = "resample",
               expected_rate: int = 8000) -> LoadedModel:
    """Check and load the model once; raise :class:`ModelError` (naming the path and the fix)
    if it is missing, incomplete or damaged."""
    if upsample not in ("resample", "refuse"):
        raise ModelError(f'speech upsample: "{upsample}" is not one of resample, refuse')
    info = inspect_model(path)
    check_rate_support(info, expected_rate, upsample)
    import vosk

    vosk.SetLogLevel(-1)
    load_from = _overlay(info, 0.0) if dither_zero else info.path
    try:
        vosk_model = vosk.Model(str(load_from))
    except Exception as exc:
        raise ModelError(f"Vosk model {info.path}: Vosk could not load it ({exc}); a file is "
                         f"damaged or from another Vosk version: unpack the model again") from exc
    finally:
        if load_from != info.path:
            shutil.rmtree(load_from, ignore_errors=True)
    log_event(log, "recordings.model.loaded", model=info.name, path=str(info.path),
              rate=info.sample_rate, allow_upsample=info.allow_upsample,
              dither=0.0 if dither_zero else info.dither)
    return LoadedModel(info, vosk_model, dither_zero, language, upsample)
