"""Certificate checks against real TLS servers on loopback, with certificates from the lab CA."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from castui.lab.certs import LabCA
from castui.model.results import Code
from castui.probes.tls import covers, read_certificate, tls_probe
from tests.support.net import free_port

ADDRESS = "127.0.11.1"
NODE = "cas1.site-a.corp.local"
SERVICES = ("mail.corp.local", "autodiscover.corp.local")


@asynccontextmanager
async def tls_server(context: ssl.SSLContext | None) -> AsyncIterator[int]:
    """A TLS listener (or plain TCP when `context` is None) that completes handshakes."""

    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    port = free_port(ADDRESS)
    server = await asyncio.start_server(handle, ADDRESS, port, ssl=context)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def test_valid_certificate_covering_every_name(lab_ca: LabCA) -> None:
    async with tls_server(lab_ca.issue(NODE, *SERVICES)) as port:
        result = await tls_probe(ADDRESS, port, 2.0, server_name=NODE, names=(NODE, *SERVICES))
    assert (result.ok, result.code, result.warning) == (True, Code.TLSOK, None)
    assert result.facts["names"] == [NODE, *SERVICES]
    assert result.facts["missing"] == []
    assert result.facts["days_left"] > 300


async def test_names_not_covered_are_named_with_what_was_found(lab_ca: LabCA) -> None:
    async with tls_server(lab_ca.issue(NODE)) as port:
        result = await tls_probe(ADDRESS, port, 2.0, server_name=NODE, names=(NODE, *SERVICES))
    assert (result.ok, result.code) == (False, Code.TLSNAME)
    assert result.facts["missing"] == list(SERVICES)
    assert "does not cover mail.corp.local, autodiscover.corp.local" in result.detail
    assert f"has {NODE}" in result.detail


async def test_mismatched_certificate_is_judged_even_without_verification(lab_ca: LabCA) -> None:
    async with tls_server(lab_ca.issue_mismatched(NODE)) as port:
        result = await tls_probe(ADDRESS, port, 2.0, server_name=NODE, names=(NODE,))
    assert result.code == Code.TLSNAME and "wrong-host.lab.invalid" in result.detail


async def test_expired_and_not_yet_valid(lab_ca: LabCA) -> None:
    async with tls_server(lab_ca.issue_expired(NODE)) as port:
        expired = await tls_probe(ADDRESS, port, 2.0, server_name=NODE, names=(NODE,))
    async with tls_server(lab_ca.issue_not_yet_valid(NODE)) as port:
        early = await tls_probe(ADDRESS, port, 2.0, server_name=NODE, names=(NODE,))
    assert (expired.ok, expired.code) == (False, Code.TLSEXP)
    assert expired.detail.startswith("expired ")
    assert (early.ok, early.code) == (False, Code.TLSEXP)
    assert early.detail.startswith("not valid until ")


async def test_expiring_soon_passes_with_a_warning(lab_ca: LabCA) -> None:
    now = datetime.now(UTC)
    context = lab_ca.issue(NODE, not_before=now - timedelta(days=300),
                           not_after=now + timedelta(days=12, hours=1))
    async with tls_server(context) as port:
        result = await tls_probe(ADDRESS, port, 2.0, server_name=NODE, names=(NODE,))
        later = await tls_probe(ADDRESS, port, 2.0, server_name=NODE, names=(NODE,),
                                warn_days=10)
    assert result.ok and result.warning == "expires in 12 days"
    assert later.ok and later.warning is None


async def test_plain_tcp_and_closed_ports_fail_without_raising() -> None:
    async with tls_server(None) as port:
        result = await tls_probe(ADDRESS, port, 1.0, server_name=NODE, names=(NODE,))
    assert not result.ok and result.code == Code.L6RSP
    closed = await tls_probe(ADDRESS, free_port(ADDRESS), 1.0, server_name=NODE)
    assert (closed.ok, closed.code) == (False, Code.L4CON)


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("mail.corp.local", "MAIL.corp.local", True),
    ("*.corp.local", "mail.corp.local", True),
    ("*.corp.local", "a.b.corp.local", False),
    ("*.corp.local", "corp.local", False),
    ("*.local", "corp.local", False),
    ("127.0.0.1", "127.0.0.1", True),
    ("mail.corp.local", "mail.corp.local.", True),
])
def test_name_matching(pattern: str, name: str, expected: bool) -> None:
    assert covers(pattern, name) is expected


async def test_a_certificate_with_a_thousand_names_is_read_whole_and_kept_short(
        lab_ca: LabCA) -> None:
    names = [f"host{i}.corp.local" for i in range(1000)]
    async with tls_server(lab_ca.issue(NODE, *names)) as port:
        result = await tls_probe(ADDRESS, port, 2.0, server_name=NODE,
                                 names=(NODE, "host999.corp.local"))
    assert (result.ok, result.code) == (True, Code.TLSOK), result.detail
    assert result.facts["name_count"] == 1001
    assert result.facts["names"] == [NODE, *names[:31]]
    assert len(result.detail) <= 200


def test_a_certificate_with_a_duplicated_extension_is_an_unreadable_one() -> None:
    """cryptography refuses a certificate carrying one extension twice with its own exception
    (not a ValueError): the check says the certificate is unreadable instead of raising."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cas1.corp.local")])
    stand_in = x509.ObjectIdentifier("2.5.29.99")  # encodes as long as 2.5.29.14 (SKI)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.UnrecognizedExtension(stand_in, b"\x04\x00"), False)
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    doubled = der.replace(b"\x06\x03\x55\x1d\x63", b"\x06\x03\x55\x1d\x0e")
    assert doubled != der
    result = read_certificate(doubled, ["cas1.corp.local"], 30, now, 1.0, 0.0)
    assert (result.ok, result.code) == (False, Code.L6RSP)
    assert result.detail.startswith("unreadable certificate: Duplicate")
