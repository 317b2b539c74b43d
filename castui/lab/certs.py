"""A throw-away certificate authority for the lab, so TLS checks run with verification on.

castui verifies certificates by default (`tls_verify = true`); the lab writes its CA to a file
that the lab's config names as `ca_file`, exactly as an operator would for a corporate CA.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import trustme

#: A name no lab node uses, for a certificate that must not match what a client asked for.
MISMATCH_NAME = "wrong-host.lab.invalid"


class LabCA:
    """A private CA that issues server contexts for lab nodes and VIPs."""

    def __init__(self) -> None:
        self._ca = trustme.CA(organization_name="castui lab")

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM-encoded."""
        return bytes(self._ca.cert_pem.bytes())

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate to `path` (castui's `ca_file`) and return the path."""
        path.write_bytes(self.ca_pem)
        return path

    def issue(self, *names: str, not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> ssl.SSLContext:
        """A server context whose certificate covers `names` (DNS names or IP literals)."""
        if not names:
            raise ValueError("a lab certificate needs at least one name")
        cert = self._ca.issue_cert(*names, common_name=names[0],
                                   not_before=not_before, not_after=not_after)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.set_alpn_protocols(["http/1.1"])
        cert.configure_cert(context)
        return context

    def issue_mismatched(self, *names: str) -> ssl.SSLContext:
        """A valid certificate from this CA that covers none of `names` (a wrong-cert drill)."""
        if MISMATCH_NAME in names:
            raise ValueError(f"{MISMATCH_NAME} is reserved for mismatched certificates")
        return self.issue(MISMATCH_NAME)

    def issue_expired(self, *names: str) -> ssl.SSLContext:
        """A certificate for `names` that expired yesterday."""
        now = dt.datetime.now(dt.UTC)
        return self.issue(*names, not_before=now - dt.timedelta(days=30),
                          not_after=now - dt.timedelta(days=1))

    def issue_not_yet_valid(self, *names: str) -> ssl.SSLContext:
        """A certificate for `names` that becomes valid tomorrow."""
        now = dt.datetime.now(dt.UTC)
        return self.issue(*names, not_before=now + dt.timedelta(days=1),
                          not_after=now + dt.timedelta(days=30))

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this CA (and nothing else)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ca.configure_trust(context)
        return context
