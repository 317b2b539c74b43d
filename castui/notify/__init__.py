"""Alert notifiers for people not watching the screen: the bell, a command hook, a webhook.

The engine hands every alert to a `Dispatcher`; delivery happens in the dispatcher's own tasks,
so a slow, failing or hanging notifier never delays a monitoring round.
"""

from castui.notify.dispatch import Dispatcher as Dispatcher

__all__ = ["Dispatcher"]
