"""Read castui's TOML configuration into the typed model, reporting every mistake at once.

An operator fixing a config in a maintenance window wants the whole list of problems, each on
one line that names the file and the exact key, not one traceback per attempt. Unknown keys are
errors too: a misspelt key must never silently switch a check off.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import re
import ssl
import tomllib
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TypeVar

from castui.config.addresses import parse_socket_address, stats_url
from castui.config.model import (
    NOTIFIER_TYPES,
    PORT_NAMES,
    PROFILES,
    Balancer,
    Config,
    Defaults,
    DnsServer,
    Node,
    Notifier,
    NotifierType,
    Ports,
    Profile,
    Site,
)
from castui.model.exchange import ALL_CHECK_NAMES
from castui.model.text import clean

T = TypeVar("T")
C = TypeVar("C", bound=str)

#: A castui config is a few kilobytes; anything this big is the wrong file.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: Upper bound for `interval`/`timeout` (a live console polls far faster); it catches
#: HAProxy-style milliseconds such as `inter 2000`.
MAX_SECONDS = 300
#: Upper bound for the flapping window and quiet period: a day.
MAX_SPAN = 86400

_TOP_KEYS = ("defaults", "sites", "notifiers", "exchange_export")
_DEFAULTS_KEYS = tuple(field.name for field in dataclasses.fields(Defaults))
_SITE_KEYS = ("name", "array_fqdn", "vip", "dns_servers", "profile", "ports", "nodes",
              "service_names", "external_dns_servers", "agent_token_file", "lb",
              "balancer_addresses")
_LB_KEYS = ("type", "stats_url", "socket", "stats_user", "stats_password_file", "backend",
            "timeout", "servers")
_NODE_KEYS = ("name", "address", "fqdn", "ports", "agent", "agent_token_file")
_NOTIFIER_KEYS = ("type", "name", "command", "url", "timeout", "retries", "ca_file")
_NOTIFIER_DEFAULT = Notifier(type="bell", name="")

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_AT_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


class ConfigError(Exception):
    """Every problem found in one configuration, one `FILE: KEY.PATH: message` line each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(self.problems)


def load_config(path: str | Path) -> Config:
    """Read and validate the file at `path`; relative `ca_file`s are resolved next to it."""
    file = Path(path)
    source = clean(str(path))
    config = parse_config(_read_text(file, source), source, base_dir=file.parent)
    return dataclasses.replace(config, path=file)


def parse_config(text: str, source: str = "<config>", *, base_dir: Path | None = None) -> Config:
    """Validate TOML `text`; `source` names it in problems, `base_dir` anchors a relative ca_file
    (the current directory when not given)."""
    source = clean(source)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{source}: {_syntax_problem(text, err)}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: arrays or inline tables are nested too deeply"]) from None
    base = base_dir if base_dir is not None else Path.cwd()
    reader = _Reader(source, base)
    config = _read_config(reader, raw, base)
    if reader.problems:
        raise ConfigError(reader.problems)
    return config


# --- reading the file -------------------------------------------------------------------------


def _read_text(file: Path, source: str) -> str:
    """The file's text, or a one-line ConfigError; a FIFO or a device must not hang us."""
    if not file.exists():
        raise ConfigError([f"{source}: file not found"])
    if not file.is_file():
        raise ConfigError([f"{source}: not a regular file"])
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError([f"{source}: cannot read file: {err.strerror or err}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{source}: larger than {MAX_CONFIG_BYTES // 2**20} MiB, "
                           "not a castui config"])
    try:
        return data.decode("utf-8-sig")  # tolerate the BOM some Windows editors add
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError([f"{source}: line {line}: not valid UTF-8 text"]) from None


