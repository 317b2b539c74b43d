"""`castui check`'s text stays within what Nagios keeps, however large the estate or its
trouble: 4 KiB for the first line, 8 KiB in all (issue 12).

The engine is fed rounds by the test driver (tests/support/ui_estate.py): the probes' own
bounds are tested against real servers elsewhere; this is about what many of them add up to.
"""

from __future__ import annotations

from castui.cli.check import FIRST_LINE_BYTES, OUTPUT_BYTES, render_text
from castui.config import parse_config
from tests.support.ui_estate import Driver, FrozenClock, new_monitor, refused

SITES, NODES = 30, 40


def big_config() -> str:
    lines = ["[defaults]", "interval = 2", "timeout = 1.5", "rise = 1", "fall = 1"]
    for s in range(SITES):
        lines += ["", "[[sites]]", f'name = "Site-{s:02d}-{"表示" * 20}"',
                  f'array_fqdn = "outlook.site-{s}.corp.local"', f'vip = "127.1.{s}.50"',
                  'dns_servers = ["127.0.60.53:20053"]', 'profile = "exchange2010"',
                  "ports = { epm = 20135, https = 20443, http = 20080, mapi = 59531, ab = 59532 }",
                  "nodes = ["]
        lines += [f'  {{ name = "CAS{s}-{n}", address = "127.1.{s}.{n + 1}" }},'
                  for n in range(NODES)]
        lines.append("]")
    return "\n".join(lines) + "\n"


def test_a_large_estate_in_trouble_fits_what_nagios_keeps() -> None:
    config = parse_config(big_config(), "big.toml")
    clock = FrozenClock()
    driver = Driver(new_monitor(config, None, clock), clock)
    driver.faults = {key: refused for key in driver.monitor.states if "CAS" in key
                     and not key.endswith("-0")}
    driver.run(6)
    text = render_text(driver.monitor.snapshot(), config.defaults)
    lines = text.splitlines()
    assert len(lines[0].encode()) <= FIRST_LINE_BYTES < 4096
    assert len(text.encode()) <= OUTPUT_BYTES < 8192
    assert lines[0].startswith("CASTUI WARNING - Site-00-")
    # Reasons are capped with a count, perfdata items are whole, later sites are counted.
    assert "CAS0-9 DOWN; +30 more)" in lines[0]
    _, perf = lines[0].split(" | ")
    assert perf.startswith("'nodes_in_pool'=1;;;0;40 ")
    assert all(item.count("=") == 1 and item.startswith("'") for item in perf.split())
    assert lines[-1].endswith(" more sites")
    shown = len(lines) - 1
    assert lines[-1] == f"+{SITES - shown} more sites"
