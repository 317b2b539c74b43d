"""tools/Export-CastuiExchange.ps1, read as text (PowerShell cannot run here): it only reads
from Exchange, and it writes the keys the castui-exchange/1 reader reads."""

from __future__ import annotations

import re
from pathlib import Path

from castui.engine.audit.export import VDIR_KINDS

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "Export-CastuiExchange.ps1"
#: Commands that are not Get-* and change nothing outside the script.
HARMLESS = {"New-Object", "Set-StrictMode", "Write-Verbose", "Write-Warning", "ForEach-Object"}


def code() -> str:
    """The script without its help block and comments."""
    text = re.sub(r"<#.*?#>", "", SCRIPT.read_text(), flags=re.S)
    return "\n".join(line.split(" #", 1)[0] for line in text.splitlines()
                     if not line.lstrip().startswith("#"))


def test_the_script_only_reads_exchange() -> None:
    body = code()
    own = set(re.findall(r"^function ([A-Za-z]+-[A-Za-z]+)", body, flags=re.M))
    commands = set(re.findall(r"\b([A-Z][A-Za-z]+-[A-Z][A-Za-z0-9]+)\b", body))
    assert {"Get-ExchangeServer", "Get-MailboxDatabase", "Get-ExchangeCertificate"} <= commands
    writers = {c for c in commands - own - HARMLESS if not c.startswith("Get-")}
    assert writers == set(), f"the export must only read: {sorted(writers)}"
    # every cmdlet run by name (& $cmdlet) comes from Get-* strings
    assert all(name.startswith("Get-") for name in re.findall(r"'([A-Z]\w+-\w+)'", body))


def test_the_script_writes_the_keys_the_reader_reads() -> None:
    body = code()
    keys = ["format", "collected", "servers", "arrays", "databases", "virtual_directories",
            "outlook_anywhere", "certificates", "name", "fqdn", "site", "version", "roles",
            "members", "server", "rpc_client_access_server", "kind", "internal_url",
            "external_url", "internal_hostname", "external_hostname", "subject", "names",
            "not_after", "services", *VDIR_KINDS]
    missing = [key for key in keys if not re.search(rf"(?<![\w$-]){key}(?![\w-])", body)]
    assert missing == []
    assert "'castui-exchange/1'" in body
