"""Text from the network is bounded at its source: a DNS server answering thousands of A
records cannot flood `castui check` (Nagios keeps 8 KiB of plugin output), its JSON, the
events `watch` prints, or the history's rows.

Issue 12: 5,000 A records made the check's site line 194,891 characters, the JSON reason
64,849 and a `watch` event 64,642. One DNS message holds at most 65,535 bytes (over TCP), 16
bytes an A record: 4,000 records is about as many as one answer can carry. The resolver is
castui's lab DNS server on loopback (UDP, then TCP for the truncated answer), beside the
estate's dnsmasq, which answers the VIP: the site is critical and its resolvers disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from castui.history import EventStore
from castui.lab.certs import LabCA
from castui.lab.dns import LabDNS
from castui.model.events import EVENT_DETAIL_LIMIT
from tests.support.estate import estate
from tests.support.net import loopback_block
from tests.support.procs import require_binary
from tests.test_cli import CHECK_TIMING, castui

pytestmark = pytest.mark.integration

RECORDS = 4000
ARRAY = "outlook.site-a.lab.test"
#: What Nagios keeps of a plugin's output by default, and of its first line, in bytes.
NAGIOS_OUTPUT = 8192
NAGIOS_FIRST_LINE = 4096


def flood() -> list[str]:
    return [f"10.{i // 250 + 100}.{i % 250}.{i % 7 + 1}" for i in range(RECORDS)]


async def test_thousands_of_a_records_stay_bounded_in_check_watch_and_history(
        tmp_path: Path, lab_ca: LabCA) -> None:
    require_binary("haproxy")
    require_binary("dnsmasq")
    flooder = LabDNS(loopback_block().addr(53), 0, zone="site-a.lab.test")
    flooder.set_a(ARRAY, flood())
    await flooder.start()
    try:
        async with estate(tmp_path, lab_ca, **CHECK_TIMING,
                          more_dns=(f"{flooder.address}:{flooder.port}",)) as est:
            code, text, err = await castui("check", "--config", str(est.config_path))
            json_code, doc_text, _ = await castui("check", "--config", str(est.config_path),
                                                  "--format", "json")
            db = tmp_path / "watch.sqlite3"
            _, watched, _ = await castui("watch", "--config", str(est.config_path), "--format",
                                         "jsonl", "--duration", "3", "--db", str(db))
    finally:
        await flooder.stop()

    # `check` as Nagios reads it.
    assert (code, json_code) == (2, 2), text + err
    first = text.splitlines()[0]
    assert first.startswith("CASTUI CRITICAL - Site-A: ")
    assert len(first.encode()) < NAGIOS_FIRST_LINE
    assert len(text.encode()) < NAGIOS_OUTPUT
    assert " more" in first and "does not resolve to the VIP" in first
    assert "'nodes_in_pool'=3;;;0;3" in first  # perfdata survives the cut

    # The JSON: every reason and every check detail short; answers say how many there were.
    doc = json.loads(doc_text)
    site = doc["sites"][0]
    assert site["reasons"] and all(len(reason) <= 300 for reason in site["reasons"])
    assert any(f"+{RECORDS - 4} more" in reason for reason in site["reasons"])
    flooded = f"{flooder.address}:{flooder.port}"
    assert len(site["dns"]["answers"][flooded]) == 16
    dnsmasq = f"{est.dns_address}:{est.dns_port}"
    assert site["dns"]["answer_counts"] == {flooded: RECORDS, dnsmasq: 1}
    assert all(len(check["detail"]) <= 200 for check in site["dns"]["checks"])
    assert len(doc_text) < 64 * 1024

    # `watch`: each event line short, the flood named with its count; the history alike.
    lines = [json.loads(line) for line in watched.splitlines()]
    dns_events = [e for e in lines if e["subject"] == "dns"]
    assert dns_events, watched[:2000]
    assert all(len(line) < 4096 for line in watched.splitlines())
    assert any(f"+{RECORDS - 4} more" in e["detail"] for e in dns_events)
    with EventStore(db) as store:
        stored = store.events()
    assert stored and all(len(e.detail) <= EVENT_DETAIL_LIMIT for e in stored)
    assert all(len(json.dumps(dict(e.data))) < 2048 for e in stored)
