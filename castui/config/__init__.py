"""Configuration: TOML in, typed and validated objects out."""

from castui.config.loader import load_config, parse_config
from castui.config.model import (
    PORT_NAMES,
    PROFILES,
    Config,
    Defaults,
    DnsServer,
    Node,
    Notifier,
    Ports,
    Profile,
    Site,
)
from castui.config.reader import ConfigError

__all__ = [
    "PORT_NAMES",
    "PROFILES",
    "Config",
    "ConfigError",
    "Defaults",
    "DnsServer",
    "Node",
    "Notifier",
    "Ports",
    "Profile",
    "Site",
    "load_config",
    "parse_config",
]
