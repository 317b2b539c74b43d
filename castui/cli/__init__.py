"""The `castui` command: argument parsing and dispatch to the headless commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from castui import __version__
from castui.cli import agent, audit, check, console, demo, drill, lab, maint, report, watch

#: Exit status for bad arguments or config, for every command but `check` (which says UNKNOWN=3).
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits 3 for `check` usage errors, so Nagios reads UNKNOWN."""

    usage_exit: int = EXIT_USAGE

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(self.usage_exit)


#: What `castui --help` says castui is (for the person running it, not the developer).
DESCRIPTION = ("Watch Exchange client-access arrays live: CAS nodes behind their load-balanced "
               "VIP and the array name in DNS. Without a command, opens the console on "
               "--config; the commands below check, watch, report and drill headless.")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="castui", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"castui {__version__}")
    console.add_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    check.add_parser(sub)
    audit.add_parser(sub)
    watch.add_parser(sub)
    lab.add_parser(sub)
    demo.add_parser(sub)
    agent.add_parser(sub)
    maint.add_parser(sub)
    drill.add_parser(sub)
    report.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        if args.config is not None:
            return console.run(args)
        parser.print_help()
        return EXIT_USAGE
    result: int = args.func(args)
    return result
