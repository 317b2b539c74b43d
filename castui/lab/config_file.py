"""The castui config that describes a lab estate, so `castui check`, `watch` and the console
run against the lab unchanged, and where the lab's CA goes beside it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from castui.config import Ports
from castui.lab.layout import LabTiming
from castui.lab.site import LabSite


def ca_path_for(config_path: Path) -> Path:
    """Where the lab CA goes for a config at `config_path`: `lab.toml` -> `lab.ca.pem`."""
    return config_path.with_name(config_path.stem + ".ca.pem")


def config_text(sites: Iterable[LabSite], *, timing: LabTiming, ports: Ports, profile: str,
                dns: str, ca_file: str) -> str:
    """The castui TOML for `sites`, checked at `timing`, resolved by the lab DNS at `dns`."""
    t = timing
    lines = [
        "# castui configuration for the castui lab estate (written by castui lab).",
        "[defaults]",
        f"interval = {t.interval!r}",
        f"timeout = {t.timeout!r}",
        f"rise = {t.rise}",
        f"fall = {t.fall}",
        f"ca_file = {_toml_string(ca_file)}",
    ]
    for site in sites:
        lines += [
            "", "[[sites]]",
            f"name = {_toml_string(site.name)}",
            f"array_fqdn = {_toml_string(site.array_fqdn)}",
            f"vip = {_toml_string(site.vip)}",
            f"dns_servers = [{_toml_string(dns)}]",
            f"profile = {_toml_string(profile)}",
            f"ports = {{ epm = {ports.epm}, https = {ports.https}, http = {ports.http}, "
            f"mapi = {ports.mapi}, ab = {ports.ab} }}",
        ]
        for node in site.nodes.values():
            lines += ["", "[[sites.nodes]]",
                      f"name = {_toml_string(node.name)}",
                      f"address = {_toml_string(node.address)}",
                      f"fqdn = {_toml_string(node.fqdn or '')}"]
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
