"""Failures every layer may need to name: the history's and the balancer's.

Both carry one line fit to show as is; they live here so that the engine can catch a history
failure and the console a balancer refusal without importing either implementation.
"""


class HistoryError(Exception):
    """The history database cannot be used; the message is one line naming the file and why."""


class LbError(Exception):
    """The balancer could not be read or did not accept a command; the message is one line."""
