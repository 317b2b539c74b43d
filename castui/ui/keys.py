"""Every key of the console, in one list: the app binds these and the help screen lists them,
so the help can never drift from what the keys do."""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding, BindingType

SITE_KEYS = "123456789"

BINDINGS: list[BindingType] = [
    Binding("question_mark", "help", "Help", key_display="?", tooltip="show every key"),
    Binding("f1", "help", "Help", show=False, tooltip="show every key"),
    Binding("q", "quit", "Quit", tooltip="quit castui"),
    Binding("ctrl+c", "quit", "Quit", show=False, priority=True, tooltip="quit castui"),
    Binding("ctrl+q", "quit", "Quit", show=False, priority=True, tooltip="quit castui"),
    Binding("f10", "quit", "Quit", show=False, priority=True, tooltip="quit castui"),
    Binding("colon", "command_palette", "Commands", show=False, key_display=":",
            tooltip="the command palette: every action and view by name"),
    Binding("ctrl+p", "command_palette", "Commands", show=False, priority=True,
            tooltip="the command palette: every action and view by name"),
    Binding("ctrl+l", "repaint", "Repaint", show=False, priority=True,
            tooltip="repaint the whole screen (after a wall message or line noise)"),
    Binding("e", "events", "Events", tooltip="the events full screen (/ filters, "
                                             "escape goes back)"),
    Binding("exclamation_mark", "alerts", "Alerts", key_display="!",
            tooltip="the alerts full screen (a acknowledges, / filters, escape goes back)"),
    Binding("escape", "clear_filter", "Clear filter", show=False,
            tooltip="clear the node filter"),
    Binding("tab", "next_site", "Next site", show=False, priority=True,
            tooltip="next site"),
    Binding("shift+tab", "previous_site", "Previous site", show=False, priority=True,
            tooltip="previous site"),
    *(Binding(key, f"site({number})", f"Site {number}", show=False,
              tooltip="switch to site 1-9 (in the order of the config)")
      for number, key in enumerate(SITE_KEYS, 1)),
    Binding("slash", "filter", "Filter", key_display="/",
            tooltip="filter nodes by name (enter keeps the filter, escape clears it)"),
    Binding("P", "problems", "Problems", key_display="P",
            tooltip="show only the nodes that are not plainly UP (sites with nothing wrong "
                    "fold to one line); P again shows everything"),
    Binding("t", "focus_timeline", "Timeline", tooltip="focus the timeline (↑/↓ scroll it)"),
    Binding("plus", "zoom_in", "Zoom in", show=False, key_display="+",
            tooltip="zoom the timeline in: 24 h → 2 h → 30 min → 5 min"),
    Binding("minus", "zoom_out", "Zoom out", show=False, key_display="-",
            tooltip="zoom the timeline out: 5 min → 30 min → 2 h → 24 h"),
    Binding("enter", "details", "Details", show=False,
            tooltip="show every check of the selected node (↑/↓ select, a click too)"),
    Binding("d", "lb_state('drain')", "Drain", show=False,
            tooltip="drain the selected node on the site's balancer: no new clients "
                    "(needs lb_admin = true; asks first)"),
    Binding("D", "lb_state('ready')", "Ready", show=False, key_display="D",
            tooltip="set the selected node ready on the site's balancer again "
                    "(needs lb_admin = true; asks first)"),
    Binding("a", "ack", "Ack", tooltip="acknowledge the selected alert (the newest "
                                       "unacknowledged one unless you picked another)"),
    Binding("A", "ack_all", "Ack all", show=False, key_display="A",
            tooltip="acknowledge every alert"),
    Binding("m", "drill", "Drill", tooltip="start a named failover drill (asks its name); "
                                           "m again ends it (asks first)"),
    Binding("M", "maintenance", "Maint", key_display="M",
            tooltip="mark the selected node or its whole site in maintenance for a while "
                    "(its drops are expected: no alert), or clear the mark"),
    Binding("p", "freeze", "Freeze", tooltip="freeze the display (polling continues); "
                                             "p again to resume"),
    Binding("r", "reprobe", "Re-probe", show=False, tooltip="probe every target now"),
    Binding("s", "save_svg", "Screenshot", show=False,
            tooltip="save an SVG screenshot of the screen"),
]


#: Moving in a table (node tables, the alert list, the full-screen views), as in less and vi.
TABLE_MOVES: list[BindingType] = [
    Binding("j", "cursor_down", "Down", show=False, tooltip="next row (↓ too)"),
    Binding("k", "cursor_up", "Up", show=False, tooltip="previous row (↑ too)"),
    Binding("g", "scroll_top", "Top", show=False, tooltip="first row (home too)"),
    Binding("G", "scroll_bottom", "Bottom", show=False, key_display="G",
            tooltip="last row (end too)"),
]
#: The same in the lists that scroll without a cursor (the event log, the timeline).
SCROLL_MOVES: list[BindingType] = [
    Binding("j", "scroll_down", "Down", show=False, tooltip="next row (↓ too)"),
    Binding("k", "scroll_up", "Up", show=False, tooltip="previous row (↑ too)"),
    Binding("g", "scroll_home", "Top", show=False, tooltip="first row (home too)"),
    Binding("G", "scroll_end", "Bottom", show=False, key_display="G",
            tooltip="last row (end too)"),
]


def key_label(binding: Binding) -> str:
    """How a key is written in the help: `?`, `ctrl+q`, `shift+tab`."""
    return binding.key_display or binding.key


def help_rows(bindings: Sequence[BindingType]) -> list[tuple[str, str]]:
    """(keys, what they do) per distinct action text; the site digits collapse to `1-9`."""
    rows: dict[str, list[str]] = {}
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue
        what = binding.tooltip or binding.description
        rows.setdefault(what, []).append(key_label(binding))
    out = []
    for what, labels in rows.items():
        if len(labels) > 2 and all(label.isdigit() for label in labels):
            keys = f"{labels[0]}-{labels[-1]}"
        else:
            keys = " / ".join(labels)
        out.append((keys, what))
    return out


def palette_commands(bindings: Sequence[BindingType]) -> list[tuple[str, str, str]]:
    """(title, what it does, action) for the command palette: one per action bound to a key,
    titled by its description and named with its key, so the palette teaches the keys."""
    seen: dict[str, tuple[str, str, str]] = {}
    for binding in bindings:
        if not isinstance(binding, Binding) or binding.action == "command_palette":
            continue
        if binding.action in seen:
            continue
        what = binding.tooltip or binding.description
        seen[binding.action] = (f"{binding.description}  ({key_label(binding)})", what,
                                binding.action)
    return list(seen.values())
