"""`castui lab`: run the simulated estate headless. `castui lab ctl`: break it from elsewhere."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from castui.cli.common import seconds_arg
from castui.lab.actions import ActionError, grammar, parse_action
from castui.lab.builtin_scenarios import BUILTIN_SCENARIOS
from castui.lab.control import (
    DEFAULT_CONTROL_PORT,
    ActionRejected,
    ControlAddress,
    ControlError,
    ControlServer,
    fetch_status,
    parse_control_address,
    send_action,
)
from castui.lab.estate import LabEstate
from castui.lab.haproxy_config import render_haproxy_config
from castui.lab.layout import (
    DEFAULT_DNS_PORT,
    DEFAULT_NET,
    DEFAULT_PORTS,
    DEFAULT_SITES,
    FREE_PORTS,
    REAL_DNS_PORT,
    REAL_PORTS,
    LabError,
    LabLayout,
    LabTiming,
    parse_sites,
)
from castui.lab.scenario import (
    Scenario,
    ScenarioError,
    ScenarioRunner,
    Step,
    load_scenario,
    resolve_scenario,
)
from castui.model.exchange import PROFILES
from castui.model.text import clean
from castui.model.times import iso, utcnow

EXIT_USAGE = 2
#: `castui lab ctl`: the lab could not be reached.
EXIT_UNREACHABLE = 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lab", help="run the built-in simulated Exchange estate (and `lab ctl` to break it)",
        description="Run the simulated two-site CAS estate on loopback addresses until "
                    "Ctrl-C, with its castui config written for check/watch.",
        epilog=_actions_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_estate_arguments(p)
    p.add_argument("--loop", action="store_true", help="repeat the scenario until stopped")
    p.add_argument("--haproxy-config", type=Path, metavar="FILE",
                   help="also write an HAProxy configuration for the same nodes (use with "
                        "--no-balancer, so HAProxy can bind the VIPs)")
    p.add_argument("--show-scenario", metavar="NAME|FILE",
                   help="print a scenario (e.g. a built-in one, to copy and edit) and exit")
    p.set_defaults(func=run)
    lab_sub = p.add_subparsers(dest="lab_command", metavar="ctl", parser_class=type(p))
    ctl = lab_sub.add_parser(
        "ctl", help="send an action to a running lab, or `status`",
        description="Send one action to a running `castui lab` (or `castui demo`), or print "
                    "its status.", epilog=_actions_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ctl.add_argument("--control", metavar="ADDR", default=None,
                     help=f"the lab's control API (default {DEFAULT_NET}.0.1:"
                          f"{DEFAULT_CONTROL_PORT})")
    ctl.add_argument("--json", action="store_true", help="print the lab's JSON answer")
    ctl.add_argument("words", nargs="+", metavar="ACTION",
                     help="`status`, or an action such as `crash Site-A/CAS2`")
    ctl.set_defaults(func=run_ctl)


def _actions_help() -> str:
    rows = "\n".join(f"  {usage:<28} {text}" for usage, text in grammar())
    return (f"actions:\n{rows}\n\nbuilt-in scenarios: {', '.join(BUILTIN_SCENARIOS)}\n"
            "scenario file lines: `at SECONDS: ACTION`, `at SECONDS: end`, `# comment`")


def add_estate_arguments(p: argparse.ArgumentParser) -> None:
    """Options `castui lab` and `castui demo` share: the layout, speed, scenario, control."""
    p.add_argument("--write-config", type=Path, metavar="FILE",
                   help="write the lab's castui config here (and its CA as FILE's "
                        "NAME.ca.pem); default: a temporary directory removed on exit")
    p.add_argument("--scenario", metavar="NAME|FILE",
                   help=f"run a scenario: {', '.join(BUILTIN_SCENARIOS)}, or a file")
    p.add_argument("--speed", type=_speed, default=1.0, metavar="F",
                   help="run scenarios and every check interval F times faster (default 1)")
    p.add_argument("--duration", type=seconds_arg, metavar="S",
                   help="stop after S seconds (default: until Ctrl-C or SIGTERM)")
    p.add_argument("--control", metavar="ADDR", default=None,
                   help="control API address, loopback only (default NET.0.1:20099)")
    p.add_argument("--profile", choices=PROFILES, default="exchange2010",
                   help="what the CAS nodes answer like: exchange2010, exchange2013, or "
                        "exchange2016 (2016, 2019 and Subscription Edition)")
    ports = p.add_mutually_exclusive_group()
    ports.add_argument("--real-ports", action="store_true",
                       help="Exchange's own ports 135/443/80 and DNS 53 (root only)")
    ports.add_argument("--free-ports", action="store_true",
                       help="let the kernel pick free ports (written to the config)")
    p.add_argument("--net", default=DEFAULT_NET, metavar="127.N",
                   help=f"the loopback /16 the lab lives in (default {DEFAULT_NET})")
    default_sites = ",".join(f"{plan.name}={plan.nodes}" for plan in DEFAULT_SITES)
    p.add_argument("--sites", default=default_sites, metavar="SPEC",
                   help=f"sites and node counts (default {default_sites})")
    p.add_argument("--no-balancer", action="store_true",
                   help="leave the VIP addresses free for a real balancer (see "
                        "--haproxy-config); drain and vip-down are then unavailable")


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 100")
    return value


# -- building the lab from arguments ----------------------------------------------------------


@dataclass
class LabSetup:
    """What `castui lab` and `castui demo` start, built (and checked) from the arguments."""

    estate: LabEstate
    control: ControlAddress
    scenario: Scenario | None
    speed: float
    #: Where lab lines go: stdout for `castui lab` and a headless demo, nowhere under the console.
    log: Callable[[str], None]


def build_setup(args: argparse.Namespace, scenario_name: str | None,
                log: Callable[[str], None] | None = None) -> LabSetup:
    """The estate, control address and scenario; LabError/ScenarioError if an option is bad."""
    log = log or say
    ports, dns_port = (REAL_PORTS, REAL_DNS_PORT) if args.real_ports else (
        (FREE_PORTS, 0) if args.free_ports else (DEFAULT_PORTS, DEFAULT_DNS_PORT))
    layout = LabLayout(sites=parse_sites(args.sites), net=args.net, ports=ports,
                       dns_port=dns_port, profile=args.profile,
                       balancers=not args.no_balancer)
    estate = LabEstate(layout, timing=LabTiming().scaled(args.speed), on_log=log)
    default = f"{layout.net}.0.1:{0 if args.free_ports else DEFAULT_CONTROL_PORT}"
    control = parse_control_address(args.control or default, f"{layout.net}.0.1")
    scenario = None
    if scenario_name is not None:
        scenario = resolve_scenario(load_scenario(scenario_name), estate.resolve)
    return LabSetup(estate, control, scenario, args.speed, log)


def stamp() -> str:
    return iso(utcnow())


def say(text: str) -> None:
    """One timestamped lab line on stdout (actions, the VIPs' verdicts)."""
    _print(f"{stamp()} lab: {text}")


def _print(line: str, file: Any = None) -> None:
    """Print a line; a closed pipe or terminal must not stop the lab from cleaning up."""
    out = file or sys.stdout
    with contextlib.suppress(OSError, ValueError):
        print(line, file=out, flush=True)


def fail(message: str) -> int:
    _print(f"castui: {message}", sys.stderr)
    return EXIT_USAGE


def step_printer(scenario: Scenario, log: Callable[[str], None]) -> Callable[[Step], None]:
    def on_step(step: Step) -> None:
        log(f"{step.action} (scenario {scenario.name}, at {step.at:g} s)")
    return on_step


def step_error_printer(scenario: Scenario,
                       log: Callable[[str], None]) -> Callable[[Step, str], None]:
    def on_error(step: Step, message: str) -> None:
        log(f"step failed (scenario {scenario.name}, line {step.line}): {message}")
    return on_error


@contextlib.contextmanager
def config_location(path: Path | None, prefix: str) -> Iterator[Path]:
    """`path`, or a file in a temporary directory that is removed afterwards."""
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp) / "lab.toml"