def _syntax_problem(text: str, err: tomllib.TOMLDecodeError) -> str:
    """`line N: message` from tomllib's `message (at line N, column M)` (3.11 has no lineno)."""
    message = str(err)
    if match := _AT_POSITION.search(message):
        return f"line {match[1]}: {clean(message[:match.start()])} (column {match[2]})"
    if match := _AT_END.search(message):
        last_line = max(len(text.rstrip().splitlines()), 1)
        return f"line {last_line}: {clean(message[:match.start()])} (at end of file)"
    return f"TOML syntax error: {clean(message)}"


# --- the walk over the TOML tree --------------------------------------------------------------


class _Invalid(Exception):
    """Raised by a converter; the reader turns it into a problem line for the key at hand."""


class _Reader:
    """Collects problems while walking the tree, so one pass reports all of them."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir
        self.problems: list[str] = []

    def report(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path or 'top level'}: {message}")

    def check_keys(self, table: dict[str, object], path: str, known: Collection[str]) -> None:
        for key in table:
            if key not in known:
                self.report(path, _unknown("key", key, known, "known keys"))

    def convert(self, value: object, path: str, convert: Callable[[object], T]) -> T | None:
        """`convert(value)`, or None after reporting why it is not acceptable."""
        try:
            return convert(value)
        except _Invalid as err:
            self.report(path, str(err))
            return None

    def get(self, table: dict[str, object], path: str, key: str,
            convert: Callable[[object], T], *, required: bool = False) -> T | None:
        """The converted value of `key`; None if it is absent or invalid (reported)."""
        if key not in table:
            if required:
                self.report(_join(path, key), "required key is missing")
            return None
        return self.convert(table[key], _join(path, key), convert)

    def get_or(self, table: dict[str, object], path: str, key: str,
               convert: Callable[[object], T], default: T) -> T:
        """Like get(), with `default` standing in for an absent or invalid (reported) value."""
        value = self.get(table, path, key, convert)
        return default if value is None else value

    def items(self, table: dict[str, object], path: str, key: str,
              convert: Callable[[object], T]) -> list[T] | None:
        """The valid elements of array `key` (invalid ones are reported); None if absent."""
        values = self.get(table, path, key, _array)
        if values is None:
            return None
        converted = (self.convert(value, f"{_join(path, key)}[{index}]", convert)
                     for index, value in enumerate(values))
        return [value for value in converted if value is not None]

    def tables(self, table: dict[str, object], path: str, key: str,
               header: str) -> list[tuple[str, dict[str, object]]] | None:
        """(path, table) for each element of an array of tables; None if absent or not an array."""
        if isinstance(table.get(key), dict):
            self.report(_join(path, key), f"expected an array of tables ({header}), got a table")
            return None
        values = self.get(table, path, key, _array)
        if values is None:
            return None
        paths = (f"{_join(path, key)}[{index}]" for index in range(len(values)))
        found = ((item_path, self.convert(value, item_path, _table))
                 for item_path, value in zip(paths, values, strict=True))
        return [(item_path, item) for item_path, item in found if item is not None]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _read_config(reader: _Reader, raw: dict[str, object], base_dir: Path) -> Config:
    reader.check_keys(raw, "", _TOP_KEYS)
    defaults = _read_defaults(reader, reader.get(raw, "", "defaults", _table) or {}, base_dir)
    return Config(sites=tuple(_read_sites(reader, raw)), defaults=defaults,
                  notifiers=tuple(_read_notifiers(reader, raw)),
                  exchange_export=_read_exchange_export(reader, raw, base_dir))


def _read_exchange_export(reader: _Reader, raw: dict[str, object], base_dir: Path) -> Path | None:
    """`exchange_export`: the export file, next to the config when relative. It need not exist
    yet: the console says so and picks it up when it appears."""
    text = reader.get(raw, "", "exchange_export", _string)
    if text is None:
        return None
    if not text.strip() or _CONTROL.search(text):
        reader.report("exchange_export", "must be a file path")
        return None
    return (base_dir / Path(text).expanduser()).absolute()


def _read_defaults(reader: _Reader, raw: dict[str, object], base_dir: Path) -> Defaults:
    path = "defaults"
    reader.check_keys(raw, path, _DEFAULTS_KEYS)
    base = Defaults()
    interval = reader.get(raw, path, "interval", _seconds)
    timeout = reader.get(raw, path, "timeout", _seconds)
    defaults = Defaults(
        interval=interval if interval is not None else base.interval,
        timeout=timeout if timeout is not None else base.timeout,
        rise=reader.get_or(raw, path, "rise", _integer(1), base.rise),
        fall=reader.get_or(raw, path, "fall", _integer(1), base.fall),
        ca_file=reader.get(raw, path, "ca_file", _ca_bundle(base_dir)),
        tls_verify=reader.get_or(raw, path, "tls_verify", _boolean, base.tls_verify),
        max_concurrency=reader.get_or(raw, path, "max_concurrency", _integer(1, 10000),
                                      base.max_concurrency),
        pool_checks=_read_pool_checks(reader, raw, path) or base.pool_checks,
        retention_days=reader.get_or(raw, path, "retention_days", _integer(1),
                                     base.retention_days),
        cert_warn_days=reader.get_or(raw, path, "cert_warn_days", _integer(1, 3650),
                                     base.cert_warn_days),
        dns_ttl_max=reader.get_or(raw, path, "dns_ttl_max", _integer(0, 604800),
                                  base.dns_ttl_max),
        lb_admin=reader.get_or(raw, path, "lb_admin", _boolean, base.lb_admin),
        lb_grace=reader.get(raw, path, "lb_grace", _seconds),
        skew_max=reader.get_or(raw, path, "skew_max", _ratio, base.skew_max),
        skew_min_connections=reader.get_or(raw, path, "skew_min_connections", _integer(1),
                                           base.skew_min_connections),
        vip_samples=reader.get_or(raw, path, "vip_samples", _integer(0, 50), base.vip_samples),
        flap_changes=reader.get_or(raw, path, "flap_changes", _integer(2, 1000),
                                   base.flap_changes),
        flap_window=reader.get_or(raw, path, "flap_window", _span, base.flap_window),
        flap_quiet=reader.get_or(raw, path, "flap_quiet", _span, base.flap_quiet),
    )
    both_valid = (interval is not None or "interval" not in raw) and (
        timeout is not None or "timeout" not in raw)
    if both_valid and defaults.timeout >= defaults.interval:
        if "timeout" in raw:
            reader.report(f"{path}.timeout", f"must be less than interval "
                          f"({defaults.interval:g}), got {defaults.timeout:g}")
        else:
            reader.report(f"{path}.interval", f"must be greater than timeout (default "
                          f"{defaults.timeout:g}); set a smaller defaults.timeout too")
    return defaults


def _read_notifiers(reader: _Reader, raw: dict[str, object]) -> list[Notifier]:
    """`[[notifiers]]`: bell, command hook or webhook, each with a unique name."""
    out: list[Notifier] = []
    seen: dict[str, str] = {}
    for index, (path, table) in enumerate(reader.tables(raw, "", "notifiers", "[[notifiers]]")
                                          or []):
        reader.check_keys(table, path, _NOTIFIER_KEYS)
        kind = reader.get(table, path, "type", _notifier_type, required=True)
        name = reader.get_or(table, path, "name", _name, f"{kind or 'notifier'} {index + 1}")
        _claim(reader, seen, name, f"{path}.name", "notifier")
        command = reader.items(table, path, "command", _string)
        url = reader.get(table, path, "url", _webhook_url)
        if kind == "command" and not command:
            reader.report(f"{path}.command", "a command notifier needs a non-empty command "
                          "array, e.g. [\"/usr/local/bin/page\", \"--team\", \"exchange\"]")
        if kind == "webhook" and "url" not in table:
            reader.report(f"{path}.url", "required key is missing")
        ca_file = reader.get(table, path, "ca_file", _ca_bundle(reader.base_dir))
        for key, wanted in (("command", "command"), ("url", "webhook"), ("ca_file", "webhook")):
            if key in table and kind is not None and kind != wanted:
                reader.report(f"{path}.{key}", f"only a {wanted} notifier takes {key}")
        timeout = reader.get_or(table, path, "timeout", _seconds, _NOTIFIER_DEFAULT.timeout)
        retries = reader.get_or(table, path, "retries", _integer(0, 10),
                                 _NOTIFIER_DEFAULT.retries)
        if kind is not None:
            out.append(Notifier(type=kind, name=name, command=tuple(command or ()), url=url,
                                timeout=timeout, retries=retries, ca_file=ca_file))
    return out


def _notifier_type(value: object) -> NotifierType:
    return _choice(value, NOTIFIER_TYPES, "notifier type", "supported")


def _webhook_url(value: object) -> str:
    """An http(s) URL with a host; its path and query may hold a token, so it is not echoed."""
    text = _string(value)
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", text):
        raise _Invalid("is not an http(s):// URL")
    return text


def _span(value: object) -> float:
    """Seconds, up to a day (flapping window, quiet period)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"expected a number of seconds, got {_describe(value)}")
    if not math.isfinite(value) or not 0 < value <= MAX_SPAN:
        raise _Invalid(f"must be more than 0 and at most {MAX_SPAN} seconds, got {value}")
    return float(value)


