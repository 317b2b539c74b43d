"""Prometheus metrics: the engine's snapshot served as `/metrics`, a front-end like the console."""

from castui.metrics.collector import CastuiCollector, EventCounter, Reading, families, read_monitor
from castui.metrics.options import MetricsError, MetricsOptions, parse_listen
from castui.metrics.server import MetricsServer, exposition, metrics_server

__all__ = ["CastuiCollector", "EventCounter", "MetricsError", "MetricsOptions", "MetricsServer",
           "Reading", "exposition", "families", "metrics_server", "parse_listen",
           "read_monitor"]
