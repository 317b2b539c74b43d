"""Fold each round's probe results into pool state and the events it implies.

(A few lines over 400: the per-target state, the round fold and the partial-vdir rule read
together; the DNS hygiene rules are the natural next split if it grows.)

This is where "what is down" is decided, for every front-end alike. It does no I/O: a round of
results in, events out, so the rules are tested without a network.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from castui.engine.health import Health, HealthCounter
from castui.engine.targets import CheckSpec, Target
from castui.model.events import SUBJECT_DNS, SUBJECT_VIP, Event, Kind
from castui.model.results import Code, ProbeResult
from castui.model.text import listing
from castui.model.times import iso_epoch

#: A DNS answer: its addresses (at most the probe's MAX_ADDRESSES) and how many there were.
Answer = tuple[tuple[str, ...], int]
#: States in which a node still takes clients (a `partial` one for its vdirs still in).
IN_POOL_STATES = frozenset({"up", "degraded", "partial"})
#: Rounds kept in memory per target: a fixed ring, so memory does not grow with uptime.
RING_SIZE = 2048


@dataclass(frozen=True, slots=True)
class RoundSample:
    """One round of one target, as the timeline draws it."""

    time: datetime
    state: str
    status_text: str


@dataclass(slots=True)
class CheckState:
    spec: CheckSpec
    counter: HealthCounter
    last: ProbeResult | None = None
    last_answer: Answer | None = None
    reported_down: bool = False
    warned: bool = False


@dataclass(slots=True)
class TargetState:
    """Everything the engine remembers about one target between rounds."""

    target: Target
    counter: HealthCounter
    checks: dict[str, CheckState]
    degraded: bool = False
    #: DNS hygiene findings in force (rule -> what was found), for DNS targets.
    hygiene: dict[str, str] = field(default_factory=dict)
    changed_at: datetime | None = None
    out_since: datetime | None = None
    #: Start of the first failed probe of the current run of failing pool checks (epoch s).
    failing_since: float | None = None
    rounds: int = 0
    last_round_at: datetime | None = None
    #: How long the last round took, in seconds (the console's "polling keeps up").
    round_s: float | None = None
    #: With `lb_scope = "vdir"`: the pool checks (vdirs) out while the node stays in for the
    #: others, in check order; empty otherwise.
    partial: tuple[str, ...] = ()
    #: Exchange's server component states, from the node agent's last answer that had them
    #: (kept while the agent is unreachable, as during a patch reboot); None: never reported.
    components: dict[str, Any] | None = None
    ring: deque[RoundSample] = field(default_factory=lambda: deque(maxlen=RING_SIZE))

    @classmethod
    def new(cls, target: Target, rise: int, fall: int) -> TargetState:
        checks = {spec.name: CheckState(spec, HealthCounter(rise, fall)) for spec in target.checks}
        return cls(target, HealthCounter(rise, fall), checks)

    @property
    def state(self) -> str:
        """up, down, partial, degraded or unknown: the word `check --format json` and the
        console use. `partial`: some pool vdirs out, the node in for the others."""
        if self.counter.state is Health.UP and self.partial:
            return "partial"
        if self.counter.state is Health.UP and self.degraded:
            return "degraded"
        return self.counter.state.value

    @property
    def status_text(self) -> str:
        """HAProxy-style text: UP, UP 2/3, DOWN 1/2, DEGRADED, UNKNOWN, and for a partly out
        node `UP 3/5 vdirs (ews, mapihttp out)`."""
        if self.counter.transitional:
            return self.counter.text
        if self.state == "partial":
            total = sum(1 for c in self.checks.values() if c.spec.role == "pool")
            return (f"UP {total - len(self.partial)}/{total} vdirs "
                    f"({', '.join(self.partial)} out)")
        if self.state == "degraded":
            return "DEGRADED"
        return self.counter.text


def _failing(state: TargetState, role: str, *, current: bool) -> list[CheckState]:
    """Checks of `role` that failed this round (current) or whose own counter is DOWN."""
    out = []
    for check in state.checks.values():
        if check.spec.role != role or check.last is None:
            continue
        if (not check.last.ok) if current else check.counter.state is Health.DOWN:
            out.append(check)
    return out


def _describe(checks: list[CheckState]) -> str:
    parts = []
    for check in checks:
        assert check.last is not None
        parts.append(f"{check.spec.name} {check.last.code} {check.last.detail}".strip())
    return "; ".join(parts)


def fold_round(state: TargetState, results: dict[str, ProbeResult], now: datetime) -> list[Event]:
    """Apply one round's results to `state`; return the events it caused, in order."""
    target = state.target
    first = state.counter.state is Health.UNKNOWN
    for name, result in results.items():
        check = state.checks[name]
        check.last = result
        answered = check.spec.kind == "dns" and not check.spec.external
        good = result.code == Code.DNSOK if answered else result.ok
        check.counter.observe(good)
    agent = results.get("agent")
    if agent is not None and agent.ok and agent.facts.get("components") is not None:
        state.components = dict(agent.facts["components"])
    state.rounds += 1
    state.last_round_at = now
    fold = _fold_dns if target.kind == "dns" else _fold_pool
    events = fold(state, now, first)
    if first:
        state.changed_at = now
    state.ring.append(RoundSample(now, state.state, state.status_text))
    return events


