"""Pool-state rules: rounds of results in, states and events out (no network needed here).

The probes themselves are exercised against real servers elsewhere; these tests pin the rules
an operator relies on: DOWN after `fall`, UP after `rise` with the outage's duration, DEGRADED for
a half-dead node, DNS answer changes and failures.
"""

import dataclasses
from datetime import UTC, datetime, timedelta

from castui.config.model import Config, Defaults, DnsServer, Node, Ports, Site
from castui.engine.pool import TargetState, fold_round
from castui.engine.targets import build_targets
from castui.model.events import Kind
from castui.model.results import Code, Error, ProbeResult

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def _config(pool_checks: tuple[str, ...] = ("epm", "https", "owa"),
            service_names: tuple[str, ...] = ()) -> Config:
    ports = Ports(epm=135, https=443, http=80)
    site = Site("Site-A", "outlook.site-a.corp.local", "10.1.0.50", "exchange2010", ports,
                (Node("CAS1", "10.1.0.21", ports),),
                (DnsServer("10.1.0.10"), DnsServer("10.1.0.11")),
                service_names=service_names, external_dns_servers=(DnsServer("192.0.2.53"),))
    return Config((site,), Defaults(rise=2, fall=3, pool_checks=pool_checks))


def _state(kind: str, config: Config | None = None) -> TargetState:
    target = next(t for t in build_targets(config or _config()) if t.kind == kind)
    return TargetState.new(target, rise=2, fall=3)


def _round(state: TargetState, failing: dict[str, ProbeResult] | None = None
           ) -> dict[str, ProbeResult]:
    good = ProbeResult(True, Code.L7OK, "ok", latency_ms=1.0)
    failing = failing or {}
    return {name: failing.get(name, good) for name in state.checks}


REFUSED = ProbeResult(False, Code.L4CON, "connection refused", error=Error.REFUSED)
HTTP503 = ProbeResult(False, Code.L7STS, "HTTP 503 Service Unavailable", error=Error.STATUS)


def run(state: TargetState, rounds: list[dict[str, ProbeResult]]) -> list[list[str]]:
    out = []
    for i, results in enumerate(rounds):
        events = fold_round(state, results, T0 + timedelta(seconds=2 * i))
        out.append([e.kind for e in events])
    return out


def test_node_goes_down_after_fall_rounds_and_back_after_rise_with_duration() -> None:
    state = _state("node")
    bad = _round(state, {"https": REFUSED, "owa": REFUSED})
    kinds = run(state, [_round(state), bad, bad, bad, _round(state), _round(state)])
    assert kinds == [[], [], [], [Kind.NODE_DOWN], [], [Kind.NODE_UP]]
    assert state.status_text == "UP"


def test_transitional_texts_are_visible() -> None:
    state = _state("node")
    bad = _round(state, {"epm": REFUSED})
    texts = []
    for results in [_round(state), bad, bad, bad, _round(state)]:
        fold_round(state, results, T0)
        texts.append(state.status_text)
    assert texts == ["UP", "UP 2/3", "UP 1/3", "DOWN", "DOWN 1/2"]


def test_node_up_carries_outage_duration() -> None:
    state = _state("node")
    fold_round(state, _round(state), T0)
    bad = _round(state, {"epm": REFUSED})
    events = []
    for i, results in enumerate([bad, bad, bad, _round(state), _round(state)], start=1):
        events += fold_round(state, results, T0 + timedelta(seconds=10 * i))
    down = next(e for e in events if e.kind == Kind.NODE_DOWN)
    up = next(e for e in events if e.kind == Kind.NODE_UP)
    assert "epm L4CON connection refused" in down.detail
    assert up.duration_s == (up.time - down.time).total_seconds() == 20.0


def test_failing_service_check_degrades_but_never_removes() -> None:
    state = _state("node")
    half_dead = _round(state, {"ews": HTTP503})
    kinds = run(state, [_round(state)] + [half_dead] * 5 + [_round(state)] * 2)
    flat = [k for ks in kinds for k in ks]
    assert flat == [Kind.NODE_DEGRADED, Kind.NODE_RECOVERED]
    assert kinds[3] == [Kind.NODE_DEGRADED]  # after `fall` rounds of the service check
    assert Kind.NODE_DOWN not in flat


def test_degraded_state_and_text() -> None:
    state = _state("node")
    for results in [_round(state)] + [_round(state, {"ews": HTTP503})] * 3:
        fold_round(state, results, T0)
    assert (state.state, state.status_text) == ("degraded", "DEGRADED")


def test_pool_checks_are_configurable() -> None:
    target = next(t for t in build_targets(_config(("epm",))) if t.kind == "node")
    roles = {c.name: c.role for c in target.checks}
    assert roles["epm"] == "pool"
    assert roles["https"] == roles["owa"] == "service"


