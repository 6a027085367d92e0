"""The environment variables hotline12345 reads that more than one part shares, named once,
and :func:`redact_url` for showing their URLs in logs and messages.

=========================  ===================================================================
variable                   what it sets
=========================  ===================================================================
``DATABASE_URL_ENV``       the SQLAlchemy URL of tickets, jobs, calls and the audit log
``REDIS_URL_ENV``          Redis shared by controllers (agents' state, recording jobs)
``REDIS_PREFIX_ENV``       the key prefix of the recording jobs in Redis
``RECORDINGS_DIR_ENV``     where MixMonitor writes and the workers read; also the default of
                           ``asterisk-conf render --recordings-dir``
``VOSK_MODEL_ENV``         the Vosk model directory
``SCAN_WINDOW_ENV``        days of recordings the directory scan looks at (0: all)
``LOG_LEVEL_ENV``          the level of the structured log
=========================  ===================================================================

``HOTLINE12345_DATA_DIR`` lives in :mod:`hotline12345.paths` and ``HOTLINE12345_CONFIG`` in
:mod:`hotline12345.config.loader`, beside the code that resolves them.
"""

from __future__ import annotations

from typing import Final

DATABASE_URL_ENV: Final = "HOTLINE12345_DATABASE_URL"
REDIS_URL_ENV: Final = "HOTLINE12345_REDIS_URL"
REDIS_PREFIX_ENV: Final = "HOTLINE12345_REDIS_PREFIX"
RECORDINGS_DIR_ENV: Final = "HOTLINE12345_RECORDINGS_DIR"
VOSK_MODEL_ENV: Final = "HOTLINE12345_VOSK_MODEL"
SCAN_WINDOW_ENV: Final = "HOTLINE12345_SCAN_WINDOW_DAYS"
LOG_LEVEL_ENV: Final = "HOTLINE12345_LOG_LEVEL"


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for logs and messages:
    ``redis://app:s3cret@db:6379/0`` -> ``redis://app:***@db:6379/0``. A URL without
    credentials comes back unchanged. When it is unclear where the credentials end (an
    unescaped ``/`` or ``@`` in a password), more is hidden rather than less."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    head = rest.split("/", 1)[0]
    if "@" in head:  # the usual case: user:password@host before the path
        creds, host = head.rsplit("@", 1)
        tail = rest[len(head):]
    elif ":" in head and "@" in rest:  # a "/" inside the password: up to the last "@"
        creds, host = rest.rsplit("@", 1)
        tail = ""
    else:
        return url
    user, colon, _password = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}{tail}"
