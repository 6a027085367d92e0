"""Secrets come from the environment or a secret file, never from the site file.

``read_secret("HOTLINE12345_AMI_SECRET")`` returns the variable's value, or the
contents of the file named by ``HOTLINE12345_AMI_SECRET_FILE`` (trailing newline
stripped), or ``None``.
"""

from __future__ import annotations

import os
from pathlib import Path


class SecretError(RuntimeError):
    pass


def read_secret(name: str) -> str | None:
    value = os.environ.get(name)
    if value:
        return value
    file_name = os.environ.get(f"{name}_FILE")
    if not file_name:
        return None
    path = Path(file_name)
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise SecretError(
            f"{name}_FILE={file_name}: cannot read the secret file ({exc.strerror}); "
            f"fix the path or set {name} directly"
        ) from exc


def secret_source(name: str) -> str:
    """Where ``read_secret(name)`` takes the secret from, for messages: ``NAME`` or
    ``NAME_FILE=<path>``."""
    if os.environ.get(name):
        return name
    file_name = os.environ.get(f"{name}_FILE")
    return f"{name}_FILE={file_name}" if file_name else name