async def serving(setup: LabSetup, config_path: Path) -> ControlServer:
    """Start the estate and its control API and write the config; stops both on failure."""
    await setup.estate.start()
    control = ControlServer(setup.estate, setup.control,
                            on_action=lambda action: setup.log(f"{action} (control API)"))
    try:
        await control.start()
        setup.estate.write_config(config_path)
    except BaseException:
        await control.stop()
        await setup.estate.stop()
        raise
    return control


def install_stop(stop: asyncio.Event) -> None:
    """Ctrl-C, SIGTERM and a closed terminal (SIGHUP) all stop the lab cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)


def start_scenario(setup: LabSetup, *, loop: bool,
                   on_loop: Callable[[], None] | None = None) -> asyncio.Task[None] | None:
    """Run the scenario (in a loop, calling `on_loop` as each loop after the first starts)."""
    if setup.scenario is None:
        return None
    runner = ScenarioRunner(setup.scenario, setup.estate.apply, speed=setup.speed, loop=loop,
                            on_step=step_printer(setup.scenario, setup.log),
                            on_error=step_error_printer(setup.scenario, setup.log),
                            on_loop=on_loop)
    task = asyncio.create_task(runner.run(), name="castui-lab-scenario")
    task.add_done_callback(_scenario_ended)
    return task


def _scenario_ended(task: asyncio.Task[None]) -> None:
    """Say when a scenario ends by itself; the lab runs on until it is stopped."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        say(f"scenario stopped: {clean(str(exc) or type(exc).__name__)}")
    else:
        say("scenario done; the lab keeps running until stopped")