def _fold_pool(state: TargetState, now: datetime, first: bool) -> list[Event]:
    target = state.target
    is_vip = target.kind == "vip"
    subject = SUBJECT_VIP if is_vip else target.subject
    pool_failing = _failing(state, "pool", current=True)
    # One pool per vdir: the node is out only when every pool vdir is; fewer is `partial`.
    partly = pool_failing
    if target.lb_scope == "vdir" and not is_vip:
        pool = [c for c in state.checks.values() if c.spec.role == "pool"]
        pool_failing = pool_failing if len(pool_failing) == len(pool) else []
    # The first round's verdict is `vip_down ... at start`; spells are changes after it.
    events = _probe_spell(state, pool_failing, now) if is_vip and not first else []
    if pool_failing and state.failing_since is None:
        state.failing_since = _probe_start(pool_failing, now)
    elif not pool_failing:
        state.failing_since = None
    changed = state.counter.observe(not pool_failing)
    first_failed = {"first_failed": iso_epoch(state.failing_since)} if state.failing_since else {}
    if first and state.counter.state is Health.DOWN:
        state.out_since = now
        kind = Kind.VIP_DOWN if is_vip else Kind.NODE_DOWN
        events.append(Event(now, target.site, subject, kind,
                            f"out of pool at start: {_describe(pool_failing)}",
                            data={"at_start": True, **first_failed}))
    elif changed and state.counter.state is Health.DOWN:
        state.out_since = now
        state.changed_at = now
        kind = Kind.VIP_DOWN if is_vip else Kind.NODE_DOWN
        events.append(Event(now, target.site, subject, kind, _describe(pool_failing),
                            data=first_failed))
        state.degraded = False
    elif changed and state.counter.state is Health.UP:
        # Service checks that pass now came back with the node: they need no rise of their
        # own, or the node would read DEGRADED for a round on its way back.
        for check in state.checks.values():
            if check.spec.role == "service" and check.last is not None and check.last.ok:
                check.counter.restore()
        duration = (now - state.out_since).total_seconds() if state.out_since else None
        state.out_since = None
        state.changed_at = now
        kind = Kind.VIP_UP if is_vip else Kind.NODE_UP
        events.append(Event(now, target.site, subject, kind, "back in pool", duration_s=duration))
    if not is_vip and target.lb_scope == "vdir":
        events.extend(_fold_partial(state, now, first, partly))
    if not is_vip:
        events.extend(_fold_degraded(state, now, first))
    events.extend(_fold_warnings(state, now, subject))
    return events


def _fold_partial(state: TargetState, now: datetime, first: bool,
                  failing: list[CheckState]) -> list[Event]:
    """`node_partial` when the set of pool vdirs out (each by its own rise/fall) changes while
    the node stays in for the others; `node_partial_cleared` when every one is back in. A node
    out altogether is `node_down`'s, not this."""
    if state.counter.state is not Health.UP:
        state.partial = ()
        return []
    pool = [c for c in state.checks.values() if c.spec.role == "pool"]
    out = tuple(c.spec.name for c in pool if c.counter.state is Health.DOWN)
    if out == state.partial:
        return []
    before, state.partial = state.partial, out
    state.changed_at = now
    target = state.target
    if not out:
        return [Event(now, target.site, target.subject, Kind.NODE_PARTIAL_CLEARED,
                      "every pool vdir is back in", data={"was_out": list(before)})]
    still_in = [c.spec.name for c in pool if c.spec.name not in out]
    why = _describe([c for c in pool if c.spec.name in out and c in failing]
                    or [c for c in pool if c.spec.name in out])
    at_start = " at start" if first else ""
    return [Event(now, target.site, target.subject, Kind.NODE_PARTIAL,
                  f"{', '.join(out)} out of pool{at_start}, {', '.join(still_in)} in: {why}",
                  data={"out": list(out), "in": still_in, **({"at_start": True} if first
                                                               else {})})]


