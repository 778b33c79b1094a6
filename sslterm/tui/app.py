"""The sslterm terminal app: composes the runs browser, the dashboards and comparisons, and routes between them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.filter import LineFilter, Monochrome, NoColor
from textual.screen import Screen

from sslterm.store import Run, find_run
from sslterm.tui.key_order import KeysInOrder
from sslterm.tui.messages import CloseDashboard, CompareRuns, OpenLauncher, OpenRun
from sslterm.tui.screens.compare import CompareScreen
from sslterm.tui.screens.dashboard import DashboardScreen
from sslterm.tui.screens.runs import RunsScreen
from sslterm.tui.terminal import resolve_theme
from sslterm.tui.threads import DaemonThreads


class SSLTermApp(KeysInOrder):
    """Shows one run's dashboard, or the runs list from which dashboards open; keys are taken in the order typed."""

    CSS_PATH = "app.tcss"
    TITLE = "sslterm"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(self, runs_root: Path, run: Run | None = None, theme: str = "dark") -> None:
        super().__init__()
        self.runs_root = runs_root
        self.run_to_watch = run  # None: start on the runs list
        # mono, as NO_COLOR does: every colour drawn as its grey, and widgets draw shapes for colours
        self.no_color = self.no_color or theme == "mono"
        self._mono = Monochrome()

    def on_load(self) -> None:
        # thread workers on daemon threads: q ends the process even while a read hangs (see sslterm.tui.threads)
        asyncio.get_running_loop().set_default_executor(DaemonThreads())

    def get_line_filters(self) -> Sequence[LineFilter]:
        filters = super().get_line_filters()
        if self.no_color and not any(isinstance(f, (Monochrome, NoColor)) for f in filters):
            return [*filters, self._mono]  # Textual adds its own only for NO_COLOR
        return filters

    def get_default_screen(self) -> Screen[None]:
        if self.run_to_watch is not None:
            return DashboardScreen(self.run_to_watch, standalone=True)
        return RunsScreen(self.runs_root)

    def on_open_run(self, message: OpenRun) -> None:
        self.push_screen(DashboardScreen(message.run))

    def on_open_launcher(self, message: OpenLauncher) -> None:
        from sslterm.tui.screens.launcher import LauncherScreen  # on demand: the config core stays out of start-up

        self.push_screen(LauncherScreen(self.runs_root, Path.cwd() / "experiments"))

    def action_open_queue(self) -> None:
        from sslterm.tui.screens.queue import QueueScreen  # on demand, as the launcher

        self.push_screen(QueueScreen(self.runs_root))

    def on_compare_runs(self, message: CompareRuns) -> None:
        self.push_screen(CompareScreen(message.runs, self.runs_root))

    def on_close_dashboard(self, message: CloseDashboard) -> None:
        if isinstance(self.screen, DashboardScreen) and self.screen.standalone:
            self.exit()
        else:
            self.pop_screen()


def make_app(runs_root: Path, run_id: str | None = None, theme: str | None = None) -> SSLTermApp:
    """The app on the runs under ``runs_root``, opened on ``run_id``'s dashboard when given.

    ``run_id`` is an id, a unique id prefix or a run directory; RunNotFound says why it names no run.
    ``theme`` is dark or mono (None: from the environment, see :func:`resolve_theme`; ValueError if unknown).
    """
    run = find_run(runs_root, run_id) if run_id is not None else None
    return SSLTermApp(runs_root, run, resolve_theme(theme, os.environ))
