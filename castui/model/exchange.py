"""What a healthy Exchange CAS answers, unauthenticated, per version: castui's domain knowledge.

These are the requests a load balancer's health check (or a careful operator with curl) makes.
This module imports nothing of castui, so config, probes, engine and lab can all rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: exchange2010: Exchange 2010 (RPC over TCP and HTTPS). exchange2013: Exchange 2013.
#: exchange2016: Exchange 2016, 2019 and Subscription Edition (HTTPS only, MAPI over HTTP).
Profile = Literal["exchange2010", "exchange2013", "exchange2016"]
PROFILES: tuple[Profile, ...] = ("exchange2010", "exchange2013", "exchange2016")
#: Client access over HTTPS only: Outlook has not used RPC over TCP since 2013 and 2016 defaults
#: to MAPI over HTTP, so no endpoint-mapper or RPC-port checks unless a site asks for them.
HTTPS_ONLY: frozenset[Profile] = frozenset({"exchange2016"})
#: The answering CAS names itself in X-FEServer, so VIP sampling can see who answers.
NAMES_FRONTEND: frozenset[Profile] = frozenset({"exchange2013", "exchange2016"})

BodyRule = Literal["logon_form", "healthcheck", "none"]


@dataclass(frozen=True, slots=True)
class HttpExpectation:
    """One HTTP check: a GET of `path` and what the answer must look like."""

    name: str
    path: str
    status: int
    body: BodyRule = "none"
    www_authenticate: bool = False


_AUTH_VDIRS_2010 = (
    ("ews", "/EWS/Exchange.asmx"),
    ("autodiscover", "/Autodiscover/Autodiscover.xml"),
    ("rpc", "/rpc/rpcproxy.dll"),
    ("oab", "/OAB/"),
    ("eas", "/Microsoft-Server-ActiveSync"),
)

_HEALTHCHECK_VDIRS_2013 = (
    ("owa", "owa"),
    ("ecp", "ecp"),
    ("ews", "EWS"),
    ("autodiscover", "Autodiscover"),
    ("rpc", "rpc"),
    ("oab", "OAB"),
    ("eas", "Microsoft-Server-ActiveSync"),
    ("mapihttp", "mapi"),
    ("powershell", "PowerShell"),
)

HTTP_CHECKS: dict[Profile, tuple[HttpExpectation, ...]] = {
    "exchange2010": (
        HttpExpectation("owa", "/owa/auth/logon.aspx", 200, body="logon_form"),
        *(HttpExpectation(name, path, 401, www_authenticate=True)
          for name, path in _AUTH_VDIRS_2010),
    ),
    # Managed Availability answers `/<vdir>/healthcheck.htm` with 200 and a body starting
    # `200 OK` only while that protocol's component is active. Never `/`: since 2013 CU6 it
    # answers 302, and balancers that check it mark healthy servers down.
    **{profile: tuple(
        HttpExpectation(name, f"/{vdir}/healthcheck.htm", 200, body="healthcheck")
        for name, vdir in _HEALTHCHECK_VDIRS_2013) for profile in ("exchange2013", "exchange2016")},
}

#: The checks a layer-7 balancer bases membership on by default, per profile (`pool_checks`
#: overrides). 2016+: the per-vdir healthchecks of the protocols clients cannot do without;
#: ecp, oab, rpc and PowerShell are service checks (shown, DEGRADED when failing).
PROFILE_POOL_CHECKS: dict[Profile, tuple[str, ...]] = {
    "exchange2010": ("epm", "https", "owa"),
    "exchange2013": ("epm", "https", "owa"),
    "exchange2016": ("owa", "ews", "mapihttp", "eas", "autodiscover"),
}

#: Server components (Get-ServerComponentState) whose state takes a protocol's healthcheck page
#: out of service, by check name; ServerWideOffline takes every one.
VDIR_COMPONENTS: dict[str, str] = {
    "owa": "OwaProxy",
    "ecp": "EcpProxy",
    "ews": "EwsProxy",
    "autodiscover": "AutoDiscoverProxy",
    "rpc": "RpcProxy",
    "oab": "OabProxy",
    "eas": "ActiveSyncProxy",
    "mapihttp": "MapiProxy",
    "powershell": "RpsProxy",
}
SERVER_WIDE_OFFLINE = "ServerWideOffline"
HUB_TRANSPORT = "HubTransport"
#: Every component name castui knows, in Exchange's spelling.
COMPONENTS: tuple[str, ...] = (SERVER_WIDE_OFFLINE, HUB_TRANSPORT, "FrontendTransport",
                               *VDIR_COMPONENTS.values())

#: Every check name a profile can produce, for validating `pool_checks`.
ALL_CHECK_NAMES: frozenset[str] = frozenset(
    {"epm", "https", "http", "mapi", "ab", "epmap", "tls"}
    | {check.name for checks in HTTP_CHECKS.values() for check in checks}
)

#: A server component's state, in Exchange's words (Get-ServerComponentState).
ComponentState = Literal["Active", "Inactive", "Draining"]
COMPONENT_STATES: tuple[ComponentState, ...] = ("Active", "Inactive", "Draining")
#: Components on-premises servers keep Inactive for good ("born in the cloud"): never a finding.
ALWAYS_INACTIVE: frozenset[str] = frozenset({"ForwardSyncDaemon", "ProvisioningRps"})


def effective_state(requesters: dict[str, ComponentState]) -> ComponentState:
    """A component's state from its requesters' entries, as Exchange computes it: Inactive if
    any requester says Inactive, else Draining if any says Draining, else Active (no entry at
    all is Active)."""
    states = set(requesters.values())
    if "Inactive" in states:
        return "Inactive"
    return "Draining" if "Draining" in states else "Active"
