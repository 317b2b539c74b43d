"""`castui maint` and `castui watch --drill` as a user runs them: real processes, real history."""

from __future__ import annotations

import json
from pathlib import Path

from castui.history import EventStore
from castui.model.events import Kind
from tests.test_cli import castui

DEAD = ("[defaults]\ninterval = 0.5\ntimeout = 0.2\n"
        '[[sites]]\nname = "Site-A"\narray_fqdn = "outlook.s.lab.test"\nvip = "127.0.97.50"\n'
        "[sites.ports]\nepm = 1\nhttps = 2\nhttp = 3\n"
        '[[sites.nodes]]\nname = "CAS1"\naddress = "127.0.97.21"\n'
        '[[sites.nodes]]\nname = "CAS2"\naddress = "127.0.97.22"\n')


async def test_maint_set_list_clear_round_trip(tmp_path: Path) -> None:
    config = tmp_path / "estate.toml"
    config.write_text(DEAD)
    db = str(tmp_path / "h.sqlite3")
    code, out, err = await castui("maint", "set", "site-a/cas2", "--for", "45m", "--reason",
                                  "KB5001 patching", "--config", str(config), "--db", db)
    assert code == 0, err
    assert out.startswith("Site-A/CAS2 in maintenance until ") and "KB5001 patching" in out
    code, out, _ = await castui("maint", "list", "--db", db)
    assert code == 0 and out.count("in maintenance until") == 1
    with EventStore(db) as store:
        (mark,) = store.maintenance()
        assert (mark.site, mark.node, mark.reason) == ("Site-A", "CAS2", "KB5001 patching")
        assert round((mark.ends - mark.starts).total_seconds()) == 45 * 60
    code, out, _ = await castui("maint", "clear", "--db", db)
    assert code == 0 and out.startswith("cleared: Site-A/CAS2")
    code, out, _ = await castui("maint", "list", "--db", db)
    assert out.strip() == "no maintenance marks in force or to come"
    with EventStore(db) as store:
        assert [e.kind for e in store.events()] == [Kind.MAINT_SET, Kind.MAINT_CLEARED]


async def test_maint_refuses_what_it_cannot_mean_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "estate.toml"
    config.write_text(DEAD)
    db = str(tmp_path / "h.sqlite3")
    for args, phrase in (
            (("set", "Site-A/CAS9", "--for", "1h", "--config", str(config)), "no node 'CAS9'"),
            (("set", "Site-Z", "--for", "1h", "--config", str(config)), "no site 'Site-Z'"),
            (("set", "Site-A/CAS1", "--for", "soon"), "not a span: 'soon'"),
            (("set", "Site-A/CAS1", "--for", "8d"), "at most 7d"),
            (("set", "Site-A/CAS1/x", "--for", "1h"), "is not SITE or SITE/NODE")):
        code, _, err = await castui("maint", *args, "--db", db)
        assert code == 2 and phrase in err and "Traceback" not in err, (args, err)
    with EventStore(db) as store:
        assert store.maintenance() == []


async def test_watch_drill_records_the_drill_from_start_to_end(tmp_path: Path) -> None:
    config = tmp_path / "estate.toml"
    config.write_text(DEAD)
    db = str(tmp_path / "h.sqlite3")
    code, out, err = await castui("watch", "--config", str(config), "--duration", "1.2",
                                  "--drill", "dr-cli", "--db", db)
    assert code == 0, err
    kinds = [line.split()[3].rstrip(":") for line in out.splitlines()]
    assert kinds[0] == Kind.DRILL_STARTED and kinds[-1] == Kind.DRILL_ENDED
    with EventStore(db) as store:
        (drill,) = store.drills("dr-cli")
        assert drill.ended is not None and store.open_drill() is None
        assert 1.0 <= (drill.ended - drill.started).total_seconds() < 10
    code, out, err = await castui("report", "--db", db, "--drill", "dr-cli", "--format", "json",
                                  "--output", str(tmp_path / "r.json"))
    assert code == 0, err
    # Two nodes that never answered: out at start, not drops.
    (site,) = json.loads((tmp_path / "r.json").read_text())["sites"]
    assert [o["node"] for o in site["out_at_start"]] == ["CAS1", "CAS2"]
    assert site["node_drops"] == []
