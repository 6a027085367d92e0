"""The wallboard's listening address on the command line (``--http-host``, ``--http-port``).

Its own module, without the web application's imports, so that building the
``hotline12345`` parser (every command, ``route`` included) stays cheap."""

from __future__ import annotations

import argparse

DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 8080


def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--http-host`` and ``--http-port`` (the wallboard) to a command."""
    parser.add_argument("--http-host", default=DEFAULT_HTTP_HOST,
                        help=f"wallboard and API address (default {DEFAULT_HTTP_HOST})")
    parser.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT,
                        help=f"wallboard and API port (default {DEFAULT_HTTP_PORT}; 0: any free)")