def _read_pool_checks(reader: _Reader, raw: dict[str, object], path: str) -> tuple[str, ...] | None:
    checks = reader.items(raw, path, "pool_checks", _check_name)
    if checks is None:
        return None
    if raw["pool_checks"] == []:
        reader.report(f"{path}.pool_checks", "must name at least one check")
        return None
    return tuple(dict.fromkeys(checks))


def _read_sites(reader: _Reader, raw: dict[str, object]) -> list[Site]:
    entries = reader.tables(raw, "", "sites", "[[sites]]")
    if "sites" not in raw or raw["sites"] == []:
        reader.report("sites", "no sites defined; add at least one [[sites]] table")
    sites: list[Site] = []
    seen: dict[str, str] = {}
    for path, table in entries or []:
        site = _read_site(reader, table, path)
        _claim(reader, seen, table.get("name"), f"{path}.name", "site name")
        if site is not None:
            sites.append(site)
    return sites


def _read_site(reader: _Reader, table: dict[str, object], path: str) -> Site | None:
    reader.check_keys(table, path, _SITE_KEYS)
    name = reader.get(table, path, "name", _name, required=True)
    array_fqdn = reader.get(table, path, "array_fqdn", _dns_name, required=True)
    vip = reader.get(table, path, "vip", _ip, required=True)
    dns_servers = reader.items(table, path, "dns_servers", _dns_server) or []
    service_names = reader.items(table, path, "service_names", _dns_name) or []
    external = reader.items(table, path, "external_dns_servers", _dns_server) or []
    profile = reader.get(table, path, "profile", _profile) or "exchange2010"
    ports = _read_ports(reader, table, path, Ports())
    token = reader.get(table, path, "agent_token_file", _secret_file(reader.base_dir))
    nodes = _read_nodes(reader, table, path, ports, vip, token)
    lb = _read_balancer(reader, table, path, {node.name for node in nodes})
    balancer_addresses = _read_balancer_addresses(reader, table, path, nodes)
    if name is None or array_fqdn is None or vip is None:
        return None
    return Site(name=name, array_fqdn=array_fqdn, vip=vip, profile=profile, ports=ports,
                nodes=tuple(nodes), dns_servers=tuple(dns_servers),
                service_names=tuple(dict.fromkeys(service_names)),
                external_dns_servers=tuple(external), lb=lb,
                balancer_addresses=balancer_addresses)


