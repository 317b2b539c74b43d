"""Read a `castui-exchange/1` file: what Exchange says about its servers, arrays, databases,
URLs and certificates, as written by tools/Export-CastuiExchange.ps1.

The file comes from another machine and another language, so it is read defensively: one
object where a list was expected (PowerShell unrolls one-element arrays), null for an unset
URL, names in any case, a BOM, UTF-16 (Windows PowerShell's `>`), `/Date(ms)/` times. Anything
else that is wrong is one line naming the file and the field; keys this version does not know
are ignored (the format may grow), an unknown `format` is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from castui.model.text import clean

FORMAT = "castui-exchange/1"
#: A large estate's export is a few megabytes; anything this big is the wrong file.
MAX_EXPORT_BYTES = 64 * 1024 * 1024
#: Virtual directory kinds, as the script names them.
VDIR_KINDS = ("owa", "ecp", "ews", "oab", "eas", "mapi", "autodiscover")
_NAME_LIMIT = 255
_VERSION = re.compile(r"(\d+)\.(\d+)")
_MS_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")

T = TypeVar("T")


class ExportError(Exception):
    """An export castui cannot use: one line, `FILE: FIELD: problem`."""


@dataclass(frozen=True, slots=True)
class Server:
    """An Exchange server. `major` is 14 for Exchange 2010, 15 for 2013 and later."""

    name: str
    fqdn: str | None
    site: str
    version: str
    major: int | None
    roles: tuple[str, ...]

    @property
    def is_2010(self) -> bool:
        return self.major == 14

    @property
    def client_access(self) -> bool:
        """Serves clients: the ClientAccess role (2010, 2013), or Mailbox from 2016 on,
        where client access is a service of every Mailbox server."""
        roles = {role.casefold() for role in self.roles}
        return "clientaccess" in roles or (bool(self.major and self.major >= 15)
                                           and "mailbox" in roles)


@dataclass(frozen=True, slots=True)
class Array:
    """A Client Access array (Exchange 2010): one per AD site, named by `fqdn`."""

    name: str
    fqdn: str
    site: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Database:
    name: str
    server: str
    site: str
    #: Where Outlook profiles made against this database point: should be the array FQDN.
    rpc_client_access_server: str | None


@dataclass(frozen=True, slots=True)
class VirtualDirectory:
    server: str
    kind: str
    internal_url: str | None
    external_url: str | None

    def hosts(self) -> tuple[str, ...]:
        return tuple(host for url in (self.internal_url, self.external_url)
                     if url and (host := url_host(url)))


@dataclass(frozen=True, slots=True)
class OutlookAnywhere:
    server: str
    internal_hostname: str | None
    external_hostname: str | None

    def hosts(self) -> tuple[str, ...]:
        return tuple(h for h in (self.internal_hostname, self.external_hostname) if h)


@dataclass(frozen=True, slots=True)
class Certificate:
    server: str
    subject: str
    names: tuple[str, ...]
    not_after: datetime | None
    #: Where Exchange binds it: IIS, SMTP, IMAP, POP, UM.
    services: tuple[str, ...]

    @property
    def for_iis(self) -> bool:
        return any(service.casefold() == "iis" for service in self.services)


@dataclass(frozen=True, slots=True)
class Export:
    """One export: the file it came from and what it says."""

    source: str
    collected: datetime
    servers: tuple[Server, ...]
    arrays: tuple[Array, ...]
    databases: tuple[Database, ...]
    virtual_directories: tuple[VirtualDirectory, ...]
    outlook_anywhere: tuple[OutlookAnywhere, ...]
    certificates: tuple[Certificate, ...]

    def server(self, name: str) -> Server | None:
        """The server called `name` (or with that FQDN), in any case."""
        key = name.casefold()
        return next((s for s in self.servers
                     if s.name.casefold() == key or (s.fqdn or "").casefold() == key), None)

    def sites(self) -> list[str]:
        """Every AD site the export names, in order of appearance, one spelling each."""
        seen: dict[str, str] = {}
        for site in (*(s.site for s in self.servers), *(a.site for a in self.arrays)):
            seen.setdefault(site.casefold(), site)
        return list(seen.values())


def url_host(url: str) -> str | None:
    """The host name of an http(s) URL, lower case; None if it has none."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


# --- reading ------------------------------------------------------------------------------------


