"""Make text that came from the network safe to print: no control characters, bounded length.

Markup escaping is the front-end's job (it knows its markup language); this module only
guarantees that nothing a peer sends can move the cursor, change colours or flood a line.
"""

import re

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

DEFAULT_LIMIT = 200


def clean(text: str | bytes, limit: int = DEFAULT_LIMIT) -> str:
    """Strip escape sequences and control characters, fold whitespace, bound the length."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = _ANSI.sub("", text[: limit * 4])
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text