def test_node_down_at_start_is_reported_once() -> None:
    state = _state("node")
    bad = _round(state, {"epm": REFUSED})
    kinds = run(state, [bad, bad, bad])
    assert kinds == [[Kind.NODE_DOWN], [], []]


def test_vip_events() -> None:
    state = _state("vip")

    def at(epoch: float, results: dict[str, ProbeResult]) -> dict[str, ProbeResult]:
        return {name: dataclasses.replace(r, started_at=epoch) for name, r in results.items()}

    bad = _round(state, {"https": REFUSED})
    rounds = [at(1000 + 2 * i, r) for i, r in enumerate(
        [_round(state), bad, bad, bad, _round(state), _round(state)])]
    events = [fold_round(state, results, T0) for results in rounds]
    # Every failed probe counts for clients (vip_probe_*); rise/fall decide vip_down/vip_up.
    assert [[e.kind for e in es] for es in events] == [
        [], [Kind.VIP_PROBE_FAILED], [], [Kind.VIP_DOWN], [Kind.VIP_PROBE_OK], [Kind.VIP_UP]]
    (failed,), (down,), (ok,) = events[1], events[3], events[4]
    assert failed.data["probe_at"] == ok.data["failed_at"] == "1970-01-01T00:16:42.000Z"
    assert ok.data["probe_at"] == "1970-01-01T00:16:48.000Z" and ok.duration_s == 6.0
    assert down.data["first_failed"] == failed.data["probe_at"]


def _dns(addresses: list[str]) -> ProbeResult:
    ok = "10.1.0.50" in addresses
    return ProbeResult(ok, Code.DNSOK, ",".join(addresses),
                       error=None if ok else Error.MISMATCH,
                       facts={"addresses": addresses, "ttl": 300})


TIMEOUT = ProbeResult(False, Code.DNSTOUT, "no reply in 1.5 s", error=Error.TIMEOUT)


def test_dns_change_is_reported_at_once_naming_old_and_new() -> None:
    state = _state("dns")
    same = {"10.1.0.10": _dns(["10.1.0.50"]), "10.1.0.11": _dns(["10.1.0.50"])}
    flipped = {"10.1.0.10": _dns(["10.2.0.50"]), "10.1.0.11": _dns(["10.1.0.50"])}
    events = fold_round(state, same, T0) + fold_round(state, flipped, T0)
    assert [e.kind for e in events] == [Kind.DNS_CHANGED, Kind.DNS_SPLIT]
    assert events[0].data == {"server": "10.1.0.10", "old": ["10.1.0.50"], "new": ["10.2.0.50"]}
    assert events[1].detail == ("resolvers disagree: 10.1.0.10 says 10.2.0.50; "
                                "10.1.0.11 says 10.1.0.50")
    events = fold_round(state, same, T0)
    assert [e.kind for e in events] == [Kind.DNS_CHANGED, Kind.DNS_AGREED]


def test_dns_failure_after_fall_rounds_then_recovery() -> None:
    state = _state("dns")
    good = {"10.1.0.10": _dns(["10.1.0.50"]), "10.1.0.11": _dns(["10.1.0.50"])}
    bad = {"10.1.0.10": TIMEOUT, "10.1.0.11": _dns(["10.1.0.50"])}
    kinds = run(state, [good, bad, bad, bad, good, good])
    assert kinds == [[], [], [], [Kind.DNS_FAILED], [], [Kind.DNS_RECOVERED]]


def test_alert_rules_and_acknowledgement() -> None:
    from castui.engine.alerts import AlertBook, is_alert
    from castui.model.alerts import Alert
    from castui.model.events import Event

    book = AlertBook()
    kinds = [Kind.MONITOR_STARTED, Kind.NODE_DOWN, Kind.NODE_UP, Kind.NODE_DEGRADED,
             Kind.NODE_RECOVERED, Kind.VIP_DOWN, Kind.VIP_UP, Kind.DNS_CHANGED, Kind.DNS_FAILED,
             Kind.DNS_RECOVERED, Kind.NODE_FLAPPING, Kind.VIP_PROBE_FAILED]
    events = [Event(T0, "Site-A", "CAS1", kind, "") for kind in kinds]
    alerted = [e.kind for e in events if is_alert(e)]
    assert alerted == [Kind.NODE_DOWN, Kind.NODE_DEGRADED, Kind.VIP_DOWN, Kind.DNS_CHANGED,
                       Kind.DNS_FAILED, Kind.NODE_FLAPPING]
    # Expected drops and the further changes of a flapping node page nobody.
    assert not is_alert(Event(T0, "Site-A", "CAS1", Kind.NODE_DOWN, "",
                              data={"maintenance": "Site-A/CAS1"}))
    assert not is_alert(Event(T0, "Site-A", "CAS1", Kind.NODE_DOWN, "", data={"flapping": True}))
    for i, event in enumerate(e for e in events if is_alert(e)):
        book.add(Alert(i + 1, event))
    assert book.unacknowledged == 6
    newest = next(iter(book))
    assert newest.event.kind == Kind.NODE_FLAPPING
    assert book.ack([newest.id], T0, "ops") == [newest.id] and book.ack([newest.id], T0, "x") == []
    assert newest.acked_by == "ops" and book.unacknowledged == 5
    assert len(book.ack(None, T0, "ops")) == 5 and book.unacknowledged == 0