def _read_balancer_addresses(reader: _Reader, table: dict[str, object], path: str,
                             nodes: list[Node]) -> tuple[str, ...]:
    """`balancer_addresses`: where connections through the array come from (the balancer's
    source addresses) or arrive at (the VIP under Windows NLB). A node's own address there
    would count every client that bypasses the array as balanced, so it is refused."""
    addresses = reader.items(table, path, "balancer_addresses", _ip) or []
    own = {node.address: node.name for node in nodes}
    for address in addresses:
        if address in own:
            reader.report(_join(path, "balancer_addresses"), f"{address!r} is node "
                          f"{own[address]}'s own address, not the balancer's")
    return tuple(dict.fromkeys(addresses))


def _read_ports(reader: _Reader, table: dict[str, object], path: str, base: Ports) -> Ports:
    """`base` overridden by the `ports` table under `path`, if any."""
    raw = reader.get(table, path, "ports", _table)
    if raw is None:
        return base
    ports_path = _join(path, "ports")
    reader.check_keys(raw, ports_path, PORT_NAMES)
    found = {name: reader.get(raw, ports_path, name, _integer(1, 65535)) for name in PORT_NAMES}
    return dataclasses.replace(base, **{k: port for k, port in found.items() if port is not None})


def _read_nodes(reader: _Reader, site: dict[str, object], path: str, ports: Ports,
                vip: str | None, token: Path | None) -> list[Node]:
    entries = reader.tables(site, path, "nodes", "[[sites.nodes]]")
    if "nodes" not in site or site["nodes"] == []:
        reader.report(_join(path, "nodes"),
                      "a site needs at least one node; add a [[sites.nodes]] table")
    nodes: list[Node] = []
    seen: dict[str, str] = {}
    for node_path, table in entries or []:
        node = _read_node(reader, table, node_path, ports, vip, token)
        _claim(reader, seen, table.get("name"), f"{node_path}.name", "node name")
        if node is not None:
            nodes.append(node)
    return nodes