def _probe_spell(state: TargetState, failing: list[CheckState], now: datetime) -> list[Event]:
    """What a client saw through the VIP, probe by probe: the first failed probe after good
    ones, and the first good one after failures (with how long the failing lasted). These are
    a drill's client-visible outage intervals; rise/fall only decide `vip_down`/`vip_up`."""
    site = state.target.site
    if failing and state.failing_since is None:
        at = _probe_start(failing, now)
        return [Event(now, site, SUBJECT_VIP, Kind.VIP_PROBE_FAILED,
                      f"VIP probe failed: {_describe(failing)}", data={"probe_at": iso_epoch(at)})]
    if not failing and state.failing_since is not None:
        checks = [c for c in state.checks.values() if c.spec.role == "pool"]
        at = _probe_start(checks, now)
        return [Event(now, site, SUBJECT_VIP, Kind.VIP_PROBE_OK, "VIP answers probes again",
                      duration_s=max(0.0, at - state.failing_since),
                      data={"probe_at": iso_epoch(at),
                            "failed_at": iso_epoch(state.failing_since)})]
    return []


def _probe_start(checks: list[CheckState], now: datetime) -> float:
    """When this round's probes of `checks` started (epoch s): the earliest start recorded,
    or the fold time for results that carry none."""
    starts = [c.last.started_at for c in checks if c.last is not None and c.last.started_at]
    return min(starts) if starts else now.timestamp()


def _fold_warnings(state: TargetState, now: datetime, subject: str) -> list[Event]:
    """A passing check that deserves attention (a certificate expiring soon), once per spell."""
    events = []
    for check in state.checks.values():
        warning = check.last.warning if check.last is not None else None
        if bool(warning) != check.warned:
            check.warned = bool(warning)
            if warning and check.spec.kind == "tls":
                events.append(Event(now, state.target.site, subject, Kind.CERT_EXPIRING,
                                    f"certificate {warning}", data={"check": check.spec.name}))
    return events


def _fold_degraded(state: TargetState, now: datetime, first: bool) -> list[Event]:
    """DEGRADED: pool checks pass while a service check fails (the half-dead node). Found on
    the first round it is the start-up state (`at_start`), not a change."""
    if state.counter.state is not Health.UP:
        return []
    failing = _failing(state, "service", current=False)
    degraded = bool(failing)
    if degraded == state.degraded:
        return []
    state.degraded = degraded
    state.changed_at = now
    target = state.target
    if degraded:
        at_start = " at start" if first else ""
        return [Event(now, target.site, target.subject, Kind.NODE_DEGRADED,
                      f"in pool but failing{at_start}: {_describe(failing)}",
                      data={"at_start": True} if first else {})]
    return [Event(now, target.site, target.subject, Kind.NODE_RECOVERED,
                  "every service check passes again")]


def _fold_dns(state: TargetState, now: datetime, first: bool) -> list[Event]:
    """Per resolver: an answer change is reported at once; a failure after `fall` rounds.

    Then the site's DNS hygiene rules (TTL, split answers, outside resolution, split names).
    """
    target = state.target
    events: list[Event] = []
    internal = [c for c in state.checks.values() if not c.spec.external]
    for check in internal:
        result = check.last
        if result is None or result.code != Code.DNSOK:
            continue
        server = check.spec.name
        answer = answer_of(result.facts)
        old = check.last_answer
        if old is not None and answer != old:
            events.append(Event(
                now, target.site, SUBJECT_DNS, Kind.DNS_CHANGED,
                f"{server}: {target.host} {_addrs(old)} -> {_addrs(answer)}",
                data={"server": server, "old": list(old[0]), "new": list(answer[0])}))
        check.last_answer = answer
    for check in internal:
        down = check.counter.state is Health.DOWN
        if down == check.reported_down or check.last is None:
            continue
        check.reported_down = down
        server = check.spec.name
        if down:
            events.append(Event(now, target.site, SUBJECT_DNS, Kind.DNS_FAILED,
                                f"{server}: {check.last.code} {check.last.detail}",
                                data={"server": server, "at_start": first}))
        else:
            events.append(Event(now, target.site, SUBJECT_DNS, Kind.DNS_RECOVERED,
                                f"{server} answers again", data={"server": server}))
    events.extend(_fold_hygiene(state, now))
    all_ok = all(c.last is not None and c.last.ok for c in internal)
    if state.counter.observe(all_ok):
        state.changed_at = now
    return events


