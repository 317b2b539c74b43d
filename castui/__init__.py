"""castui: watch Exchange CAS arrays, their VIPs and their DNS live, from a terminal."""

__version__ = "0.1.0"
