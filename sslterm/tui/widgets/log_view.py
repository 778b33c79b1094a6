"""The last lines of the worker's log, as many as fit, cut at the widget's width."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class LogView(Widget):
    """The tail of ``worker.log``; redrawn only when the lines change."""

    lines: reactive[tuple[str, ...]] = reactive(())

    def render(self) -> Text:
        height = max(1, self.content_size.height)
        if not self.lines:
            return Text("worker.log: nothing yet", style="dim")
        shown = [line.expandtabs(4) for line in self.lines[-height:]]
        return Text.from_ansi("\n".join(shown), no_wrap=True, overflow="ellipsis")
