"""Certificate check: is the certificate a server presents valid now, and for the right names?

It reads the certificate without verifying it (so it still judges what a server serves when
`tls_verify = false`, or when the chain is wrong): days to expiry, and whether its names cover
the name the check uses (the node's fqdn) and the site's service names (OWA, EWS,
Autodiscover hostnames). The `cryptography` package parses the certificate.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from castui.model.results import Code, Error, ProbeResult
from castui.model.text import clean

#: Names shown in a detail at most (the facts keep MAX_NAMES).
_SHOWN_NAMES = 6
#: Names kept in a result's facts (`name_count` says how many the certificate has): a
#: certificate may list thousands, and the coverage check reads them all.
MAX_NAMES = 32


def reader_context() -> ssl.SSLContext:
    """A context that completes any handshake: to read a certificate, not to trust it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def cert_names(cert: x509.Certificate) -> list[str]:
    """DNS names and IP addresses of the subjectAltName, else the subject's common name."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [clean(str(attr.value), 255)
                for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    names = [clean(name, 255) for name in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return names


def covers(pattern: str, name: str) -> bool:
    """RFC 6125 matching: exact (case-insensitive), or a wildcard for one left-most label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    try:
        return ipaddress.ip_address(pattern) == ipaddress.ip_address(name)
    except ValueError:
        pass
    if pattern == name:
        return True
    if not pattern.startswith("*.") or "." not in name:
        return False
    label, rest = name.split(".", 1)
    return bool(label) and rest == pattern[2:] and rest.count(".") >= 1


async def tls_probe(address: str, port: int, timeout: float, *,
                    server_name: str | None,
                    names: Sequence[str] = (), warn_days: int = 30,
                    now: datetime | None = None) -> ProbeResult:
    """Fetch the certificate served on `address`:`port` (SNI `server_name`) and judge it.

    facts: {"names": [the first MAX_NAMES], "name_count": int, "not_before", "not_after" (ISO),
    "days_left": int, "missing": [...]}.
    """
    started = time.time()
    t0 = time.monotonic()
    connected = False
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(address, port)
            connected = True
            await writer.start_tls(reader_context(), server_hostname=server_name or None)
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    except TimeoutError:
        code = Code.L6TOUT if connected else Code.L4TOUT
        stage = "TLS handshake" if connected else "connection"
        return ProbeResult(False, code, f"no {stage} in {timeout:g} s", error=Error.TIMEOUT,
                           started_at=started)
    except (ssl.SSLError, OSError) as exc:
        if connected:
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            return ProbeResult(False, Code.L6RSP, clean(f"TLS handshake failed: {reason}", 120),
                               error=Error.TLS, started_at=started)
        refused = isinstance(exc, ConnectionRefusedError)
        return ProbeResult(False, Code.L4CON,
                           "connection refused" if refused else clean(str(exc), 120),
                           error=Error.REFUSED if refused else Error.OTHER, started_at=started)
    finally:
        if writer is not None:
            writer.close()
    latency = (time.monotonic() - t0) * 1000
    return read_certificate(der, names, warn_days, now or datetime.now(UTC), latency, started)


def read_certificate(der: bytes | None, names: Sequence[str], warn_days: int, now: datetime,
                     latency: float, started: float) -> ProbeResult:
    """Judge the DER certificate a peer presented; a failed result if it cannot be read."""
    if not der:
        return ProbeResult(False, Code.L6RSP, "no certificate presented", latency,
                           Error.TLS, started_at=started)
    try:
        parsed = _parse(der)
    except (ValueError, x509.DuplicateExtension, x509.InvalidVersion,
            x509.UnsupportedGeneralNameType) as exc:  # the parser's every complaint about DER
        return ProbeResult(False, Code.L6RSP, clean(f"unreadable certificate: {exc}", 120),
                           latency, Error.TLS, started_at=started)
    return judge(parsed, names, warn_days, now, latency, started)


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the certificate check reads of a certificate."""

    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]


@functools.lru_cache(maxsize=1024)
def _parse(der: bytes) -> Parsed:
    """A certificate's validity and names. A server presents the same certificate round after
    round, so each is parsed once (keyed by its bytes; the parser's exceptions are not kept)."""
    cert = x509.load_der_x509_certificate(der)
    return Parsed(cert.not_valid_before_utc, cert.not_valid_after_utc, tuple(cert_names(cert)))


def judge(cert: Parsed, names: Sequence[str], warn_days: int, now: datetime, latency: float,
          started: float) -> ProbeResult:
    """Expiry first (an expired certificate fails everyone), then name coverage."""
    found = cert.names
    not_before, not_after = cert.not_before, cert.not_after
    days_left = int((not_after - now).total_seconds() // 86400)
    missing = [name for name in names if not any(covers(p, name) for p in found)]
    facts = {"names": list(found[:MAX_NAMES]), "name_count": len(found),
             "not_before": not_before.isoformat(), "not_after": not_after.isoformat(),
             "days_left": days_left, "missing": missing}
    shown = ", ".join(found[:_SHOWN_NAMES]) + (" …" if len(found) > _SHOWN_NAMES else "")
    if now < not_before:
        return ProbeResult(False, Code.TLSEXP, f"not valid until {not_before:%Y-%m-%d}",
                           latency, Error.TLS, facts, started)
    if now >= not_after:
        return ProbeResult(False, Code.TLSEXP, f"expired {not_after:%Y-%m-%d}",
                           latency, Error.TLS, facts, started)
    if missing:
        return ProbeResult(False, Code.TLSNAME,
                           clean(f"does not cover {', '.join(missing)} "
                                 f"(has {shown or 'no names'})"),
                           latency, Error.TLS, facts, started)
    warning = f"expires in {days_left} days" if days_left < warn_days else None
    return ProbeResult(True, Code.TLSOK, f"valid {days_left} more days for {shown}", latency,
                       None, facts, started, warning)
