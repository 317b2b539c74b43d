"""Make text that came from the network safe to print: no control characters, nothing that
reorders or hides text, bounded length.

Markup escaping is the front-end's job (it knows its markup language); this module only
guarantees that nothing a peer sends can move the cursor, change colours, flood a line, or
make a terminal show other text than castui holds (docs/untrusted-text.md):

- escape sequences are removed and control characters become blanks;
- Unicode format characters (category Cf: bidi embeddings, overrides and isolates such as
  U+202E, marks such as U+200F, zero-width joiners and spaces, soft hyphens, BOMs) are
  removed: a balancer status `U+202E NWOD` would otherwise read `DOWN` on screen;
- combining marks are composed where Unicode has a composed form (NFC), then at most
  MAX_MARKS stay on one base character and none without one, so stacked marks cannot spill
  over the lines above and below;
- lone surrogates (undecodable bytes smuggled through) become U+FFFD.

How wide the result is on a terminal (East Asian wide characters take two cells) is the
front-end's to measure: the console cuts cells with the terminal's own width rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

#: The length of one piece of network text unless its field says otherwise (a probe's detail).
DEFAULT_LIMIT = 200
#: Combining marks kept on one base character (Thai and Vietnamese need two).
MAX_MARKS = 2
#: Items of a list shown in a sentence before `+N more` (DNS answers, certificate names).
MAX_LISTED = 4


def clean(text: str | bytes, limit: int = DEFAULT_LIMIT) -> str:
    """Strip escape sequences, control and format characters and stacked marks, fold
    whitespace, bound the length to `limit` characters (the last one `…` when cut)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = _ANSI.sub("", text[: limit * 4])
    text = _CONTROL.sub(" ", text)
    if not text.isascii():
        text = _unicode(text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def _unicode(text: str) -> str:
    """Drop format characters, cap combining marks, replace surrogates (see the module)."""
    text = unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", text))
    out: list[str] = []
    marks = MAX_MARKS  # no base character yet: a leading mark is dropped
    for char in text:
        category = unicodedata.category(char)
        if category == "Cf":
            continue
        if category in ("Mn", "Me"):
            if marks >= MAX_MARKS:
                continue
            marks += 1
        else:
            marks = 0
        out.append(char)
    return "".join(out)


def listing(items: Sequence[str], total: int | None = None, shown: int = MAX_LISTED,
            sep: str = ", ") -> str:
    """`a, b, c, d +N more`: the first `shown` items, then how many of `total` (default: all
    of `items`) are left out, so a list from the network stays one short line."""
    total = len(items) if total is None else max(total, len(items))
    text = sep.join(items[:shown])
    more = total - min(len(items), shown)
    return f"{text} +{more} more" if more > 0 else text


def capped(items: Sequence[str], limit: int, count: int) -> tuple[str, ...]:
    """At most `count` items of at most `limit` characters each; when some are left out, the
    last place says how many (`+N more`)."""
    shown = [clean(item, limit) for item in items[:count]]
    if len(items) > count:
        shown[-1] = f"+{len(items) - count + 1} more"
    return tuple(shown)
