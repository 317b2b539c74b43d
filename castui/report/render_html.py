"""The report as one self-contained HTML file: its CSS and the timeline SVG inline.

Everything that came from events or the store is escaped with `html.escape`; the SVG is
matplotlib's, whose text it escapes itself.
"""

from __future__ import annotations

from html import escape

from castui.report.document import Heading, Items, Para, Picture, Table, build, title
from castui.report.figures import Report

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 78em;
       padding: 0 1em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 1.6em;
       border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #bbb; padding: .25em .5em; text-align: left;
         vertical-align: top; }
th { background: #eee; }
tr:nth-child(even) td { background: #f7f7f7; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
@media print { body { max-width: none; } }
"""


def render_html(report: Report, svg: str | None) -> str:
    """The HTML document; `svg` is the timeline picture (None: no picture)."""
    body: list[str] = []
    for block in build(report):
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            body.append(f"<p>{escape(block.text)}</p>")
        elif isinstance(block, Items):
            body.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in block.lines)
                        + "</ul>")
        elif isinstance(block, Table):
            body.append(_table(block))
        elif isinstance(block, Picture) and svg is not None:
            body.append(f'<figure role="img" aria-label="{escape(block.alt)}">'
                        f"{_svg_element(svg)}</figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{escape(title(report))}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _svg_element(svg: str) -> str:
    """The `<svg>` element alone: no XML declaration or DOCTYPE inside an HTML body."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    rows = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
                   for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
