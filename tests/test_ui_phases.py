"""Node details show an HTTPS check's phases: who opened the round's connection, who reused it."""

from __future__ import annotations

from castui.engine.snapshot import CheckView
from castui.ui.screens.node_detail import checks_text


def _check(name: str, kind: str, phases: dict[str, float | None] | None) -> CheckView:
    facts = {} if phases is None else {"phases": phases}
    return CheckView(name, kind, "pool", True, "L7OK", 4.2, "HTTP 200", facts)


def test_node_details_show_each_https_checks_phases() -> None:
    checks = (
        _check("tls", "tls", {"connect_ms": 0.4, "tls_ms": 2.6, "request_ms": None}),
        _check("owa", "http", {"connect_ms": None, "tls_ms": None, "request_ms": 3.7}),
        _check("https", "tcp", None),
    )
    lines = checks_text(checks, 160).plain.splitlines()
    assert any(line.strip() == "connect <1ms · TLS 3ms" for line in lines), lines
    assert any(line.strip() == "kept-alive · request 4ms" for line in lines), lines
    assert sum("request" in line or "connect" in line for line in lines) == 2  # none for tcp


def test_check_json_carries_the_phases_of_https_checks_only() -> None:
    owa = _check("owa", "http", {"connect_ms": None, "tls_ms": None, "request_ms": 3.7})
    assert owa.as_dict() == {"name": "owa", "kind": "http", "role": "pool", "ok": True,
                             "code": "L7OK", "latency_ms": 4.2, "connect_ms": None,
                             "tls_ms": None, "request_ms": 3.7, "detail": "HTTP 200"}
    assert "request_ms" not in _check("https", "tcp", None).as_dict()
