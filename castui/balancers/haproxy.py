"""HAProxy: per-server state from the stats CSV (over HTTP) or `show stat` (runtime API socket).

Both sources give the same CSV (HAProxy's management guide, "CSV format"), so one parser serves
both. Reads use the stats page when one is configured (it is read-only); the runtime API socket
is needed for drain/ready. Every call is bounded in time and size, and every failure is an
LbError with one line naming the source.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import re
import ssl
from pathlib import Path

import httpx

from castui.config.addresses import UnixAddress, parse_socket_address
from castui.model.balancer import ADMIN_STATES, AdminState, ServerView
from castui.model.errors import LbError
from castui.model.text import clean

DEFAULT_TIMEOUT = 2.0
#: A stats CSV is about 1 KiB per server; this is room for thousands of servers.
MAX_REPLY_BYTES = 8 * 1024 * 1024
READ_CHUNK = 65536
#: How deep to look through wrapped exceptions for the OS error behind an HTTP failure.
MAX_CAUSES = 8
#: Names HAProxy accepts for proxies and servers; anything else could smuggle a second command
#: (the runtime API splits on `;`) into `set server`.
_HAPROXY_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
_REQUIRED = ("pxname", "svname", "status")
#: The CSV `type` column: 0 frontend, 1 backend, 2 server, 3 listener.
_SERVER_TYPE = "2"
_AGGREGATES = ("FRONTEND", "BACKEND")
#: The longest count castui reads (HAProxy's counters are 64-bit: 20 digits at most). Longer
#: is not a counter, and `int()` refuses strings of more than 4,300 digits with a ValueError.
MAX_COUNT_DIGITS = 20
#: How much of a value that does not parse is quoted in the error.
_QUOTED = 20


def csv_url(stats_url: str) -> httpx.URL:
    """The CSV form of a stats page URL (`.../haproxy?stats` -> `.../haproxy?stats;csv`)."""
    url = httpx.URL(stats_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{clean(stats_url)!r} is not an http:// or https:// URL")
    raw = url.raw_path.decode("ascii")
    if ";csv" not in raw:
        raw += ";csv"
    return url.copy_with(raw_path=raw.encode("ascii"))


class HAProxyAdapter:
    """Reads one HAProxy's servers; drains and readies them through its runtime API."""

    name = "haproxy"

    def __init__(self, *, stats_url: str | None = None, socket: str | None = None,
                 auth: tuple[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                 ca_file: Path | None = None, tls_verify: bool = True) -> None:
        """ValueError (one line) for an unusable `stats_url`, `socket` or `ca_file`."""
        if stats_url is None and socket is None:
            raise ValueError("HAProxy needs a stats_url, a socket, or both")
        self._url = csv_url(stats_url) if stats_url is not None else None
        self._socket = parse_socket_address(socket) if socket is not None else None
        self._auth = httpx.BasicAuth(*auth) if auth is not None else None
        self.timeout = timeout
        self._verify: ssl.SSLContext | bool = False
        if tls_verify and self._url is not None and self._url.scheme == "https":
            try:
                self._verify = ssl.create_default_context(
                    cafile=str(ca_file) if ca_file else None)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"ca_file {ca_file}: cannot load CA certificates "
                                 f"({clean(str(exc))})") from None

    def __repr__(self) -> str:
        return f"HAProxyAdapter({self.source})"

    @property
    def source(self) -> str:
        """Where reads come from, for messages (never includes credentials)."""
        if self._url is not None:
            return f"HAProxy stats {clean(str(self._url.copy_with(userinfo=b'')))}"
        return f"HAProxy socket {clean(str(self._socket))}"

    async def servers(self) -> list[ServerView]:
        if self._url is not None:
            text = await self._fetch_csv(self._url)
        else:
            text = await self._command("show stat")
        try:
            return parse_stat_csv(text)
        except LbError as err:
            raise LbError(f"{self.source}: {err}") from None

    async def set_state(self, backend: str, server: str, state: AdminState) -> None:
        if state not in ADMIN_STATES:
            raise LbError(f"unknown server state {clean(str(state))!r} "
                          f"(one of {', '.join(ADMIN_STATES)})")
        if self._socket is None:
            raise LbError("drain and ready need HAProxy's runtime API: configure its socket")
        for name in (backend, server):
            if not _HAPROXY_NAME.fullmatch(name):
                raise LbError(f"{clean(name)!r} is not an HAProxy backend or server name")
        command = f"set server {backend}/{server} state {state}"
        reply = clean(await self._command(command))
        if reply:
            raise LbError(f"HAProxy refused '{command}': {reply}")

    async def _command(self, command: str) -> str:
        """One runtime API command (non-interactive: HAProxy answers, then closes)."""
        address = self._socket
        where = f"HAProxy socket {clean(str(address))}"
        if address is None:
            raise LbError("no HAProxy runtime API socket configured")
        try:
            async with asyncio.timeout(self.timeout):
                if isinstance(address, UnixAddress):
                    reader, writer = await asyncio.open_unix_connection(address.path)
                else:
                    reader, writer = await asyncio.open_connection(address.host, address.port)
                try:
                    writer.write(command.encode("ascii") + b"\n")
                    await writer.drain()
                    data = await _read_bounded(reader)
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except TimeoutError:
            raise LbError(f"{where}: no answer within {self.timeout:g} s") from None
        except FileNotFoundError:
            raise LbError(f"{where}: no such socket (is HAProxy running, with "
                          "'stats socket' in its global section?)") from None
        except ConnectionRefusedError:
            raise LbError(f"{where}: connection refused (is HAProxy running?)") from None
        except OSError as err:
            raise LbError(f"{where}: {_os_error(err)}") from None
        except _TooLarge:
            raise LbError(f"{where}: reply larger than {MAX_REPLY_BYTES} bytes") from None
        return data.decode("utf-8", errors="replace")

    async def _fetch_csv(self, url: httpx.URL) -> str:
        where = self.source
        try:
            async with asyncio.timeout(self.timeout), httpx.AsyncClient(
                    verify=self._verify, trust_env=False, follow_redirects=False,
                    timeout=self.timeout) as client, \
                    client.stream("GET", url, auth=self._auth) as response:
                if response.status_code == 401:
                    raise LbError(f"{where}: HTTP 401, check the stats user and password")
                if response.status_code != 200:
                    raise LbError(f"{where}: HTTP {response.status_code} "
                                  f"{clean(response.reason_phrase, 60)}".rstrip())
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_REPLY_BYTES:
                        raise LbError(f"{where}: reply larger than {MAX_REPLY_BYTES} bytes")
        except (TimeoutError, httpx.TimeoutException):
            raise LbError(f"{where}: no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as err:
            raise LbError(f"{where}: {_describe(err)}") from None
        return body.decode("utf-8", errors="replace")


class _TooLarge(Exception):
    pass


async def _read_bounded(reader: asyncio.StreamReader) -> bytes:
    data = bytearray()
    while chunk := await reader.read(READ_CHUNK):
        data += chunk
        if len(data) > MAX_REPLY_BYTES:
            raise _TooLarge
    return bytes(data)


def _os_error(err: OSError) -> str:
    """The OS's words for `err` (asyncio's own strerror is "Connect call failed (...)")."""
    return os.strerror(err.errno) if err.errno else clean(str(err)) or type(err).__name__


def _describe(err: httpx.HTTPError) -> str:
    """The root cause in words (`Connection refused`, not a chain of wrapper classes)."""
    cause: BaseException | None = err
    for _ in range(MAX_CAUSES):
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({clean(cause.verify_message or '')})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error ({clean(cause.reason or str(cause))})"
        if isinstance(cause, OSError) and cause.errno:
            return _os_error(cause)
        cause = cause.__cause__ or cause.__context__
    return clean(str(err)) or type(err).__name__


def parse_stat_csv(text: str) -> list[ServerView]:
    """The server rows of HAProxy's stats CSV (frontends, backends and listeners skipped).

    Columns are found by name in the `# pxname,svname,...` header, so HAProxy versions that add
    columns parse alike. LbError (one line) if `text` is not that CSV, or if any row holds a
    value that does not parse: a read that cannot be trusted whole is not used at all.
    """
    lines = text.lstrip("\ufeff\r\n ").splitlines()
    if not lines or not lines[0].startswith("# "):
        first = clean(lines[0] if lines else "(empty reply)", 60)
        raise LbError(f"not HAProxy stats CSV (expected a '# pxname,svname,...' header, "
                      f"got {first!r})")
    try:
        return _servers(lines)
    except csv.Error as err:  # a field over csv.field_size_limit(), for one
        raise LbError(f"HAProxy stats CSV unreadable: {clean(str(err), 80)}") from None


def _check_code(text: str) -> int | None:
    """The HTTP status of the last layer-7 check (`check_code`); None when there is none or it
    is not a three-digit status (it is data from the network: never an error)."""
    return int(text) if len(text) == 3 and text.isascii() and text.isdigit() else None


def _servers(lines: list[str]) -> list[ServerView]:
    rows = csv.reader(lines)
    header = [name.strip() for name in next(rows)]
    header[0] = header[0].removeprefix("#").strip()
    column = {name: index for index, name in enumerate(header) if name}
    missing = [name for name in _REQUIRED if name not in column]
    if missing:
        raise LbError(f"HAProxy stats CSV lacks the {', '.join(missing)} column(s)")
    servers = []
    for number, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) <= max(column[name] for name in _REQUIRED):
            raise LbError(f"HAProxy stats CSV line {number} has only {len(row)} fields")

        def field(name: str, row: list[str] = row) -> str:
            index = column.get(name)
            return row[index].strip() if index is not None and index < len(row) else ""

        def count(name: str, number: int = number) -> int | None:
            """A count column; None when HAProxy leaves it empty (a server without checks)."""
            text = field(name)
            if not text:
                return None
            if text.isascii() and text.isdigit() and len(text) <= MAX_COUNT_DIGITS:
                return int(text)
            raise LbError(f"HAProxy stats CSV line {number}: {name} is not a count "
                          f"({clean(text, _QUOTED + 1)!r})")

        kind = field("type")
        if (kind and kind != _SERVER_TYPE) or field("svname") in _AGGREGATES:
            continue
        check = field("check_status").removeprefix("* ")  # `* ` marks a check in progress
        servers.append(ServerView(
            backend=clean(field("pxname"), 100), server=clean(field("svname"), 100),
            status=clean(field("status"), 60), check_status=clean(check, 40) or None,
            current_sessions=count("scur"), last_change_s=count("lastchg"),
            downtime_s=count("downtime"), check_code=_check_code(field("check_code"))))
    return servers
