"""Compatibility only: the Vosk model moved to :mod:`hotline12345.recordings.vosk_model`
(``recordings/models.py`` holds the tables). Remove this module once ``ivr/cli.py``
imports ``vosk_model`` (nothing else imports this name)."""

from hotline12345.recordings.vosk_model import ModelError

__all__ = ["ModelError"]
