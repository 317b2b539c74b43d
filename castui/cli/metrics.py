"""`--metrics-listen` and its guards, shared by `castui watch` and the console."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from castui.engine.monitor import Monitor
from castui.metrics import MetricsError, MetricsOptions, MetricsServer, metrics_server, parse_listen


def add_arguments(group: argparse._ActionsContainer) -> None:
    group.add_argument("--metrics-listen", metavar="ADDR", type=_listen, default=None,
                       help="serve Prometheus metrics on http://ADDR/metrics (HOST:PORT, "
                            "[V6]:PORT or PORT on 127.0.0.1)")
    group.add_argument("--metrics-token-file", type=Path, metavar="FILE", default=None,
                       help="require `Authorization: Bearer TOKEN`, the token read from FILE")
    group.add_argument("--metrics-tls-cert", type=Path, metavar="FILE", default=None,
                       help="serve the metrics over HTTPS with this PEM certificate (chain)")
    group.add_argument("--metrics-tls-key", type=Path, metavar="FILE", default=None,
                       help="the PEM private key of --metrics-tls-cert")
    group.add_argument("--metrics-insecure", action="store_true",
                       help="allow a non-loopback --metrics-listen without token or TLS")


def _listen(text: str) -> tuple[str, int]:
    try:
        return parse_listen(text)
    except MetricsError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def server_for(args: argparse.Namespace, monitor: Monitor) -> tuple[bool, MetricsServer | None]:
    """(ok, server): the metrics server the arguments ask for (None without
    --metrics-listen), or (False, None) after a one-line error on stderr."""
    if args.metrics_listen is None:
        given = [flag for flag, value in (("--metrics-token-file", args.metrics_token_file),
                                          ("--metrics-tls-cert", args.metrics_tls_cert),
                                          ("--metrics-tls-key", args.metrics_tls_key),
                                          ("--metrics-insecure", args.metrics_insecure))
                 if value]
        if given:
            print(f"castui: {given[0]} needs --metrics-listen", file=sys.stderr)
            return False, None
        return True, None
    host, port = args.metrics_listen
    options = MetricsOptions(host, port, token_file=args.metrics_token_file,
                             tls_cert=args.metrics_tls_cert, tls_key=args.metrics_tls_key,
                             insecure=args.metrics_insecure)
    try:
        return True, metrics_server(options, monitor)
    except MetricsError as err:
        print(f"castui: {err}", file=sys.stderr)
        return False, None
