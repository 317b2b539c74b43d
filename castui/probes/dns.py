"""DNS check: does this resolver answer the array name with the VIP?

During a failover drill the array name is repointed; each AD site's DNS servers must agree on
the answer. So the probe asks exactly one resolver (no search domains, no /etc/hosts, no
system resolver fallback) for the A records of the name and compares them with the VIP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

import aiodns
import pycares

from castui.config.model import DnsServer
from castui.model.results import Code, Error, ProbeResult
from castui.model.text import clean, listing

#: c-ares tries per probe; the first waits timeout/3, the retry about twice that (backoff).
_TRIES = 2
#: Addresses kept in a result's facts (sorted, the first ones); `address_count` says how many
#: there were. An array FQDN has a VIP or two: thousands of A records are a hostile or broken
#: server, and every event, reason and history row that quotes them must stay short.
MAX_ADDRESSES = 16

_E = aiodns.error
#: c-ares error number -> (code, error class, detail); detail may use {server} and {timeout}.
_ERRORS: dict[int, tuple[str, str, str]] = {
    _E.ARES_ENOTFOUND: (Code.DNSNX, Error.NXDOMAIN, "NXDOMAIN"),
    _E.ARES_ENODATA: (Code.DNSFAIL, Error.NOANSWER, "no A records"),
    _E.ARES_ESERVFAIL: (Code.DNSFAIL, Error.SERVFAIL, "SERVFAIL"),
    _E.ARES_EREFUSED: (Code.DNSFAIL, Error.SERVFAIL, "REFUSED"),
    _E.ARES_ENOTIMP: (Code.DNSFAIL, Error.SERVFAIL, "NOTIMP"),
    _E.ARES_EFORMERR: (Code.DNSFAIL, Error.PROTOCOL, "FORMERR: the query was not understood"),
    _E.ARES_EBADRESP: (Code.DNSFAIL, Error.PROTOCOL, "garbled reply"),
    _E.ARES_EOF: (Code.DNSFAIL, Error.PROTOCOL, "connection closed mid-reply"),
    _E.ARES_EBADNAME: (Code.DNSFAIL, Error.OTHER, "not a valid DNS name"),
    _E.ARES_ECONNREFUSED: (Code.DNSTOUT, Error.TIMEOUT,
                           "no DNS server on {server} (port unreachable)"),
    _E.ARES_ETIMEOUT: (Code.DNSTOUT, Error.TIMEOUT, "no answer in {timeout} s"),
}


def _failure(exc: BaseException, server: DnsServer, timeout: float) -> tuple[str, str, str]:
    """(code, error class, detail) for a c-ares error."""
    errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else -1
    known = _ERRORS.get(errno)
    if known is None:
        text = exc.args[-1] if exc.args else exc
        return Code.DNSFAIL, Error.OTHER, clean(str(text), 80) or "resolver error"
    code, error, detail = known
    return code, error, detail.format(server=str(server), timeout=f"{timeout:g}")


def _sort_key(address: str) -> tuple[int, int | str]:
    try:
        return (0, int(ipaddress.ip_address(address)))
    except ValueError:
        return (1, address)


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def _judge(answer: Any, expect: str | None) -> tuple[bool, str, str | None, str, list[str],
                                                     int | None]:
    """(ok, code, error, detail, addresses, ttl) for a successful reply (every address: the
    caller keeps the first MAX_ADDRESSES)."""
    records = [rr for rr in answer.answer if isinstance(rr.data, pycares.ARecordData)]
    addresses = sorted({clean(rr.data.addr, 45) for rr in records}, key=_sort_key)
    # Clients may keep the answer (CNAMEs included) this long: the earliest expiry counts.
    ttl = min((int(rr.ttl) for rr in answer.answer), default=None) if records else None
    if not addresses:
        return False, Code.DNSFAIL, Error.NOANSWER, "no A records", [], None
    shown = listing(addresses)
    if expect is not None and not any(_same_address(a, expect) for a in addresses):
        detail = f"answer {shown}, not the VIP {clean(expect, 45)}"
        return False, Code.DNSOK, Error.MISMATCH, detail, addresses, ttl
    return True, Code.DNSOK, None, f"answer {shown} ttl {ttl}", addresses, ttl


async def dns_probe(server: DnsServer, name: str, timeout: float, *,
                    expect: str | None = None) -> ProbeResult:
    """Ask `server` for the A records of `name`; ok when there are some (and `expect` is one).

    facts: {"server": str(server), "addresses": the first MAX_ADDRESSES in order (IPv4
    sorted numerically), "address_count": how many there were, "ttl": min TTL or None}.
    """
    started = time.time()
    t0 = time.monotonic()
    facts: dict[str, Any] = {"server": str(server), "addresses": [], "address_count": 0,
                             "ttl": None}
    try:
        resolver = aiodns.DNSResolver(nameservers=[str(server)], timeout=max(timeout / 3, 0.01),
                                      tries=_TRIES, flags=pycares.ARES_FLAG_NOSEARCH)
    except (pycares.AresError, ValueError, TypeError) as exc:
        reason = clean(str(exc.args[-1] if exc.args else exc), 60)
        return ProbeResult(False, Code.DNSFAIL, f"bad DNS server {clean(str(server), 60)}: "
                           f"{reason}", None, Error.OTHER, facts, started)
    try:
        async with asyncio.timeout(timeout):
            answer = await resolver.query_dns(name, "A")
    except TimeoutError:
        return ProbeResult(False, Code.DNSTOUT, f"no answer in {timeout:g} s",
                           (time.monotonic() - t0) * 1000, Error.TIMEOUT, facts, started)
    except (aiodns.error.DNSError, pycares.AresError, RuntimeError) as exc:
        code, error, detail = _failure(exc, server, timeout)
        return ProbeResult(False, code, detail, (time.monotonic() - t0) * 1000, error, facts,
                           started)
    finally:
        await resolver.close()
    latency = (time.monotonic() - t0) * 1000
    ok, code, err, detail, addresses, ttl = _judge(answer, expect)
    facts["addresses"] = addresses[:MAX_ADDRESSES]
    facts["address_count"] = len(addresses)
    facts["ttl"] = ttl
    return ProbeResult(ok, code, detail, latency, err, facts, started)