def _hygiene(state: TargetState) -> dict[str, bool | None]:
    from castui.engine.snapshot import TargetView

    return {c.name: c.ok for c in TargetView.of(state).checks if c.kind == "dns_hygiene"}


OUTSIDE = "external 192.0.2.53"
REFUSED_DNS = ProbeResult(True, Code.DNSFAIL, "does not resolve it (REFUSED)")


def test_dns_hygiene_rules_warn_and_clear() -> None:
    state = _state("dns", _config(service_names=("outlook.site-a.corp.local",)))
    good = {"10.1.0.10": _dns(["10.1.0.50"]), "10.1.0.11": _dns(["10.1.0.50"]),
            OUTSIDE: REFUSED_DNS}
    events = fold_round(state, good, T0)
    # The array FQDN doubling as a service name is a standing warning from the first round.
    assert [(e.kind, e.data.get("rule")) for e in events] == [(Kind.DNS_WARNING, "names")]
    assert _hygiene(state) == {"ttl": True, "split": True, "external": True, "names": False}

    long_ttl = ProbeResult(True, Code.DNSOK, "", facts={"addresses": ["10.1.0.50"], "ttl": 86400})
    leak = ProbeResult(False, Code.DNSOK, "resolves the internal name from outside: 10.1.0.50",
                       error=Error.MISMATCH)
    events = fold_round(state, {**good, "10.1.0.11": long_ttl, OUTSIDE: leak}, T0)
    assert [(e.kind, e.data.get("rule")) for e in events] == [
        (Kind.DNS_WARNING, "ttl"), (Kind.DNS_WARNING, "external")]
    assert "TTL 86400 s above 300 s" in events[0].detail
    assert "192.0.2.53 resolves the internal name from outside" in events[1].detail

    events = fold_round(state, good, T0)
    assert [(e.kind, e.data.get("rule")) for e in events] == [
        (Kind.DNS_WARNING_CLEARED, "ttl"), (Kind.DNS_WARNING_CLEARED, "external")]


def test_outside_resolver_verdict() -> None:
    from castui.engine.runner import outside_verdict

    answered = ProbeResult(True, Code.DNSOK, "10.1.0.50", facts={"addresses": ["10.1.0.50"]})
    assert outside_verdict(answered).ok is False
    assert "from outside: 10.1.0.50" in outside_verdict(answered).detail
    nx = ProbeResult(False, Code.DNSNX, "NXDOMAIN", error=Error.NXDOMAIN)
    assert outside_verdict(nx).ok is True
    silent = ProbeResult(False, Code.DNSTOUT, "no answer", error=Error.TIMEOUT)
    assert outside_verdict(silent) is silent


def test_site_warns_on_hygiene_and_expiring_certificates() -> None:
    from castui.engine.snapshot import TargetView, build_site

    config = _config(service_names=("outlook.site-a.corp.local",))
    targets = {t.kind: TargetState.new(t, 2, 3) for t in build_targets(config)}
    expiring = ProbeResult(True, Code.TLSOK, "valid", warning="expires in 9 days")
    events = fold_round(targets["node"], {**_round(targets["node"]), "tls": expiring}, T0)
    assert [e.kind for e in events] == [Kind.CERT_EXPIRING]
    fold_round(targets["vip"], _round(targets["vip"]), T0)
    fold_round(targets["dns"], {"10.1.0.10": _dns(["10.1.0.50"]),
                                "10.1.0.11": _dns(["10.1.0.50"]), OUTSIDE: REFUSED_DNS}, T0)
    site = build_site("Site-A", "outlook.site-a.corp.local", TargetView.of(targets["vip"]),
                      TargetView.of(targets["dns"]), (TargetView.of(targets["node"]),))
    assert site.status.name == "WARNING"
    assert site.reasons[0] == "CAS1 tls: expires in 9 days"
    assert site.reasons[1].startswith("DNS names: outlook.site-a.corp.local is also a service")


def test_service_checks_back_with_the_node_do_not_degrade_it() -> None:
    state = _state("node")
    down = _round(state, {"epm": REFUSED, "https": REFUSED, "owa": REFUSED, "ews": REFUSED})
    late = _round(state, {"ews": REFUSED})  # EWS is one round late coming back
    kinds = run(state, [_round(state), down, down, down, late, _round(state), _round(state)])
    assert [k for ks in kinds for k in ks] == [Kind.NODE_DOWN, Kind.NODE_UP]
    assert state.status_text == "UP"