async def wind_down(task: asyncio.Task[None] | None, control: ControlServer,
                    estate: LabEstate) -> None:
    """Stop the scenario, the control API and the estate, in that order."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await control.stop()
    await estate.stop()


# -- castui lab -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    if args.show_scenario is not None:
        try:
            scenario = load_scenario(args.show_scenario)
        except ScenarioError as exc:
            return fail(str(exc))
        text = BUILTIN_SCENARIOS.get(args.show_scenario)
        if text is None:
            text = "\n".join(f"at {step.at:g}: {step.action}" for step in scenario.steps)
            text += f"\nat {scenario.length:g}: end\n"
        _print(text.rstrip("\n"))
        return 0
    if args.loop and args.scenario is None:
        return fail("--loop needs --scenario")
    try:
        setup = build_setup(args, args.scenario)
        with config_location(args.write_config, "castui-lab-") as config_path:
            return asyncio.run(_lab(args, setup, config_path))
    except (LabError, ScenarioError, ActionError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(clean(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")))
    except KeyboardInterrupt:
        return 0


async def _lab(args: argparse.Namespace, setup: LabSetup, config_path: Path) -> int:
    stop = asyncio.Event()
    install_stop(stop)
    control = await serving(setup, config_path)
    task = None
    try:
        if args.haproxy_config is not None:
            config = setup.estate.config(config_path)
            t = setup.estate.timing
            args.haproxy_config.write_text(render_haproxy_config(
                config, inter=t.lb_inter, rise=t.lb_rise, fall=t.lb_fall,
                connect_timeout=t.lb_timeout,
                stats_socket=args.haproxy_config.with_suffix(".sock")) + "\n")
        for line in setup.estate.describe():
            _print(f"castui lab: {line}")
        if args.haproxy_config is not None:
            _print(f"castui lab: HAProxy config {args.haproxy_config}")
        _print(f"castui lab: break things with: castui lab ctl --control {control.address} "
               "crash Site-A/CAS2")
        _print(f"castui lab: ready; config {config_path}; control {control.address}")
        task = start_scenario(setup, loop=args.loop)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.duration)
    finally:
        await wind_down(task, control, setup.estate)
    _print("castui lab: stopped")
    return 0


# -- castui lab ctl ---------------------------------------------------------------------------


def run_ctl(args: argparse.Namespace) -> int:
    default = f"{DEFAULT_NET}.0.1:{DEFAULT_CONTROL_PORT}"
    try:
        address = parse_control_address(args.control or default, f"{DEFAULT_NET}.0.1")
    except LabError as exc:
        return fail(str(exc))
    text = " ".join(args.words)
    try:
        if text.strip().lower() == "status":
            doc = fetch_status(address)
            _print(json.dumps(doc, indent=2) if args.json else render_status(doc))
            return 0
        try:
            parse_action(text)  # a typo is reported without asking the lab
        except ActionError as exc:
            return fail(str(exc))
        applied = send_action(address, text)
    except ControlError as exc:
        _print(f"castui: {exc}", sys.stderr)
        return EXIT_UNREACHABLE
    except ActionRejected as exc:
        return fail(f"the lab refused {clean(text, 80)!r}: {exc}")
    _print(json.dumps({"ok": True, "applied": applied}) if args.json else f"applied: {applied}")
    return 0


def render_status(doc: dict[str, Any]) -> str:
    """The lab's status document as a few aligned lines (text from the network is cleaned)."""
    lines = [f"lab DNS {clean(str(doc.get('dns')), 60)} zone {clean(str(doc.get('zone')), 60)},"
             f" profile {clean(str(doc.get('profile')), 20)}"]
    for site in doc.get("sites") or []:
        if not isinstance(site, dict):
            continue
        vip_up = site.get("vip_up")
        vip = {True: "up", False: "DOWN", None: "no lab balancer"}.get(vip_up, "?")
        answer = ",".join(clean(str(a), 45) for a in site.get("dns_answer") or []) or "nothing"
        points = site.get("points_to")
        where = "own VIP" if points == site.get("name") else (
            f"{clean(str(points), 40)}'s VIP" if points else "no lab VIP")
        lines.append(f"{clean(str(site.get('name')), 40)}: VIP {clean(str(site.get('vip')), 45)}"
                     f" {vip}; {clean(str(site.get('array_fqdn')), 100)} -> {answer} ({where})")
        for node in site.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            faults = ", ".join(clean(str(f), 40) for f in node.get("faults") or []) or "healthy"
            if node.get("drained"):
                faults += ", drained"
            balancer = node.get("balancer")
            seen = f"VIP sees {clean(str(balancer), 20)}" if balancer else ""
            lines.append(f"  {clean(str(node.get('name')), 20):<8} "
                         f"{clean(str(node.get('address')), 45):<16} "
                         f"{clean(str(node.get('state')), 12):<11} {faults:<24} {seen}".rstrip())
    return "\n".join(lines)