#: Hygiene rules in display order, with what a passing rule says.
HYGIENE_RULES = {
    "ttl": "TTL within limit",
    "split": "every resolver gives the same answer",
    "external": "not resolvable from outside",
    "names": "array FQDN differs from the service names",
}


def hygiene_findings(state: TargetState) -> dict[str, str]:
    """The DNS hygiene rules the latest answers break: rule -> what was found."""
    rules = state.target.dns_rules
    if rules is None:
        return {}
    found: dict[str, str] = {}
    answered = [c for c in state.checks.values()
                if not c.spec.external and c.last is not None and c.last.code == Code.DNSOK]
    ttls = [ttl for c in answered if c.last and isinstance(ttl := c.last.facts.get("ttl"), int)]
    if ttls and max(ttls) > rules.ttl_max:
        found["ttl"] = (f"TTL {max(ttls)} s above {rules.ttl_max} s: a DNS failover takes that "
                        "long to reach every client")
    answers = {c.spec.name: answer_of(c.last.facts) if c.last else ((), 0) for c in answered}
    if len(set(answers.values())) > 1:
        found["split"] = "resolvers disagree: " + "; ".join(
            f"{server} says {_addrs(addrs)}" for server, addrs in answers.items())
    leaks = [c for c in state.checks.values()
             if c.spec.external and c.last is not None and not c.last.ok]
    if leaks:
        found["external"] = "; ".join(
            f"{c.spec.dns_server} {c.last.detail}" for c in leaks if c.last)
    if rules.array_fqdn.lower() in (name.lower() for name in rules.service_names):
        found["names"] = (f"{rules.array_fqdn} is also a service name: give the array its own "
                          "internal-only name (split DNS)")
    return found


def hygiene_rules(target: Target) -> list[str]:
    """The rules that apply to a site: TTL and split need resolvers, the others their config."""
    rules = target.dns_rules
    if rules is None:
        return []
    applies = {"ttl": any(not c.external for c in target.checks),
               "split": sum(not c.external for c in target.checks) > 1,
               "external": any(c.external for c in target.checks),
               "names": bool(rules.service_names)}
    return [rule for rule in HYGIENE_RULES if applies[rule]]


def _fold_hygiene(state: TargetState, now: datetime) -> list[Event]:
    found = hygiene_findings(state)
    events = []
    for rule in HYGIENE_RULES:
        before, after = state.hygiene.get(rule), found.get(rule)
        if (before is None) == (after is None):
            continue
        site = state.target.site
        if rule == "split":
            events.append(Event(now, site, SUBJECT_DNS, Kind.DNS_SPLIT, after) if after else
                          Event(now, site, SUBJECT_DNS, Kind.DNS_AGREED,
                                "every resolver gives the same answer again"))
        elif after:
            events.append(Event(now, site, SUBJECT_DNS, Kind.DNS_WARNING, after,
                                data={"rule": rule}))
        else:
            events.append(Event(now, site, SUBJECT_DNS, Kind.DNS_WARNING_CLEARED,
                                HYGIENE_RULES[rule], data={"rule": rule}))
    state.hygiene = found
    return events


def answer_of(facts: Mapping[str, Any]) -> Answer:
    """A DNS result's addresses (the first MAX_ADDRESSES) and how many there were."""
    addresses = tuple(facts.get("addresses", ()))
    count = facts.get("address_count")
    return addresses, max(count if isinstance(count, int) else 0, len(addresses))


def _addrs(answer: Answer) -> str:
    """`10.1.0.50`, `10.1.0.50,10.2.0.50`, or the first few and `+N more`."""
    addresses, total = answer
    return listing(addresses, total, sep=",") if addresses else "(none)"
