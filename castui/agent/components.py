"""Exchange's server component states, read where Exchange keeps the local ones: the registry.

Exchange 2013 and later write each component's local state under
`HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\ServerComponentStates\\<Component>`, one REG_SZ
value per requester (HealthApi, Maintenance, Sidelined, Functional, Deployment...), each
`<version>:<state>:<ticks>`: an encoding version (1), the state (a number or a name of
Exchange's ServiceState: 0 Inactive, 1 Active, 2 Draining) and when it was set, in .NET ticks
(100 ns since 0001-01-01 UTC). A component is Inactive when any requester says Inactive,
Draining when any says Draining, else Active (castui.model.exchange.effective_state).

The registry is read through `RegistryReader`, so the parsing is the same for Windows' winreg
and for `JsonRegistry`, the documented test seam that stands in for it where there is none.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, Protocol

from castui.model.exchange import COMPONENT_STATES, ComponentState, effective_state
from castui.model.text import clean

#: The key under HKEY_LOCAL_MACHINE holding one subkey per component.
COMPONENT_STATES_KEY = r"SOFTWARE\Microsoft\ExchangeServer\v15\ServerComponentStates"
#: Exchange's ServiceState numbers, as the values store them.
_STATE_NUMBERS: dict[str, ComponentState] = {"0": "Inactive", "1": "Active", "2": "Draining"}
#: Exchange refuses component and requester names longer than this.
NAME_MAX = 32
#: Bounds on what one reading reports, whatever the registry holds.
MAX_COMPONENTS = 64
MAX_REQUESTERS = 16
#: The JSON stand-in's largest file.
JSON_MAX_BYTES = 64 * 1024
_TICKS_AT_EPOCH = 621355968000000000


class RegistryReader(Protocol):
    """What the agent needs of a registry: a key's subkeys and its string values."""

    def subkeys(self, path: str) -> list[str]: ...
    def strings(self, path: str) -> dict[str, str]: ...


class WinRegistry:
    """HKEY_LOCAL_MACHINE through Python's winreg (Windows only). A missing key reads empty."""

    def __init__(self) -> None:
        import winreg

        self._winreg: Any = winreg

    def subkeys(self, path: str) -> list[str]:
        reg = self._winreg
        try:
            with reg.OpenKey(reg.HKEY_LOCAL_MACHINE, path) as key:
                count = reg.QueryInfoKey(key)[0]
                return [reg.EnumKey(key, i) for i in range(min(count, MAX_COMPONENTS))]
        except FileNotFoundError:
            return []

    def strings(self, path: str) -> dict[str, str]:
        reg = self._winreg
        found: dict[str, str] = {}
        try:
            with reg.OpenKey(reg.HKEY_LOCAL_MACHINE, path) as key:
                for i in range(min(reg.QueryInfoKey(key)[1], MAX_REQUESTERS)):
                    name, value, kind = reg.EnumValue(key, i)
                    if kind == reg.REG_SZ:
                        found[str(name)] = str(value)
        except FileNotFoundError:
            pass
        return found


class JsonRegistry:
    """A stand-in for the registry where there is none (tests, the lab): a JSON file of
    `{"<Component>": {"<Requester>": "<version>:<state>:<ticks>"}}`, re-read at every reading.
    Used only when `castui agent` is given CASTUI_AGENT_COMPONENTS_FILE (a test seam)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        with self.path.open("rb") as handle:
            raw = handle.read(JSON_MAX_BYTES + 1)
        if len(raw) > JSON_MAX_BYTES:
            raise ValueError(f"{self.path} is larger than {JSON_MAX_BYTES} bytes")
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError(f"{self.path} is not a JSON object")
        return doc

    def subkeys(self, path: str) -> list[str]:
        return [str(name) for name in self._load()] if path == COMPONENT_STATES_KEY else []

    def strings(self, path: str) -> dict[str, str]:
        component = path.removeprefix(COMPONENT_STATES_KEY + "\\")
        values = self._load().get(component)
        if not isinstance(values, dict):
            return {}
        return {str(k): v for k, v in values.items() if isinstance(v, str)}


def platform_registry() -> RegistryReader | None:
    """The Windows registry on Windows; None elsewhere (no component states to report)."""
    return WinRegistry() if sys.platform == "win32" else None


def parse_value(value: str) -> tuple[ComponentState, str | None] | None:
    """(state, when it was set as ISO 8601 UTC) from `1:0:638...`; None if it is not one
    (Exchange skips such values too)."""
    parts = value.split(":")
    if len(parts) < 3 or not parts[0].isdigit() or int(parts[0]) < 1:
        return None
    word = parts[1].strip()
    state = _STATE_NUMBERS.get(word) or next(
        (s for s in COMPONENT_STATES if s.lower() == word.lower()), None)
    if state is None or not parts[2].isdigit() or len(parts[2]) > 20:
        return None
    return state, _ticks_iso(int(parts[2]))


def _ticks_iso(ticks: int) -> str | None:
    try:
        at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            microseconds=(ticks - _TICKS_AT_EPOCH) // 10)
    except OverflowError:
        return None
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def read_components(registry: RegistryReader) -> dict[str, dict[str, Any]]:
    """{"ServerWideOffline": {"state": "Inactive", "requesters": {"Maintenance":
    {"state": "Inactive", "since": "2026-12-04T17:40:00Z"}}}, ...} for every component key."""
    out: dict[str, dict[str, Any]] = {}
    for component in registry.subkeys(COMPONENT_STATES_KEY)[:MAX_COMPONENTS]:
        if not component or len(component) > NAME_MAX:
            continue
        requesters: dict[str, dict[str, Any]] = {}
        path = f"{COMPONENT_STATES_KEY}\\{component}"
        for requester, value in list(registry.strings(path).items())[:MAX_REQUESTERS]:
            parsed = parse_value(value) if 0 < len(requester) <= NAME_MAX else None
            if parsed is not None:
                requesters[clean(requester, NAME_MAX)] = {"state": parsed[0], "since": parsed[1]}
        states = {name: entry["state"] for name, entry in requesters.items()}
        out[clean(component, NAME_MAX)] = {"state": effective_state(states),
                                           "requesters": requesters}
    return out

