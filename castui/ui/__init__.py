"""The castui console (Textual). Front-end only: the engine decides, this draws."""

from castui.ui.app import ConsoleApp
from castui.ui.options import ConsoleOptions
from castui.ui.run import run_console_async

__all__ = ["ConsoleApp", "ConsoleOptions", "run_console_async"]
