"""Messages the app's screens and workers post, as dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message
from textual.notifications import SeverityLevel

from sslterm.compare import Comparison
from sslterm.compare_groups import Grouped
from sslterm.store import Run
from sslterm.sweep.analysis import Sensitivity
from sslterm.tui.poller import FeedUpdate
from sslterm.tui.scanner import RunRow, SweepGroup
from sslterm.tui.sysinfo import SystemSample


@dataclass
class OpenRun(Message):
    """The user picked a run: show its dashboard."""

    run: Run


@dataclass
class OpenLauncher(Message):
    """The user asked to configure a new run."""


@dataclass
class CloseDashboard(Message):
    """The user left a dashboard."""

    run: Run


@dataclass
class CompareRuns(Message):
    """The user asked to compare these runs side by side."""

    runs: list[Run]


@dataclass
class FeedPolled(Message):
    """A poll of a run directory finished (posted from a worker thread)."""

    update: FeedUpdate


@dataclass
class RunsScanned(Message):
    """A scan of the runs root finished (posted from a worker thread)."""

    rows: list[RunRow]
    sweeps: list[SweepGroup] = field(default_factory=list)


@dataclass
class ComparisonRead(Message):
    """The runs to compare were read (posted from a worker thread), grouped by ``group_by`` when it is given."""

    comparison: Comparison
    group_by: list[str] = field(default_factory=list)
    grouped: Grouped | None = None


@dataclass
class SensitivityRead(Message):
    """A sweep's runs were read for the sensitivity view: each metric's sensitivity to each swept key."""

    by_metric: dict[str, list[Sensitivity]]
    runs: int


@dataclass
class SystemSampled(Message):
    """The worker process's CPU, memory and GPU were sampled (posted from a worker thread)."""

    pid: int
    sample: SystemSample


@dataclass
class RunChanged(Message):
    """A run was deleted, resumed or annotated from a worker thread: list the runs again."""

    run_id: str
    message: str
    severity: SeverityLevel = "information"
