"""Test-only helpers: loopback addresses and ports, and real external servers (not shipped)."""
