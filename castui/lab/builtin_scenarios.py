"""The scenarios castui ships, in the same text format as a user's scenario file.

They are kept as text (not as Python objects) so `castui lab --show-scenario NAME` prints
exactly what runs, ready to copy and edit. Times suit castui's default 2 s interval and the lab
VIP's 5 s checks at `--speed 1`: each step leaves both time to notice the last one.
"""

from __future__ import annotations

BUILTIN_SCENARIOS: dict[str, str] = {
    "maintenance": """\
# Planned maintenance on CAS2: take it out of the VIP, stop it, bring it back.
# castui keeps showing CAS2 healthy while it is drained (the VIP status shows DRAIN);
# the outage starts only when the services stop.
at 10: drain Site-A/CAS2
at 30: crash Site-A/CAS2
at 60: restore Site-A/CAS2
at 90: end
""",
    "failover": """\
# Site-A loses two of its three nodes, one after the other, then gets them back.
# CAS1 stops cleanly (connections refused); CAS3 drops off the network (connects time out),
# so the VIP keeps sending it clients until its own checks give up.
at 10: crash Site-A/CAS1
at 30: blackhole Site-A/CAS3
at 60: restore Site-A/CAS1
at 75: restore Site-A/CAS3
at 100: end
""",
    "dr-switchover": """\
# Datacenter switchover: Site-A's VIP is lost, outlook.site-a is repointed at Site-B's VIP,
# then Site-A comes back and the name is switched back.
at 10: vip-down Site-A
at 25: switchover Site-A Site-B
at 55: vip-up Site-A
at 70: switchback Site-A
at 90: end
""",
    "half-dead": """\
# CAS2 is half-dead: every port answers and OWA works, but EWS returns 503.
# The VIP's TCP checks keep it in rotation; castui shows it DEGRADED.
at 10: fail Site-A/CAS2 ews
at 45: restore Site-A/CAS2
at 70: end
""",
    "exchange-maintenance": """\
# Exchange 2016/2019/SE maintenance on CAS2, as the runbook does it (--profile exchange2016):
# HubTransport Draining, then ServerWideOffline Inactive (every healthcheck.htm answers 503,
# so the balancer takes CAS2 out), a patch reboot, and back online.
at 10: draining Site-A/CAS2 HubTransport
at 20: offline Site-A/CAS2
at 40: crash Site-A/CAS2
at 60: restore Site-A/CAS2
at 75: online Site-A/CAS2
at 100: end
""",
    "cert-mismatch": """\
# A certificate renewal went wrong on CAS3: HTTPS now serves a certificate for another name.
# TCP checks still pass, so the VIP keeps it in rotation; castui's HTTPS checks fail.
at 10: cert-mismatch Site-A/CAS3
at 45: restore Site-A/CAS3
at 70: end
""",
}
