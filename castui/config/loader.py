"""Read castui's TOML configuration into the typed model, reporting every mistake at once.

The walk is split by section: defaults.py, sites.py and notifiers.py read their tables with the
error-collecting Reader (reader.py); numbers are checked against the documented ranges
(ranges.py), names and addresses by names.py, files by files.py. Unknown keys are errors too: a
misspelt key must never silently switch a check off.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

from castui.config.defaults import read_defaults
from castui.config.files import later_file, read_config_text
from castui.config.model import Config
from castui.config.notifiers import read_notifiers
from castui.config.reader import ConfigError, Reader, as_table
from castui.config.sites import read_sites
from castui.model.text import clean

_TOP_KEYS = ("defaults", "sites", "notifiers", "exchange_export")
_AT_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


def load_config(path: str | Path) -> Config:
    """Read and validate the file at `path`; relative file names are resolved next to it."""
    file = Path(path)
    source = clean(str(path))
    config = parse_config(read_config_text(file, source), source, base_dir=file.parent)
    return dataclasses.replace(config, path=file)


def parse_config(text: str, source: str = "<config>", *, base_dir: Path | None = None) -> Config:
    """Validate TOML `text`; `source` names it in problems, `base_dir` anchors relative file
    names (the current directory when not given). ConfigError lists what is wrong."""
    source = clean(source)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{source}: {_syntax_problem(text, err)}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: arrays or inline tables are nested too deeply"]) from None
    except ValueError as err:  # an integer of more than 4300 digits
        raise ConfigError([f"{source}: a value TOML cannot hold: "
                           f"{clean(str(err).partition(';')[0], 120)}"]) from None
    reader = Reader(source, base_dir if base_dir is not None else Path.cwd())
    reader.check_keys(raw, "", _TOP_KEYS)
    defaults = read_defaults(reader, reader.get(raw, "", "defaults", as_table) or {},
                             reader.base_dir)
    config = Config(sites=tuple(read_sites(reader, raw)), defaults=defaults,
                    notifiers=tuple(read_notifiers(reader, raw)),
                    exchange_export=reader.get(raw, "", "exchange_export",
                                               later_file(reader.base_dir)))
    if (error := reader.error()) is not None:
        raise error
    return config


def _syntax_problem(text: str, err: tomllib.TOMLDecodeError) -> str:
    """`line N: message` from tomllib's `message (at line N, column M)` (3.11 has no lineno)."""
    message = str(err)
    if match := _AT_POSITION.search(message):
        return f"line {match[1]}: {clean(message[:match.start()])} (column {match[2]})"
    if match := _AT_END.search(message):
        last_line = max(len(text.rstrip().splitlines()), 1)
        return f"line {last_line}: {clean(message[:match.start()])} (at end of file)"
    return f"TOML syntax error: {clean(message)}"
