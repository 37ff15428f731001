"""The parser of every command, and :func:`main`: parse, set up logging, run, say what failed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from .. import _protocol as proto
from .._exceptions import CentrePointError
from .._logging import ENV_LOG, env_level
from .._version import __version__
from . import _demo, _export_analytics, _export_history, _fake_server, _fetch_raw, _sync
from ._base import DATA, INTERRUPTED, Command, Context, UsageError
from ._display import cli_logging
from ._errors import error_line, status_of

__all__ = ["COMMANDS", "build_parser", "main"]

#: Every command, in the order ``--help`` lists them: one module each.
COMMANDS: tuple[Command, ...] = (
    _demo.COMMAND,
    _export_history.COMMAND,
    _export_analytics.COMMAND,
    _fetch_raw.COMMAND,
    _sync.COMMAND,
    _fake_server.COMMAND,
)


EPILOG = f"""\
environment:
  {proto.ENV_CLIENT_ID}, {proto.ENV_CLIENT_SECRET}   the API credentials
  {proto.ENV_BASE_URL}, {proto.ENV_AUTH_URL}   the hosts (default: ActiGraph's)
  {ENV_LOG}=debug|info   the library's log records on stderr

Exit status: 0 done, 1 a data or server problem, 2 a usage problem (found before
any request), 130 interrupted.
"""


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    """-q/-v on a parser; given to the main parser and to each command, so both places work."""
    # SUPPRESS: a command's parser must not reset what was given before the command name
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bar or summary: errors only (for cron)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log every request, and every retry",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="centrepoint-async",
        description="Export CentrePoint webhook history, fetch raw data, mirror a study's day "
        "files, or try it all against a built-in fake.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verbosity(parser)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.description)
        command.add_arguments(sub)
        _add_verbosity(sub)
        sub.set_defaults(run=command.run)
    return parser


def _log_level(command: str, quiet: bool, verbose: bool) -> int:
    """-v: every request; -q: errors only; ``CENTREPOINT_LOG`` can only ask for more."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    if command == "demo" and not verbose:
        level = logging.ERROR  # the demo counts retries in its summary instead
    asked = env_level()
    return level if asked is None else min(level, asked)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
    if quiet and verbose:
        parser.error("-q/--quiet and -v/--verbose exclude each other")
    stderr = sys.stderr
    with cli_logging(_log_level(args.command, quiet, verbose), stderr) as handler:
        handler.show_retries = verbose or env_level() is not None
        return _run(Context(args, quiet, verbose, stderr, handler))


def _run(ctx: Context) -> int:
    """Run the command of ``ctx.args``; any error becomes one line and an exit status."""
    try:
        status: int = asyncio.run(ctx.args.run(ctx))
    except (UsageError, CentrePointError) as exc:
        print(error_line(exc), file=ctx.stderr)
        return status_of(exc)
    except KeyboardInterrupt:
        print(f"centrepoint-async: interrupted{ctx.interrupted_hint}", file=ctx.stderr)
        return INTERRUPTED
    except OSError as exc:
        print(f"centrepoint-async: error: {exc}", file=ctx.stderr)
        return DATA
    return status
