"""Agent check: read a node's `castui agent` status (connections per port, services, load).

The agent's answer is data from the network like any other: it is size-bounded, validated
field by field and cleaned before it becomes facts. Agent trouble is a failed result with a
plain detail (the engine shows it as `unknown` on the agent column, never as a node failure).
The token goes in the Authorization header only; it never appears in a detail or in facts.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, cast

import httpx

from castui.model.exchange import COMPONENT_STATES
from castui.model.results import Code, Error, ProbeResult
from castui.model.text import clean
from castui.probes.http import Phase, bounded, classify_failure

STATUS_PATH = "/v1/status"
#: The agent caps its answer far below this; anything larger is not our agent.
REPLY_LIMIT = 1024 * 1024
MAX_ENTRIES = 256
_NAME_LIMIT = 80
_DETAIL_SERVICES = 4


class _Malformed(Exception):
    """The answer is JSON but not a castui agent status."""


async def agent_probe(client: httpx.AsyncClient, url: str, token: str,
                      timeout: float, *,
                      direct: tuple[Sequence[int], Sequence[str]] | None = None) -> ProbeResult:
    """GET `url`/v1/status with the token; `url` is the agent's base, e.g. https://cas1:8799.

    With `direct` (the node's RPC and HTTPS ports, the balancer's addresses) the agent also
    counts the clients that reach the node without the balancer: facts["direct"] is then
    {"clients": n, "connections": m} (None from an agent that does not count them).

    facts: {"connections": {port: {"established": n, "remotes": m, "listening": bool}},
    "services": {name: {"status", "start_type", "display_name"}} ({} off Windows),
    "processes": {name: {"running": bool, "pids": n}}, "cpu_percent": float | None,
    "memory_percent": float | None, "host": str, "errors": {part: text}, "url": str,
    "direct": {"clients", "connections"} | None}.
    """
    started = time.time()
    t0 = time.monotonic()
    target = url.rstrip("/") + STATUS_PATH
    facts: dict[str, Any] = {"url": clean(target, 120)}
    params = None if direct is None else {
        "direct_ports": ",".join(str(port) for port in direct[0]), "via": ",".join(direct[1])}
    phase = Phase()

    async def get() -> tuple[int, str, bytes | None]:
        async with client.stream("GET", target, params=params, extensions={"trace": phase},
                                 headers={"Authorization": f"Bearer {token}",
                                          "Accept": "application/json"},
                                 timeout=httpx.Timeout(timeout)) as response:
            return (response.status_code, clean(response.headers.get("retry-after", ""), 10),
                    await _read_body(response))

    try:
        status, retry_after, body = await bounded(get(), phase, timeout)
    except Exception as exc:  # everything network-side becomes a result
        code, error, detail = classify_failure(exc, phase.name, timeout)
        return ProbeResult(False, code, f"agent: {detail}", _ms(t0), error, facts, started)
    latency = _ms(t0)
    if status != 200:
        detail = _status_detail(status, retry_after)
        return ProbeResult(False, Code.L7STS, detail, latency, Error.STATUS, facts, started)
    if body is None:
        return ProbeResult(False, Code.L7RSP, f"agent answer larger than {REPLY_LIMIT} bytes",
                           latency, Error.CONTENT, facts, started)
    try:
        facts.update(_parse(body))
    except _Malformed as exc:
        return ProbeResult(False, Code.L7RSP, f"agent answer unusable: {exc}", latency,
                           Error.CONTENT, facts, started)
    if facts["connections"] is None:
        why = facts["errors"].get("connections", "no reason given")
        return ProbeResult(False, Code.L7RSP, f"agent cannot read connections: {why}",
                           latency, Error.CONTENT, facts, started)
    return ProbeResult(True, Code.L7OK, _summary(facts), latency, None, facts, started)


def _ms(t0: float) -> float:
    return (time.monotonic() - t0) * 1000


def _status_detail(status: int, retry_after: str) -> str:
    if status == 401:
        return "agent refused the token (401)"
    if status == 429:
        after = f", retry after {retry_after} s" if retry_after else ""
        return f"agent rate-limited castui (429{after})"
    return f"agent answered HTTP {status}"


async def _read_body(response: httpx.Response) -> bytes | None:
    """The raw body (never decompressed: our agent does not compress), or None if it is larger
    than REPLY_LIMIT (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
    async with contextlib.aclosing(raw) as stream:
        async for chunk in stream:
            chunks.append(chunk)
            size += len(chunk)
            if size > REPLY_LIMIT:
                return None
    return b"".join(chunks)


def _parse(body: bytes) -> dict[str, Any]:
    """The facts in a status document; _Malformed naming the first problem."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise _Malformed("not JSON") from None
    if not isinstance(doc, dict) or doc.get("agent") != "castui":
        raise _Malformed("not a castui agent status")
    errors = {clean(str(k), _NAME_LIMIT): clean(str(v)) for k, v in
              _table(doc, "errors").items()}
    raw_connections = doc.get("connections")
    connections = None if raw_connections is None else {
        _port(key): _connection(value) for key, value in _table(doc, "connections").items()}
    return {
        "connections": connections,
        "services": {clean(name, _NAME_LIMIT): _service(value)
                     for name, value in _table(doc, "services").items()},
        "processes": {clean(name, _NAME_LIMIT): _process(value)
                      for name, value in _table(doc, "processes").items()},
        "cpu_percent": _percent(doc.get("cpu_percent"), "cpu_percent"),
        "memory_percent": _percent(doc.get("memory_percent"), "memory_percent"),
        "host": clean(str(doc.get("host", "")), _NAME_LIMIT),
        "errors": errors,
        "direct": _direct(doc.get("direct")),
        "components": _components(doc.get("components")),
    }


def _components(value: Any) -> dict[str, dict[str, Any]] | None:
    """Exchange's server component states (absent off Windows: None), each with its
    requesters, checked and cleaned: {"ServerWideOffline": {"state": "Inactive", "requesters":
    {"Maintenance": "Inactive"}}}."""
    if value is None:
        return None
    out: dict[str, dict[str, Any]] = {}
    for name, entry in _table({"components": value}, "components").items():
        if not isinstance(entry, dict) or entry.get("state") not in COMPONENT_STATES:
            raise _Malformed(f"component {clean(str(name), 40)!r} has no known state")
        requesters: dict[str, str] = {}
        for requester, said in _table(entry, "requesters").items():
            state = said.get("state") if isinstance(said, dict) else None
            if state not in COMPONENT_STATES:
                raise _Malformed(f"requester {clean(str(requester), 40)!r} has no known state")
            requesters[clean(str(requester), _NAME_LIMIT)] = state
        out[clean(str(name), _NAME_LIMIT)] = {"state": entry["state"], "requesters": requesters}
    return out


def _direct(value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Malformed("direct is not a table")
    return {"clients": _count(value.get("clients"), "direct clients"),
            "connections": _count(value.get("connections"), "direct connections")}


def _table(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key) or {}
    if not isinstance(value, dict) or len(value) > MAX_ENTRIES:
        raise _Malformed(f"{key} is not a table of at most {MAX_ENTRIES} entries")
    return value


def _port(key: str) -> int:
    if not (key.isascii() and key.isdigit() and len(key) <= 5 and 0 < int(key) < 65536):
        raise _Malformed(f"bad port {clean(key, 20)!r}")
    return int(key)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Malformed(f"{what} is not a count")
    return value


def _connection(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed("a connections entry is not a table")
    return {"established": _count(value.get("established"), "established"),
            "remotes": _count(value.get("remotes"), "remotes"),
            "listening": value.get("listening") is True}


def _text(value: Any) -> str | None:
    return None if value is None else clean(str(value), _NAME_LIMIT)


def _service(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed("a services entry is not a table")
    entry = {key: _text(value.get(key)) for key in ("status", "start_type", "display_name")}
    entry["status"] = entry["status"] or "unknown"
    if value.get("error") is not None:
        entry["error"] = _text(value["error"])
    return entry


def _process(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed("a processes entry is not a table")
    return {"running": value.get("running") is True, "pids": _count(value.get("pids"), "pids")}


def _percent(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise _Malformed(f"{what} is not a percentage")
    return float(value)


def _summary(facts: Mapping[str, Any]) -> str:
    """`123 connections from 45 clients on 3 ports, cpu 12%, mem 40%; stopped: W3SVC`."""
    connections: dict[int, dict[str, Any]] = facts["connections"]
    busy = {port: c for port, c in connections.items() if c["established"]}
    total = sum(c["established"] for c in busy.values())
    parts = [f"{total} connections on {len(busy)} ports"]
    for key, label in (("cpu_percent", "cpu"), ("memory_percent", "mem")):
        if facts[key] is not None:
            parts.append(f"{label} {facts[key]:.0f}%")
    detail = ", ".join(parts)
    stopped = [name for name, svc in facts["services"].items()
               if svc["start_type"] == "automatic" and svc["status"] != "running"]
    if stopped:
        more = f" +{len(stopped) - _DETAIL_SERVICES}" if len(stopped) > _DETAIL_SERVICES else ""
        detail += f"; automatic but not running: {', '.join(stopped[:_DETAIL_SERVICES])}{more}"
    return detail
