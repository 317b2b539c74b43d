"""What every probe returns. Network trouble is a result, never an exception."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from castui.model.text import DEFAULT_LIMIT


class Code:
    """Check result codes in HAProxy's vocabulary (plus DNS ones), so operators read them as is."""

    L4OK = "L4OK"  # TCP connect succeeded
    L4CON = "L4CON"  # connection refused, reset or unreachable
    L4TOUT = "L4TOUT"  # connect timed out
    L6RSP = "L6RSP"  # TLS handshake failed
    L6TOUT = "L6TOUT"  # TLS handshake timed out
    L7OK = "L7OK"  # HTTP answer as expected
    L7STS = "L7STS"  # unexpected HTTP status
    L7RSP = "L7RSP"  # malformed or unexpected HTTP answer
    L7TOUT = "L7TOUT"  # no HTTP answer in time
    DNSOK = "DNSOK"  # an answer (it may still lack the VIP: see `ok`)
    DNSNX = "DNSNX"  # NXDOMAIN
    DNSFAIL = "DNSFAIL"  # SERVFAIL, REFUSED, no answer records, or a garbled reply
    DNSTOUT = "DNSTOUT"  # no reply in time
    EPMOK = "EPMOK"  # endpoint mapper bound, every interface mapped to a port that accepts TCP
    EPMNAK = "EPMNAK"  # bind rejected: bind_nak, or the EPM context rejected
    EPMNREG = "EPMNREG"  # an interface is not registered with the endpoint mapper
    EPMRSP = "EPMRSP"  # malformed or unexpected DCE/RPC reply (or a mapped port off its pin)
    EPMTOUT = "EPMTOUT"  # connected, but no complete reply in time
    TLSOK = "TLSOK"  # certificate valid now and covering every name asked for
    TLSEXP = "TLSEXP"  # certificate expired or not valid yet
    TLSNAME = "TLSNAME"  # certificate does not cover a name clients use


class Error:
    """Error classes: the plain cause of a failed probe (`ProbeResult.error`)."""

    REFUSED = "refused"
    TIMEOUT = "timeout"
    RESET = "reset"
    UNREACHABLE = "unreachable"
    TLS = "tls"
    STATUS = "status"
    CONTENT = "content"
    PROTOCOL = "protocol"
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    NOANSWER = "noanswer"
    MISMATCH = "mismatch"  # a DNS answer that lacks the expected address
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's outcome.

    `detail` is short human text, already cleaned of control characters (castui.model.text.clean)
    and at most DEFAULT_LIMIT characters.
    `facts` holds the raw observations: `status`, `headers` (selected, cleaned), `addresses`,
    `ttl`, `server`... Keys are documented by each probe.
    """

    ok: bool
    code: str
    detail: str
    latency_ms: float | None = None
    error: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    #: Set on a passing check that still deserves attention (a certificate expiring soon).
    warning: str | None = None

    def __post_init__(self) -> None:
        """Every probe bounds the peer's words it quotes; this bounds what they add up to."""
        if len(self.detail) > DEFAULT_LIMIT:
            object.__setattr__(self, "detail", self.detail[:DEFAULT_LIMIT - 1] + "…")
