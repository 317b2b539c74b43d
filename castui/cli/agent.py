"""`castui agent`: serve this node's connection counts, services and load to the monitor."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from castui.agent import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_PORTS,
    DEFAULT_SERVICES,
    AgentError,
    AgentServer,
    Collector,
    TokenError,
    read_token,
)
from castui.agent.collect import MAX_NAME_LENGTH, MAX_PORTS
from castui.agent.components import JsonRegistry, RegistryReader
from castui.agent.server import DEFAULT_BURST, DEFAULT_RATE
from castui.config.addresses import listen_address
from castui.model.text import clean

EXIT_USAGE = 2
log = logging.getLogger("castui.agent")
#: A test seam (docs/agent.md): a JSON file of server component states read in place of the
#: Windows registry, so the monitor's handling of Exchange maintenance can be tested off Windows.
COMPONENTS_FILE_ENV = "CASTUI_AGENT_COMPONENTS_FILE"


def components_stand_in() -> RegistryReader | None:
    """The JSON stand-in for the registry when CASTUI_AGENT_COMPONENTS_FILE names one, else None
    (the real registry on Windows, no component states elsewhere)."""
    path = os.environ.get(COMPONENTS_FILE_ENV)
    if not path:
        return None
    log.warning("reading server component states from %s (%s, a test seam), not the registry",
                clean(path, 200), COMPONENTS_FILE_ENV)
    return JsonRegistry(Path(path))


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "agent", help="serve this node's connection counts and services to the monitor",
        description="A small read-only HTTP service for each CAS node: established TCP "
                    "connections per service port with distinct clients, Exchange/IIS service "
                    "states (Windows) or processes, CPU and memory. Every request needs the "
                    "token (Authorization: Bearer TOKEN).")
    p.add_argument("--listen", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}", metavar="HOST:PORT",
                   help=f"address to serve on (default {DEFAULT_HOST}:{DEFAULT_PORT}, "
                        "this machine only; 0.0.0.0:PORT for the network)")
    p.add_argument("--token-file", required=True, type=Path, metavar="FILE",
                   help="file holding the shared token (one line; not readable by others)")
    p.add_argument("--tls-cert", type=Path, metavar="FILE", help="PEM certificate (chain)")
    p.add_argument("--tls-key", type=Path, metavar="FILE", help="PEM private key")
    p.add_argument("--ports", type=_ports, default=DEFAULT_PORTS, metavar="P,P,...",
                   help="local service ports to count connections on (default "
                        f"{','.join(map(str, DEFAULT_PORTS))})")
    p.add_argument("--address", action="append", default=[], type=_ip, metavar="IP",
                   help="count only connections to this local address (repeatable; e.g. the "
                        "node's own address, and the VIP under Windows NLB)")
    p.add_argument("--service", action="append", default=[], type=_name, metavar="NAME",
                   help="another Windows service to report (repeatable; added to the "
                        "Exchange and IIS defaults)")
    p.add_argument("--process", action="append", default=[], type=_name, metavar="NAME",
                   help="a process to report as running or not, with its pid count "
                        "(repeatable)")
    p.add_argument("--rate", type=_positive, default=DEFAULT_RATE, metavar="N",
                   help=f"requests per second allowed per client (default {DEFAULT_RATE:g})")
    p.add_argument("--burst", type=_count, default=DEFAULT_BURST, metavar="N",
                   help=f"requests a client may make at once (default {DEFAULT_BURST})")
    p.add_argument("--log-file", type=Path, metavar="FILE",
                   help="append the log here instead of standard error")
    p.add_argument("--verbose", action="store_true", help="log every request, not only "
                   "refused ones")
    p.set_defaults(func=run)


def _ports(text: str) -> tuple[int, ...]:
    ports: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not (item.isascii() and item.isdigit() and 0 < int(item) < 65536):
            raise argparse.ArgumentTypeError(f"not a port: {clean(item, 20)!r} (1-65535)")
        ports.append(int(item))
    ports = list(dict.fromkeys(ports))
    if len(ports) > MAX_PORTS:
        raise argparse.ArgumentTypeError(f"at most {MAX_PORTS} ports")
    return tuple(ports)


def _name(text: str) -> str:
    if not text.strip() or len(text) > MAX_NAME_LENGTH or not text.isprintable():
        raise argparse.ArgumentTypeError(f"not a name: {clean(text, 40)!r}")
    return text.strip()


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {clean(text, 20)!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 0 < int(text) <= 10000):
        raise argparse.ArgumentTypeError(f"not a count from 1 to 10000: {clean(text, 20)!r}")
    return int(text)


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT`; AgentError (one line) otherwise. Port 0 picks a free one."""
    found = listen_address(text)
    if found is None:
        raise AgentError(f"bad --listen {clean(text, 60)!r}: expected HOST:PORT, e.g. "
                         f"{DEFAULT_HOST}:{DEFAULT_PORT} or [::1]:{DEFAULT_PORT}")
    return found


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server context from PEM files, or None without them; AgentError if unusable."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise AgentError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        reason = clean(getattr(exc, "reason", None) or exc.strerror or str(exc), 80)
        raise AgentError(f"cannot load TLS certificate {clean(str(cert), 80)} and key "
                         f"{clean(str(key), 80)}: {reason.lower()}") from None
    return context