def _read_node(reader: _Reader, table: dict[str, object], path: str, site_ports: Ports,
               vip: str | None, site_token: Path | None) -> Node | None:
    reader.check_keys(table, path, _NODE_KEYS)
    name = reader.get(table, path, "name", _name, required=True)
    address = reader.get(table, path, "address", _ip, required=True)
    fqdn = reader.get(table, path, "fqdn", _dns_name)
    ports = _read_ports(reader, table, path, site_ports)
    if address is not None and address == vip:
        reader.report(f"{path}.address",
                      f"{address!r} is the site's VIP; a node needs its own address")
    agent = reader.get(table, path, "agent", _http_url)
    token = reader.get(table, path, "agent_token_file", _secret_file(reader.base_dir))
    token = token or site_token
    if agent is not None and token is None:
        reader.report(f"{path}.agent", "needs agent_token_file, on the node or its site")
    if name is None or address is None:
        return None
    return Node(name=name, address=address, ports=ports, fqdn=fqdn, agent=agent,
                agent_token_file=token if agent is not None else None)


def _read_balancer(reader: _Reader, site: dict[str, object], path: str,
                   nodes: set[str]) -> Balancer | None:
    """`[sites.lb]`: where to read the balancer's own verdict on each node."""
    raw = reader.get(site, path, "lb", _table)
    if raw is None:
        return None
    path = _join(path, "lb")
    reader.check_keys(raw, path, _LB_KEYS)
    kind = reader.get(raw, path, "type", _string, required=True)
    if kind is not None and kind != "haproxy":
        reader.report(f"{path}.type", _unknown("balancer type", kind, ("haproxy",), "supported"))
    url = reader.get(raw, path, "stats_url", _checked(stats_url))
    socket = reader.get(raw, path, "socket", _checked(parse_socket_address))
    if "stats_url" not in raw and "socket" not in raw:
        reader.report(path, "give stats_url, socket, or both")
    servers_raw = reader.get(raw, path, "servers", _table) or {}
    servers = []
    for node, server in servers_raw.items():
        if node not in nodes:
            reader.report(f"{path}.servers", _unknown("node", node, sorted(nodes), "this site's"))
        elif (name := reader.convert(server, f"{path}.servers.{node}", _name)) is not None:
            servers.append((node, name))
    timeout = reader.get(raw, path, "timeout", _seconds)
    if kind != "haproxy":
        return None
    return Balancer(
        type="haproxy", stats_url=url, socket=socket,
        stats_user=reader.get(raw, path, "stats_user", _name),
        stats_password_file=reader.get(raw, path, "stats_password_file",
                                       _secret_file(reader.base_dir)),
        backend=reader.get_or(raw, path, "backend", _name, "https"), timeout=timeout,
        servers=tuple(servers))


