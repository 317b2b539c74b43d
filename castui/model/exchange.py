"""What a healthy Exchange CAS answers, unauthenticated, per version: castui's domain knowledge.

These are the requests a load balancer's health check (or a careful operator with curl) makes.
This module imports nothing of castui, so config, probes, engine and lab can all rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Profile = Literal["exchange2010", "exchange2013"]
PROFILES: tuple[Profile, ...] = ("exchange2010", "exchange2013")

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
)

HTTP_CHECKS: dict[Profile, tuple[HttpExpectation, ...]] = {
    "exchange2010": (
        HttpExpectation("owa", "/owa/auth/logon.aspx", 200, body="logon_form"),
        *(HttpExpectation(name, path, 401, www_authenticate=True)
          for name, path in _AUTH_VDIRS_2010),
    ),
    "exchange2013": tuple(
        HttpExpectation(name, f"/{vdir}/healthcheck.htm", 200, body="healthcheck")
        for name, vdir in _HEALTHCHECK_VDIRS_2013
    ),
}

#: Every check name a profile can produce, for validating `pool_checks`.
ALL_CHECK_NAMES: frozenset[str] = frozenset(
    {"epm", "https", "http", "mapi", "ab", "epmap", "tls"}
    | {check.name for checks in HTTP_CHECKS.values() for check in checks}
)