def load_export(path: str | Path) -> Export:
    """Read and check the export at `path`; ExportError (one line) when it cannot be used."""
    file = Path(path)
    source = clean(str(path), 200)
    if not file.is_file():
        raise ExportError(f"{source}: " + ("not a regular file" if file.exists()
                                           else "file not found"))
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_EXPORT_BYTES + 1)
    except OSError as err:
        raise ExportError(f"{source}: cannot read file: {clean(err.strerror or str(err))}") \
            from None
    if len(data) > MAX_EXPORT_BYTES:
        raise ExportError(f"{source}: larger than {MAX_EXPORT_BYTES // 2**20} MiB, "
                          "not a castui export")
    return parse_export(data, source)


def parse_export(data: bytes | str, source: str = "<export>") -> Export:
    """Check an export's text (bytes in any of the encodings PowerShell writes)."""
    source = clean(source, 200)
    text = data if isinstance(data, str) else _decode(data, source)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ExportError(f"{source}: line {err.lineno}: not JSON ({clean(err.msg, 80)})") \
            from None
    except RecursionError:
        raise ExportError(f"{source}: nested too deeply to be a castui export") from None
    return _Reader(source).export(doc)


def _decode(data: bytes, source: str) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with its BOM."""
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        shown = "UTF-16" if encoding == "utf-16" else "UTF-8"
        raise ExportError(f"{source}: line {line}: not valid {shown} text") from None


class _Reader:
    """Walks the document; the first problem ends the walk as one ExportError line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, problem: str) -> ExportError:
        return ExportError(f"{self.source}: {field}: {problem}")

    def export(self, doc: object) -> Export:
        if not isinstance(doc, dict):
            raise self.fail("top level", f"expected a JSON object, got {_describe(doc)}")
        fmt = doc.get("format")
        if fmt != FORMAT:
            shown = "missing" if fmt is None else f"unknown format {_quote(fmt)}"
            raise self.fail("format", f"{shown} (castui reads {FORMAT})")
        return Export(
            source=self.source,
            collected=self.time(doc, "collected", "collected"),
            servers=self.rows(doc, "servers", self.server_row),
            arrays=self.rows(doc, "arrays", self.array_row),
            databases=self.rows(doc, "databases", self.database_row),
            virtual_directories=self.rows(doc, "virtual_directories", self.vdir_row),
            outlook_anywhere=self.rows(doc, "outlook_anywhere", self.oa_row),
            certificates=self.rows(doc, "certificates", self.cert_row))

    def rows(self, doc: dict[str, Any], key: str,
             read: Callable[[dict[str, Any], str], T]) -> tuple[T, ...]:
        """A list of objects; one bare object (PowerShell's unrolling) or null is a list too."""
        if key not in doc:
            raise self.fail(key, "missing (write [] when there are none)")
        value = doc[key]
        items = [] if value is None else [value] if isinstance(value, dict) else value
        if not isinstance(items, list):
            raise self.fail(key, f"expected a list of objects, got {_describe(value)}")
        out = []
        for index, item in enumerate(items):
            path = f"{key}[{index}]"
            if not isinstance(item, dict):
                raise self.fail(path, f"expected an object, got {_describe(item)}")
            out.append(read(item, path))
        return tuple(out)

    def text(self, row: dict[str, Any], path: str, key: str) -> str:
        value = self.maybe_text(row, path, key)
        if value is None:
            raise self.fail(f"{path}.{key}", "missing" if key not in row else "must not be null")
        return value

    def maybe_text(self, row: dict[str, Any], path: str, key: str) -> str | None:
        """A string, or None for null, absent or blank (PowerShell writes unset URLs so)."""
        value = row.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(f"{path}.{key}", f"expected a string, got {_describe(value)}")
        value = value.strip()
        if len(value) > 2048:
            raise self.fail(f"{path}.{key}", "longer than 2048 characters")
        return clean(value, 2048) or None

    def names(self, row: dict[str, Any], path: str, key: str) -> tuple[str, ...]:
        """A list of strings; a single string, comma-separated (Exchange's own enum text, e.g.
        `Mailbox, ClientAccess`), is a list too; null is empty."""
        value = row.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}", f"expected a list of strings, got "
                                             f"{_describe(value)}")
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{path}.{key}[{index}]",
                                f"expected a string, got {_describe(item)}")
            if item.strip():
                out.append(clean(item.strip(), _NAME_LIMIT))
        return tuple(out)

    def time(self, row: dict[str, Any], path: str, key: str) -> datetime:
        found = self.maybe_time(row, path, key)
        if found is None:
            raise self.fail(path if path == key else f"{path}.{key}", "missing")
        return found

    def maybe_time(self, row: dict[str, Any], path: str, key: str) -> datetime | None:
        field = path if path == key else f"{path}.{key}"
        value = row.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(field, f"expected an ISO 8601 time, got {_describe(value)}")
        if match := _MS_DATE.fullmatch(value.strip()):
            return datetime.fromtimestamp(int(match[1]) / 1000, UTC)
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(field, f"{_quote(value)} is not an ISO 8601 time") from None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)

    def server_row(self, row: dict[str, Any], path: str) -> Server:
        version = self.text(row, path, "version")
        match = _VERSION.search(version)
        if match is None:
            raise self.fail(f"{path}.version", f"{_quote(version)} is not a version "
                                               "(e.g. 14.3 or 15.1)")
        return Server(name=self.name(row, path, "name"), fqdn=self.maybe_text(row, path, "fqdn"),
                      site=self.name(row, path, "site"), version=version,
                      major=int(match[1]), roles=self.names(row, path, "roles"))

    def array_row(self, row: dict[str, Any], path: str) -> Array:
        return Array(name=self.name(row, path, "name"), fqdn=self.host(row, path, "fqdn"),
                     site=self.name(row, path, "site"), members=self.names(row, path, "members"))

    def database_row(self, row: dict[str, Any], path: str) -> Database:
        return Database(name=self.name(row, path, "name"), server=self.name(row, path, "server"),
                        site=self.name(row, path, "site"),
                        rpc_client_access_server=self.maybe_text(row, path,
                                                                 "rpc_client_access_server"))

    def vdir_row(self, row: dict[str, Any], path: str) -> VirtualDirectory:
        kind = self.text(row, path, "kind").lower()
        if kind not in VDIR_KINDS:
            raise self.fail(f"{path}.kind", f"unknown kind {_quote(kind)} "
                                            f"(one of {', '.join(VDIR_KINDS)})")
        urls = []
        for key in ("internal_url", "external_url"):
            url = self.maybe_text(row, path, key)
            if url is not None and url_host(url) is None:
                raise self.fail(f"{path}.{key}", f"{_quote(url)} is not a URL with a host")
            urls.append(url)
        return VirtualDirectory(self.name(row, path, "server"), kind, urls[0], urls[1])

    def oa_row(self, row: dict[str, Any], path: str) -> OutlookAnywhere:
        return OutlookAnywhere(self.name(row, path, "server"),
                               self.maybe_host(row, path, "internal_hostname"),
                               self.maybe_host(row, path, "external_hostname"))

    def cert_row(self, row: dict[str, Any], path: str) -> Certificate:
        return Certificate(server=self.name(row, path, "server"),
                           subject=self.maybe_text(row, path, "subject") or "",
                           names=tuple(n.lower() for n in self.names(row, path, "names")),
                           not_after=self.maybe_time(row, path, "not_after"),
                           services=self.names(row, path, "services"))

    def name(self, row: dict[str, Any], path: str, key: str) -> str:
        value = self.text(row, path, key)
        if len(value) > _NAME_LIMIT:
            raise self.fail(f"{path}.{key}", f"longer than {_NAME_LIMIT} characters")
        return value

    def host(self, row: dict[str, Any], path: str, key: str) -> str:
        value = self.maybe_host(row, path, key)
        if value is None:
            raise self.fail(f"{path}.{key}", "missing" if key not in row else "must not be null")
        return value

    def maybe_host(self, row: dict[str, Any], path: str, key: str) -> str | None:
        """A DNS name, lower case, without a trailing dot."""
        value = self.maybe_text(row, path, key)
        if value is None:
            return None
        host = value.rstrip(".").lower()
        if not re.fullmatch(r"[a-z0-9_]([a-z0-9_.-]{0,251}[a-z0-9])?", host):
            raise self.fail(f"{path}.{key}", f"{_quote(value)} is not a DNS name")
        return host


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"string {_quote(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"number {clean(str(value), 20)}"


def _quote(value: object, limit: int = 60) -> str:
    text = clean(str(value), limit)
    return repr(text)
