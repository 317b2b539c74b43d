"""Probes: pure async checks that turn network trouble into ProbeResult values, never raising."""

from castui.model.exchange import HTTP_CHECKS, HttpExpectation
from castui.model.results import Code, Error, ProbeResult
from castui.probes.dns import dns_probe
from castui.probes.http import http_probe, make_http_client
from castui.probes.tcp import tcp_probe

__all__ = [
    "HTTP_CHECKS",
    "Code",
    "Error",
    "HttpExpectation",
    "ProbeResult",
    "dns_probe",
    "http_probe",
    "make_http_client",
    "tcp_probe",
]
