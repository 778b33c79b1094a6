"""Messages the app's screens and workers post, as dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from sslterm.store import Run
from sslterm.tui.poller import FeedUpdate, RunRow


@dataclass
class OpenRun(Message):
    """The user picked a run: show its dashboard."""

    run: Run


@dataclass
class CloseDashboard(Message):
    """The user left a dashboard."""

    run: Run


@dataclass
class FeedPolled(Message):
    """A poll of a run directory finished (posted from a worker thread)."""

    update: FeedUpdate


@dataclass
class RunsScanned(Message):
    """A scan of the runs root finished (posted from a worker thread)."""

    rows: list[RunRow]
