"""The ``hotline12345`` command. Subcommands are registered explicitly, one registrar per
area, in ``REGISTRARS`` below."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from hotline12345.agents.cli import register_agents_cmd
from hotline12345.analytics.cli import register_topics_cmds
from hotline12345.asterisk.cli import register_asterisk_cmds
from hotline12345.config.cli import register_config_cmd
from hotline12345.db.cli import register_db_cmd
from hotline12345.ivr.cli import register as register_ivr_cmds
from hotline12345.recordings.cli import register_recordings_cmds
from hotline12345.routing.cli import register_register_cmd, register_route_cmd
from hotline12345.sharing.cli import register_feed_cmd
from hotline12345.tickets.cli import register_tickets_cmds

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

REGISTRARS: list[Registrar] = [
    register_config_cmd,
    register_route_cmd,
    register_register_cmd,
    register_asterisk_cmds,
    register_agents_cmd,
    register_recordings_cmds,
    register_db_cmd,
    register_tickets_cmds,
    register_topics_cmds,
    register_ivr_cmds,
    register_feed_cmd,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline12345",
        description="Call routing and Asterisk control for the 12345 government-service hotline.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for registrar in REGISTRARS:
        registrar(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except BrokenPipeError:
        # The reader went away (`hotline12345 register list | head`): stop quietly. SIGPIPE
        # keeps Python's default (ignored), so the long-running `serve` never dies of it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