def run(args: argparse.Namespace) -> int:
    with _logging(args.log_file, args.verbose) as ok:
        if not ok:
            return EXIT_USAGE
        try:
            server = _build(args)
            if args.service and server.collector.win_service_get is None:
                log.warning("--service is read on Windows only; use --process here")
            asyncio.run(_serve(server, args.token_file))
        except (AgentError, TokenError) as err:
            print(f"castui agent: {err}", file=sys.stderr)
            if args.log_file:
                log.error("%s", err)
            return EXIT_USAGE
        except KeyboardInterrupt:  # Windows: Ctrl-C, or NSSM's Ctrl-C on service stop
            return 0
    return 0


def _build(args: argparse.Namespace) -> AgentServer:
    """The server the arguments describe; AgentError or TokenError (one line) if they can't."""
    host, port = parse_listen(args.listen)
    token = read_token(args.token_file, on_warning=log.warning)
    context = tls_context(args.tls_cert, args.tls_key)
    try:
        collector = Collector(ports=args.ports, processes=args.process, addresses=args.address,
                              services=(*DEFAULT_SERVICES, *args.service),
                              registry=components_stand_in())
    except ValueError as err:
        raise AgentError(str(err)) from None
    return AgentServer(collector, token, host=host, port=port, ssl_context=context,
                       rate=args.rate, burst=args.burst)


async def _serve(server: AgentServer, token_file: Path) -> None:
    await server.start()
    log.info("listening on %s (token from %s; ports %s)", server.url,
             clean(str(token_file), 120), ",".join(map(str, server.collector.ports)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        log.info("stopped")


@contextmanager
def _logging(log_file: Path | None, verbose: bool) -> Iterator[bool]:
    """Route the agent's log to stderr or a file for the command's lifetime; False (after a
    one-line error) if the file cannot be opened."""
    try:
        handler: logging.Handler = (logging.FileHandler(log_file, encoding="utf-8")
                                    if log_file else logging.StreamHandler(sys.stderr))
    except OSError as exc:
        print(f"castui agent: cannot open log file {clean(str(log_file), 120)}: "
              f"{clean(exc.strerror or str(exc), 80).lower()}", file=sys.stderr)
        yield False
        return
    handler.setFormatter(logging.Formatter(
        "%(asctime)s castui agent: %(message)s" if log_file else "castui agent: %(message)s"))
    level = log.level
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.addHandler(handler)
    try:
        yield True
    finally:
        log.removeHandler(handler)
        handler.close()
        log.setLevel(level)


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None
