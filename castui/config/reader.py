"""The error-collecting reader: walks the TOML tree and keeps one line per problem.

An operator fixing a config in a maintenance window wants the whole list of problems, each on
one line that names the file and the exact key, not one traceback per attempt; but not fifty
thousand of them either, so the list stops at MAX_PROBLEMS and says how many more there were.
Converters take one TOML value and return a model value or raise Invalid with the reason.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TypeVar

from castui.model.text import clean

T = TypeVar("T")
C = TypeVar("C", bound=str)

#: Problems listed one by one; the rest are counted in one last line.
MAX_PROBLEMS = 20

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ConfigError(Exception):
    """Every problem found in one configuration, one `FILE: KEY.PATH: message` line each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(self.problems)


class Invalid(Exception):
    """Raised by a converter; the reader turns it into a problem line for the key at hand."""


class Reader:
    """Collects problems while walking the tree, so one pass reports all of them."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir
        self.problems: list[str] = []
        self.more = 0

    @property
    def full(self) -> bool:
        """Whether further problems are only counted."""
        return len(self.problems) >= MAX_PROBLEMS

    def report(self, path: str, message: str) -> None:
        if self.full:
            self.more += 1
        else:
            self.problems.append(f"{self.source}: {path or 'top level'}: {message}")

    def error(self) -> ConfigError | None:
        """The problems found (the first MAX_PROBLEMS, then `and N more`), or None."""
        if not self.problems:
            return None
        more = f"and {self.more} more problem{'s' if self.more > 1 else ''}"
        tail = [f"{self.source}: {more}"] if self.more else []
        return ConfigError(self.problems + tail)

    def check_keys(self, table: dict[str, object], path: str, known: Collection[str]) -> None:
        for key in table:
            if key not in known:
                if self.full:  # spare the close-match search for a line nobody sees
                    self.more += 1
                else:
                    self.report(path, unknown("key", key, known, "known keys"))

    def convert(self, value: object, path: str, convert: Callable[[object], T]) -> T | None:
        """`convert(value)`, or None after reporting why it is not acceptable."""
        try:
            return convert(value)
        except Invalid as err:
            self.report(path, str(err))
            return None

    def get(self, table: dict[str, object], path: str, key: str,
            convert: Callable[[object], T], *, required: bool = False) -> T | None:
        """The converted value of `key`; None if it is absent or invalid (reported)."""
        if key not in table:
            if required:
                self.report(join(path, key), "required key is missing")
            return None
        return self.convert(table[key], join(path, key), convert)

    def get_or(self, table: dict[str, object], path: str, key: str,
               convert: Callable[[object], T], default: T) -> T:
        """Like get(), with `default` standing in for an absent or invalid (reported) value."""
        value = self.get(table, path, key, convert)
        return default if value is None else value

    def items(self, table: dict[str, object], path: str, key: str,
              convert: Callable[[object], T]) -> list[T] | None:
        """The valid elements of array `key` (invalid ones are reported); None if absent."""
        values = self.get(table, path, key, array)
        if values is None:
            return None
        converted = (self.convert(value, f"{join(path, key)}[{index}]", convert)
                     for index, value in enumerate(values))
        return [value for value in converted if value is not None]

    def tables(self, table: dict[str, object], path: str, key: str,
               header: str) -> list[tuple[str, dict[str, object]]] | None:
        """(path, table) for each element of an array of tables; None if absent or not an array."""
        if isinstance(table.get(key), dict):
            self.report(join(path, key), f"expected an array of tables ({header}), got a table")
            return None
        values = self.get(table, path, key, array)
        if values is None:
            return None
        paths = (f"{join(path, key)}[{index}]" for index in range(len(values)))
        found = ((item_path, self.convert(value, item_path, as_table))
                 for item_path, value in zip(paths, values, strict=True))
        return [(item_path, item) for item_path, item in found if item is not None]

    def claim(self, seen: dict[str, str], name: object, path: str, what: str) -> None:
        """Report `name` if another entry already uses it (case-insensitively, as AD does)."""
        if not isinstance(name, str):
            return
        key = name.casefold()
        if key in seen:
            self.report(path, f"duplicate {what} {quote(name)} (also {seen[key]})")
        else:
            seen[key] = path


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- words for problem lines ------------------------------------------------------------------


def describe(value: object) -> str:
    """`string 'x'`, `integer 5`, `an array`: what the file holds, for `expected ..., got ...`."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {quote(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    kind = {int: "integer", float: "float"}.get(type(value), type(value).__name__)
    return f"{kind} {clean(str(value), 40)}"


def quote(text: str, limit: int = 60) -> str:
    """repr() escapes control characters, so the quoted text stays on one line."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def unknown(kind: str, value: str, options: Collection[str], listing: str) -> str:
    """`unknown KIND 'x'` plus the closest option, or the list of options when none is close."""
    # A long name is no typo of a short one, and matching it costs seconds per megabyte.
    close = difflib.get_close_matches(value, list(options), n=1) if len(value) <= 200 else []
    hint = f"did you mean {close[0]!r}?" if close else f"{listing}: {', '.join(sorted(options))}"
    return f"unknown {kind} {quote(value)} ({hint})"


# --- converters for TOML's own types ----------------------------------------------------------


def as_table(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise Invalid(f"expected a table, got {describe(value)}")
    return value


def array(value: object) -> list[object]:
    if not isinstance(value, list):
        raise Invalid(f"expected an array, got {describe(value)}")
    return value


def string(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {describe(value)}")
    return value


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {describe(value)}")
    return value


def name(value: object) -> str:
    """A site, node or notifier name: shown everywhere, and part of `Site/Node` keys."""
    text = string(value)
    if not text.strip():
        raise Invalid("must not be empty")
    if _CONTROL.search(text):
        raise Invalid(f"{quote(text)} contains control characters")
    if "/" in text:
        raise Invalid(f"{quote(text)} contains '/', which castui uses in 'Site/Node' keys")
    return text


def choice(value: object, options: tuple[C, ...], what: str, listing: str) -> C:
    """One of `options` (typed as its Literal), or Invalid naming the alternatives."""
    text = string(value)
    for option in options:
        if text == option:
            return option
    raise Invalid(unknown(what, text, options, listing))


def checked(parse: Callable[[str], object]) -> Callable[[object], str]:
    """A string that `parse` accepts (it raises ValueError with the reason otherwise)."""

    def convert(value: object) -> str:
        text = string(value)
        try:
            parse(text)
        except ValueError as err:
            raise Invalid(clean(str(err), 200)) from None
        return text

    return convert
