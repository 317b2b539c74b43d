"""castui's built-in lab: a simulated Exchange estate served on loopback addresses."""

from castui.lab.certs import LabCA
from castui.lab.node import LabNode

__all__ = ["LabCA", "LabNode"]
