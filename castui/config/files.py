"""Files a config names (CA bundles, token and password files) and the config file itself.

Each is checked when the config loads, so a wrong path fails now with what is wrong with it (a
directory, a device, no certificate in it), not at the first probe, and a FIFO or a device such
as /dev/zero is never opened, so it cannot hang castui.
"""

from __future__ import annotations

import os
import ssl
import stat
from collections.abc import Callable
from pathlib import Path

from castui.config.reader import ConfigError, Invalid, quote, string

#: A castui config is a few kilobytes; anything this big is the wrong file.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: The public CA bundles are a few hundred kilobytes.
MAX_CA_BYTES = 16 * 1024 * 1024
#: A token or password is one line.
MAX_SECRET_BYTES = 64 * 1024

#: OpenSSL's reasons for refusing a CA file, as an operator would say them.
_CA_REASONS = {"NO_CERTIFICATE_OR_CRL_FOUND": "no certificate in it",
               None: "a PEM block in it does not decode"}
_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def file_problem(path: Path, limit: int, what: str, *, empty_ok: bool = False) -> str | None:
    """Why `path` is not a regular, readable file of at most `limit` bytes (nor empty, unless
    `empty_ok`); None if it is."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "file not found"
    except OSError as err:
        return f"cannot read: {(err.strerror or str(err)).lower()}"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "a special file")
        return f"is not a regular file ({kind})"
    if not os.access(path, os.R_OK):
        return "cannot read: permission denied"
    if info.st_size == 0 and not empty_ok:
        return "is empty"
    if info.st_size > limit:
        return f"is larger than {_size(limit)}, not {what}"
    return None


def read_config_text(file: Path, source: str) -> str:
    """The config file's text, or a one-line ConfigError naming it."""
    # An empty config is read, and says that it defines no sites.
    problem = file_problem(file, MAX_CONFIG_BYTES, "a castui config", empty_ok=True)
    if problem is not None:
        raise ConfigError([f"{source}: {problem}"])
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError([f"{source}: cannot read file: {err.strerror or err}"]) from None
    if len(data) > MAX_CONFIG_BYTES:  # it grew while we looked
        raise ConfigError([f"{source}: is larger than {_size(MAX_CONFIG_BYTES)}, "
                           "not a castui config"])
    try:
        return data.decode("utf-8-sig")  # tolerate the BOM some Windows editors add
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError([f"{source}: line {line}: not valid UTF-8 text"]) from None


def ca_bundle(base_dir: Path) -> Callable[[object], Path]:
    """A PEM CA bundle that OpenSSL accepts, so a bad path fails now, not per probe."""

    def convert(value: object) -> Path:
        path = _path(value, base_dir)
        shown = quote(str(path), 200)
        if (problem := file_problem(path, MAX_CA_BYTES, "a CA bundle")) is not None:
            raise Invalid(_with_path(problem, shown))
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
        except ssl.SSLError as err:
            reason = _CA_REASONS.get(err.reason, str(err.reason).lower().replace("_", " "))
            raise Invalid(f"{shown} is not a PEM CA bundle ({reason})") from None
        except OSError as err:
            raise Invalid(f"cannot read {shown}: {err.strerror}") from None
        return path

    return convert


def secret_file(base_dir: Path) -> Callable[[object], Path]:
    """A file that holds a token or password: its content is read only when used, but what
    would make that fail (a directory, a device, an empty file) is said now."""

    def convert(value: object) -> Path:
        path = _path(value, base_dir)
        if (problem := file_problem(path, MAX_SECRET_BYTES, "a token or password")) is not None:
            raise Invalid(_with_path(problem, quote(str(path), 200)))
        return path

    return convert


def later_file(base_dir: Path) -> Callable[[object], Path]:
    """A file castui reads when it exists (the Exchange export): a usable path now, its
    content judged by the reader that opens it (the console says so and picks it up when it
    appears)."""

    def convert(value: object) -> Path:
        return _path(value, base_dir)

    return convert


def _path(value: object, base_dir: Path) -> Path:
    text = string(value)
    if not text.strip():
        raise Invalid("must not be empty")
    if "\x00" in text:  # no file name holds one, and the OS would refuse to look
        raise Invalid(f"{quote(text)} contains a NUL character")
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # `~name/...` for a user this machine does not know
        raise Invalid(f"{quote(text)}: no home directory for that user here") from None
    return (base_dir / path).absolute()


def _with_path(problem: str, shown: str) -> str:
    """`file not found: '/x'`, `'/etc' is a directory, not a file`."""
    if problem.startswith(("file not found", "cannot read")):
        return f"{problem}: {shown}"
    return f"{shown} {problem}"


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 2**10} KiB"
