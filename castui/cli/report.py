"""`castui report`: a drill's figures for the change record, as Markdown, JSON or HTML."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from castui.history import EventStore, HistoryError, default_db_path
from castui.model.times import file_stamp, parse_time, utcnow
from castui.report import Report, ReportError, Window, choose_window, collect
from castui.report.render_html import render_html
from castui.report.render_json import render_json
from castui.report.render_md import render_md

EXIT_USAGE = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="a drill's measured outcome with a timeline picture "
                                      "(Markdown, JSON or HTML)")
    p.add_argument("--db", type=Path, default=None, metavar="FILE",
                   help=f"history database (default {default_db_path()})")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--drill", metavar="NAME",
                       help="the newest drill of this name (default: the newest drill)")
    which.add_argument("--since", metavar="TIME",
                       help="from TIME: ISO-8601 (naive = local time) or a span back from "
                            "now like 90m, 2h, 1d")
    p.add_argument("--until", metavar="TIME", help="up to TIME (default now), as --since")
    p.add_argument("--format", choices=("md", "json", "html"), default="md")
    p.add_argument("--picture", choices=("svg", "png"), default="svg",
                   help="the Markdown's timeline picture as SVG (default) or PNG")
    p.add_argument("--output", metavar="FILE", default=None,
                   help="write here (default stdout); the Markdown's picture goes beside it "
                        "as FILE.svg")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    now = utcnow()
    try:
        since = None if args.since is None else parse_time(args.since, now)
        until = None if args.until is None else parse_time(args.until, now)
    except ValueError as err:
        return _fail(str(err))
    if args.drill is not None and until is not None:
        return _fail("--until goes with --since, not --drill")
    db = (args.db or default_db_path()).expanduser()
    if not db.exists():  # the store would create it: a report must not
        return _fail(f"no history database at {db}")
    try:
        # No retention: a report reads and must never prune what the estate's config keeps.
        with EventStore(db, retention_days=None) as store:
            window = choose_window(store, drill=args.drill, since=since, until=until, now=now)
            report = collect(store, window, now)
    except (HistoryError, ReportError) as err:
        return _fail(str(err))
    output = None if args.output in (None, "-") else Path(args.output).expanduser()
    if output is not None and output.is_dir():
        return _fail(f"cannot write {output}: is a directory")
    try:
        return _write(report, args.format, output, args.picture)
    except OSError as err:
        where = getattr(err, "filename", None) or output or "stdout"
        return _fail(f"cannot write {where}: {err.strerror or err}")


def _write(report: Report, fmt: str, output: Path | None, kind: str = "svg") -> int:
    from castui.report.plot import draw_png, draw_svg  # matplotlib: only for a picture

    if fmt == "json":
        text = render_json(report)
    elif fmt == "html":
        text = render_html(report, draw_svg(report))
    else:
        picture = _picture_path(report.window, output, kind)
        if kind == "png":
            picture.write_bytes(draw_png(report))
        else:
            picture.write_text(draw_svg(report), encoding="utf-8")
        if output is None:
            print(f"castui: timeline picture written to {picture}", file=sys.stderr)
        text = render_md(report, picture.name)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output.write_text(text, encoding="utf-8")
    return 0


def _picture_path(window: Window, output: Path | None, kind: str = "svg") -> Path:
    """Beside the report (`report.md` -> `report.svg` or `.png`), or
    `castui-report-<slug>.svg` here."""
    if output is None:
        return Path.cwd() / f"castui-report-{slug(window)}.{kind}"
    picture = output.with_suffix(f".{kind}")
    return picture if picture != output else output.with_name(f"{output.stem}-timeline.{kind}")


def slug(window: Window) -> str:
    """A file-name-safe name for the report: the drill's name, or the window's start."""
    if window.drill is not None:
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", window.drill.name).strip("-.")[:60]
        if name:
            return name
    return file_stamp(window.start)


def _fail(message: str) -> int:
    print(f"castui: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE
