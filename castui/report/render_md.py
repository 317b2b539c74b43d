"""The report as Markdown, to paste into a change record; the picture is a linked SVG file."""

from __future__ import annotations

import re

from castui.report.document import Heading, Items, Para, Picture, Table, build
from castui.report.figures import Report

#: CommonMark reads a backslash before punctuation as the literal character. Escaping these
#: keeps text from the network from becoming code, emphasis, links (no `[`), raw HTML, entities
#: or new table cells, while times like `14:05:03Z (15:05:03 CET)` stay readable as typed. The
#: `>` of an arrow stays bare (it can start no quote, and raw HTML needs a `<`, escaped), so
#: `10.1.0.50 -> 10.2.0.50` reads as typed where the Markdown is pasted as plain text.
_SPECIAL = re.compile(r"[\\`*\[\]<|~&]|(?<!-)>|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def escape(text: str) -> str:
    """One line of literal text for a Markdown paragraph or table cell.

    An underscore inside a word (`node_down`) cannot start emphasis, so it stays bare.
    """
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(text.split()))


def picture_link(target: str) -> str:
    """`![timeline](report.svg)`, in angle brackets when the name has blanks or brackets."""
    if re.search(r"[\s()<>]", target):
        target = "<" + target.replace("<", "%3C").replace(">", "%3E") + ">"
    return f"![timeline]({target})"


def render_md(report: Report, picture: str | None) -> str:
    """Markdown text; `picture` is the SVG's path relative to the Markdown file (None: none)."""
    out: list[str] = []
    for block in build(report):
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {escape(block.text)}")
        elif isinstance(block, Para):
            out.append(escape(block.text))
        elif isinstance(block, Items):
            out.append("\n".join(f"- {escape(line)}" for line in block.lines))
        elif isinstance(block, Table):
            out.append(_table(block))
        elif isinstance(block, Picture) and picture is not None:
            out.append(picture_link(picture))
    return "\n\n".join(out) + "\n"


def _table(table: Table) -> str:
    lines = ["| " + " | ".join(escape(h) for h in table.header) + " |",
             "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(escape(cell) or " " for cell in row) + " |"
              for row in table.rows]
    return "\n".join(lines)
