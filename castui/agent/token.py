"""The agent's shared secret: read from a file (never a command-line argument, which any local
user can see in the process list) and compared in constant time.

A token file readable by every local user is refused on POSIX: the token would be no secret.
Group access only earns a warning (a service account's group may legitimately share it). On
Windows the file's ACL is the operator's job (see the README); modes mean nothing there.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from castui.model.text import clean

#: Shorter secrets can be guessed, even through the agent's rate limit.
MIN_TOKEN_LENGTH = 16
MAX_TOKEN_BYTES = 4096
#: Visible ASCII only: the token travels verbatim in an `Authorization: Bearer` header.
_TOKEN = re.compile(r"[\x21-\x7e]+")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class TokenError(Exception):
    """The token file cannot be used; one line that never contains the token."""


def _ignore(message: str) -> None:
    """Default warning sink: say nothing."""


def read_token(path: Path, *, on_warning: Callable[[str], None] = _ignore,
               check_mode: bool = os.name == "posix") -> str:
    """The token in `path` (surrounding whitespace and newline stripped); TokenError if the
    file is missing, unreadable, empty, too short, not one line of visible ASCII, or readable
    by every user (`check_mode`, POSIX). Group access is reported through `on_warning`."""
    name = clean(str(path), 120)
    try:
        info = path.stat()
    except OSError as exc:
        raise TokenError(f"token file {name}: {_reason(exc)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise TokenError(f"token file {name}: not a regular file")
    if check_mode:
        _check_mode(name, info.st_mode, on_warning)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise TokenError(f"token file {name}: {_reason(exc)}") from None
    if len(data) > MAX_TOKEN_BYTES:
        raise TokenError(f"token file {name}: larger than {MAX_TOKEN_BYTES} bytes, "
                         "not a token file")
    return _parse(name, data)


def _check_mode(name: str, mode: int, on_warning: Callable[[str], None]) -> None:
    bits = f"{stat.S_IMODE(mode):04o}"
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise TokenError(f"token file {name} is accessible by every user (mode {bits}); "
                         f"run: chmod 600 {name}")
    if mode & (stat.S_IRGRP | stat.S_IWGRP):
        on_warning(f"token file {name} is accessible by its group (mode {bits}); "
                   "chmod 600 it unless the group is meant to share the token")


def _parse(name: str, data: bytes) -> str:
    # PowerShell 5's `>` and Out-File write UTF-16 with a BOM; Notepad may add a UTF-8 BOM.
    encoding = "utf-16" if data.startswith(_UTF16_BOMS) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise TokenError(f"token file {name}: not text; write the token as one line of "
                         "ASCII") from None
    token = text.strip()
    if not token:
        raise TokenError(f"token file {name}: empty")
    if not _TOKEN.fullmatch(token):
        raise TokenError(f"token file {name}: the token must be one line of visible ASCII "
                         "characters (no spaces)")
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(f"token file {name}: token too short ({len(token)} characters, "
                         f"at least {MIN_TOKEN_LENGTH}); make one with: python -c \"import "
                         "secrets; print(secrets.token_urlsafe(32))\"")
    return token


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return clean(exc.strerror or str(exc), 80).lower()


class TokenCheck:
    """Constant-time check of presented credentials; only a digest of the token is kept, so the
    secret itself is not lying around in the server object."""

    __slots__ = ("_digest",)

    def __init__(self, token: str) -> None:
        self._digest = hashlib.sha256(token.encode("ascii")).digest()

    def matches(self, presented: bytes) -> bool:
        """True if `presented` is the token. Both sides are hashed first, so the comparison
        time does not even depend on the presented length."""
        return hmac.compare_digest(hashlib.sha256(presented).digest(), self._digest)

    def __repr__(self) -> str:
        return "TokenCheck(<hidden>)"