def _checked(parse: Callable[[str], object]) -> Callable[[object], str]:
    """A string that `parse` accepts (it raises ValueError with the reason otherwise)."""

    def convert(value: object) -> str:
        text = _string(value)
        try:
            parse(text)
        except ValueError as err:
            raise _Invalid(clean(str(err), 200)) from None
        return text

    return convert


def _ratio(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid(f"expected a number, got {_describe(value)}")
    if not 1.0 < value <= 100.0:
        raise _Invalid(f"must be more than 1 and at most 100, got {value:g}")
    return float(value)


def _http_url(value: object) -> str:
    text = _string(value)
    if not re.fullmatch(r"https?://[^\s/?#]+(:\d{1,5})?/?", text):
        raise _Invalid(f"{_quote(text)} is not an http(s)://host:port URL")
    return text.rstrip("/")


def _secret_file(base_dir: Path) -> Callable[[object], Path]:
    """A file that holds a secret: it must exist; its content is read only when used."""

    def convert(value: object) -> Path:
        text = _string(value)
        path = (base_dir / Path(text).expanduser()).absolute()
        if not path.is_file():
            raise _Invalid(f"file not found: {_quote(str(path), 200)}")
        return path

    return convert


def _claim(reader: _Reader, seen: dict[str, str], name: object, path: str, what: str) -> None:
    """Report `name` if another entry already uses it (case-insensitively, as AD does)."""
    if not isinstance(name, str):
        return
    key = name.casefold()
    if key in seen:
        reader.report(path, f"duplicate {what} {_quote(name)} (also {seen[key]})")
    else:
        seen[key] = path


# --- converters: one TOML value in, a model value out, or _Invalid -------------------------------


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {_quote(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    kind = {int: "integer", float: "float"}.get(type(value), type(value).__name__)
    return f"{kind} {clean(str(value), 40)}"


def _quote(text: str, limit: int = 60) -> str:
    """repr() escapes control characters, so the quoted text stays on one line."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _unknown(kind: str, value: str, options: Collection[str], listing: str) -> str:
    """`unknown KIND 'x'` plus the closest option, or the list of options when none is close."""
    close = difflib.get_close_matches(value, list(options), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"{listing}: {', '.join(sorted(options))}"
    return f"unknown {kind} {_quote(value)} ({hint})"


def _table(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _Invalid(f"expected a table, got {_describe(value)}")
    return value


def _array(value: object) -> list[object]:
    if not isinstance(value, list):
        raise _Invalid(f"expected an array, got {_describe(value)}")
    return value


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {_describe(value)}")
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_describe(value)}")
    return value


def _integer(low: int, high: int | None = None) -> Callable[[object], int]:
    """An int in [low, high]; TOML booleans are Python ints, so they are rejected explicitly."""
    bounds = f"at least {low}" if high is None else f"between {low} and {high}"

    def convert(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"expected an integer, got {_describe(value)}")
        if value < low or (high is not None and value > high):
            raise _Invalid(f"must be {bounds}, got {value}")
        return value

    return convert


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"expected a number of seconds, got {_describe(value)}")
    if (isinstance(value, float) and math.isnan(value)) or value <= 0:
        raise _Invalid(f"must be a positive number of seconds, got {value}")
    if value > MAX_SECONDS:
        raise _Invalid(f"must be at most {MAX_SECONDS} seconds, got {value} "
                       "(castui counts seconds, not milliseconds)")
    return float(value)


def _name(value: object) -> str:
    text = _string(value)
    if not text.strip():
        raise _Invalid("must not be empty")
    if _CONTROL.search(text):
        raise _Invalid(f"{_quote(text)} contains control characters")
    if "/" in text:
        raise _Invalid(f"{_quote(text)} contains '/', which castui uses in 'Site/Node' keys")
    return text


def _ip(value: object) -> str:
    text = _string(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _Invalid(f"{_quote(text)} is not an IP address") from None


def _dns_name(value: object) -> str:
    """A fully qualified host name (RFC 1123 labels); a trailing dot is accepted and dropped."""
    text = _string(value)
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if _is_ip(name):
        problem = "is an IP address, not a DNS name"
    elif len(name) > 253:
        problem = "is longer than 253 characters"
    elif len(labels) < 2:
        problem = "is not fully qualified (needs a dot, e.g. outlook.corp.local)"
    elif any(not label for label in labels):
        problem = "has an empty label"
    elif any(len(label) > 63 for label in labels):
        problem = "has a label longer than 63 characters"
    elif not all(_LABEL.fullmatch(label) for label in labels):
        problem = "may only use letters, digits and inner hyphens in each label"
    elif labels[-1].isdigit():
        problem = "has an all-numeric last label"
    else:
        return name
    raise _Invalid(f"{_quote(text)} {problem}")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _dns_server(value: object) -> DnsServer:
    """`host`, `host:port` or `[v6]:port`; castui asks this resolver directly, so host is an IP."""
    text = _string(value)
    host, port_text = text, None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _Invalid(f"{_quote(text)} is not [address]:port")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:  # IPv4 with a port; bare IPv6 has several colons
        host, _, port_text = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise _Invalid(f"{_quote(host)} is not an IP address "
                       "(castui asks the resolver directly; give its address)") from None
    if port_text is None:
        return DnsServer(str(address))
    if not (port_text.isascii() and port_text.isdigit()):
        raise _Invalid(f"port {_quote(port_text)} in {_quote(text)} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise _Invalid(f"port {port} in {_quote(text)} must be between 1 and 65535")
    return DnsServer(str(address), port)


def _profile(value: object) -> Profile:
    return _choice(value, PROFILES, "profile", "expected one of")


def _choice(value: object, options: tuple[C, ...], what: str, listing: str) -> C:
    """One of `options` (typed as its Literal), or _Invalid naming the alternatives."""
    text = _string(value)
    for option in options:
        if text == option:
            return option
    raise _Invalid(_unknown(what, text, options, listing))


def _check_name(value: object) -> str:
    text = _string(value)
    if text not in ALL_CHECK_NAMES:
        raise _Invalid(_unknown("check", text, ALL_CHECK_NAMES, "known checks"))
    return text


def _ca_bundle(base_dir: Path) -> Callable[[object], Path]:
    """A CA file that exists and that OpenSSL accepts, so a bad path fails now, not per probe."""

    def convert(value: object) -> Path:
        text = _string(value)
        if not text.strip():
            raise _Invalid("must not be empty")
        path = (base_dir / Path(text).expanduser()).absolute()
        if not path.is_file():
            raise _Invalid(f"file not found: {_quote(str(path), 200)}")
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
        except ssl.SSLError as err:
            reason = str(err.reason or "unreadable").lower().replace("_", " ")
            raise _Invalid(f"{_quote(str(path), 200)} is not a PEM CA bundle ({reason})") from None
        except OSError as err:
            raise _Invalid(f"cannot read {_quote(str(path), 200)}: {err.strerror}") from None
        return path

    return convert
