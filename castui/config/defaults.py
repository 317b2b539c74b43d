"""`[defaults]`: timing, TLS, history and alert settings shared by every target."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from castui.config.files import ca_bundle
from castui.config.model import Defaults
from castui.config.names import check_name
from castui.config.ranges import integer, number
from castui.config.reader import Reader, boolean

_COUNTS = ("rise", "fall", "max_concurrency", "retention_days", "cert_warn_days",
           "dns_ttl_max", "skew_min_connections", "vip_samples", "flap_changes")
_AMOUNTS = ("interval", "timeout", "lb_grace", "skew_max", "flap_window", "flap_quiet",
            "slow_ms")


def read_defaults(reader: Reader, raw: dict[str, object], base_dir: Path) -> Defaults:
    """`[defaults]` over the built-in defaults; problems in the order of Defaults' fields."""
    path = "defaults"
    converters: dict[str, Callable[[object], object]] = {
        **{key: integer(f"{path}.{key}") for key in _COUNTS},
        **{key: number(f"{path}.{key}") for key in _AMOUNTS},
        "ca_file": ca_bundle(base_dir), "tls_verify": boolean, "lb_admin": boolean}
    keys = [field.name for field in dataclasses.fields(Defaults)]
    reader.check_keys(raw, path, keys)
    found: dict[str, Any] = {key: _read_pool_checks(reader, raw, path) if key == "pool_checks"
                             else reader.get(raw, path, key, converters[key]) for key in keys}
    defaults = dataclasses.replace(Defaults(), **{k: v for k, v in found.items()
                                                  if v is not None})
    interval, timeout = found["interval"], found["timeout"]
    both_valid = (interval is not None or "interval" not in raw) and (
        timeout is not None or "timeout" not in raw)
    if both_valid and defaults.timeout >= defaults.interval:
        if "timeout" in raw:
            reader.report(f"{path}.timeout", f"must be less than interval "
                          f"({defaults.interval:g}), got {defaults.timeout:g}")
        else:
            reader.report(f"{path}.interval", f"must be greater than timeout (default "
                          f"{defaults.timeout:g}); set a smaller defaults.timeout too")
    return defaults


def _read_pool_checks(reader: Reader, raw: dict[str, object], path: str) -> tuple[str, ...] | None:
    checks = reader.items(raw, path, "pool_checks", check_name)
    if checks is None:
        return None
    if raw["pool_checks"] == []:
        reader.report(f"{path}.pool_checks", "must name at least one check")
        return None
    return tuple(dict.fromkeys(checks))
