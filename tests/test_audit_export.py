"""The castui-exchange/1 reader: what the PowerShell script writes is read, including the
awkward shapes PowerShell produces; anything else is one line naming the file and the field.

PowerShell cannot run here: the samples stand in for the script's output (tests/exchange/,
examples/exchange-export*.json), written the way tools/Export-CastuiExchange.ps1 writes them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from castui.engine.audit import ExportError, load_export, parse_export

ROOT = Path(__file__).resolve().parent.parent
HEALTHY = ROOT / "examples" / "exchange-export.json"
AWKWARD = Path(__file__).resolve().parent / "exchange" / "awkward.json"
CONFIG = ROOT / "examples" / "two-sites.toml"


def healthy() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(HEALTHY.read_text())
    return doc


def test_the_example_export_reads_whole() -> None:
    export = load_export(HEALTHY)
    assert export.collected == datetime(2026, 11, 21, 8, tzinfo=UTC)
    assert [s.name for s in export.servers][:3] == ["CAS1", "CAS2", "CAS3"]
    assert export.sites() == ["Site-A", "Site-B"]
    (array,) = export.arrays
    assert (array.fqdn, array.members) == ("outlook.site-a.corp.local", ("CAS1", "CAS2", "CAS3"))
    cas1 = export.server("cas1.CORP.local")
    assert cas1 is not None and cas1.is_2010 and cas1.client_access
    dr1 = export.server("CAS-DR1")
    assert dr1 is not None and dr1.major == 15 and dr1.client_access  # 2016: Mailbox role


def test_the_awkward_shapes_powershell_writes() -> None:
    """One array written as a bare object, roles and services as Exchange's comma text, null
    and empty URLs, names in mixed case with a trailing dot, /Date(ms)/ times, an Exchange
    2016 server beside 2010 ones, and keys this version does not know."""
    export = load_export(AWKWARD)
    (array,) = export.arrays
    assert array.fqdn == "outlook.site-a.corp.local"
    assert export.server("CAS1") is not None and export.server("CAS1").is_2010  # type: ignore[union-attr]
    assert export.server("cas1").roles == ("ClientAccess", "HubTransport")  # type: ignore[union-attr]
    ex2016 = export.server("ex2016")
    assert ex2016 is not None and not ex2016.is_2010 and ex2016.client_access
    assert export.sites() == ["site-a"]  # one spelling per AD site, the first seen
    oab = next(v for v in export.virtual_directories if v.kind == "oab")
    assert oab.hosts() == ()
    owa = next(v for v in export.virtual_directories if v.kind == "owa")
    assert owa.hosts() == ("mail.corp.local",)
    autodiscover = next(v for v in export.virtual_directories if v.kind == "autodiscover")
    assert autodiscover.external_url is None  # "" is unset, like null
    (oa,) = export.outlook_anywhere
    assert oa.hosts() == ("mail.corp.com",)
    first = export.certificates[0]
    assert first.names == ("*.corp.local",) and first.for_iis
    assert first.not_after == datetime(2027, 5, 1, tzinfo=UTC)
    assert export.databases[1].rpc_client_access_server is None


@pytest.mark.parametrize("encoding,bom", [("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe")])
def test_windows_encodings_are_read(tmp_path: Path, encoding: str, bom: bytes) -> None:
    """Windows PowerShell's Out-File writes UTF-16 with a BOM, `-Encoding UTF8` a UTF-8 BOM."""
    path = tmp_path / "export.json"
    path.write_bytes(bom + HEALTHY.read_text().encode(encoding))
    assert len(load_export(path).servers) == 7


def _broken(change: Any) -> dict[str, Any]:
    doc = healthy()
    change(doc)
    return doc


BAD = [
    ("format", lambda d: d.update(format="castui-exchange/2"),
     "format: unknown format 'castui-exchange/2' (castui reads castui-exchange/1)"),
    ("no-format", lambda d: d.pop("format"), "format: missing (castui reads castui-exchange/1)"),
    ("servers-missing", lambda d: d.pop("servers"), "servers: missing (write [] when"),
    ("servers-text", lambda d: d.update(servers="CAS1"),
     "servers: expected a list of objects, got string 'CAS1'"),
    ("site-null", lambda d: d["servers"][2].update(site=None), "servers[2].site: must not be null"),
    ("version", lambda d: d["servers"][0].update(version="Exchange"),
     "servers[0].version: 'Exchange' is not a version (e.g. 14.3 or 15.1)"),
    ("kind", lambda d: d["virtual_directories"][1].update(kind="rpc"),
     "virtual_directories[1].kind: unknown kind 'rpc' (one of owa, ecp, ews, oab, eas, mapi, "
     "autodiscover)"),
    ("url", lambda d: d["virtual_directories"][0].update(internal_url="mail.corp.local/owa"),
     "virtual_directories[0].internal_url: 'mail.corp.local/owa' is not a URL with a host"),
    ("members", lambda d: d["arrays"][0].update(members=["CAS1", 7]),
     "arrays[0].members[1]: expected a string, got number 7"),
    ("fqdn", lambda d: d["arrays"][0].update(fqdn="outlook site a"),
     "arrays[0].fqdn: 'outlook site a' is not a DNS name"),
    ("time", lambda d: d["certificates"][0].update(not_after="May 2027"),
     "certificates[0].not_after: 'May 2027' is not an ISO 8601 time"),
    ("collected", lambda d: d.pop("collected"), "collected: missing"),
    ("row", lambda d: d["databases"].append("DB09"),
     "databases[3]: expected an object, got string 'DB09'"),
    ("top", lambda d: d.clear(), "format: missing"),
]


@pytest.mark.parametrize("change,line", [(c, line) for _, c, line in BAD],
                         ids=[name for name, _, _ in BAD])
def test_bad_input_is_one_line_naming_the_field(change: Any, line: str) -> None:
    with pytest.raises(ExportError) as caught:
        parse_export(json.dumps(_broken(change)), "export.json")
    message = str(caught.value)
    assert message.startswith(f"export.json: {line}")
    assert "\n" not in message


def test_not_json_and_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"^export.json: line 2: not JSON"):
        parse_export('{"format":\n oops}', "export.json")
    with pytest.raises(ExportError, match=r"^export.json: top level: expected a JSON object, "
                                          r"got a list$"):
        parse_export("[]", "export.json")
    with pytest.raises(ExportError, match=r"file not found$"):
        load_export(tmp_path / "absent.json")
    with pytest.raises(ExportError, match=r"not valid UTF-8 text$"):
        parse_export(b'{"format": "\xff"}', "export.json")


def test_the_command_refuses_bad_input_with_exit_3(tmp_path: Path) -> None:
    """Exit 3 (UNKNOWN, as `check`) and one line on stderr, never a traceback."""
    bad = tmp_path / "export.json"
    bad.write_text(json.dumps(_broken(lambda d: d.update(format="exchange-dump"))))
    done = subprocess.run([sys.executable, "-m", "castui", "audit", "--config", str(CONFIG),
                           "--exchange", str(bad), "--no-live"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr == (f"castui: {bad}: format: unknown format 'exchange-dump' "
                           "(castui reads castui-exchange/1)\n")
