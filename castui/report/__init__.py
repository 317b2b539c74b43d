"""`castui report`: a drill's measured outcome, as Markdown, JSON or HTML with a timeline picture.

`measure` turns events into figures (pure; their types are in `figures`), `collect` reads them
from the history, the `render_*` modules write the formats and `plot` draws the picture with
matplotlib (imported only when a picture is drawn).
"""

from castui.report.collect import ReportError, choose_window, collect
from castui.report.facts import Window
from castui.report.figures import (
    AlertEntry,
    DnsChange,
    FlapSpell,
    LoadStatus,
    NodeDrop,
    Outage,
    OutAtStart,
    Report,
    SiteFigures,
    VipFigures,
)
from castui.report.gaps import Gap
from castui.report.measure import measure

__all__ = ["AlertEntry", "DnsChange", "FlapSpell", "Gap", "LoadStatus", "NodeDrop", "OutAtStart",
           "Outage", "Report", "ReportError", "SiteFigures", "VipFigures", "Window",
           "choose_window", "collect", "measure"]
