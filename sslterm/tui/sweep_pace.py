"""The launcher's sweep line: how many runs, and about how long on this machine (recent runs read in a thread)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message
from textual.widget import Widget

from sslterm.compare import flatten
from sslterm.humanize import fmt_duration
from sslterm.sweep.estimate import SAME, Pace, recent_pace, rounded, sweep_seconds
from sslterm.sweep.spec import SweepError, expand

if TYPE_CHECKING:
    from sslterm.config import Experiment
    from sslterm.tui.draft import Draft


class SweepPace(Widget):
    """Not drawn: reads the pace of recent runs like the experiment, and the slots a sweep would get, in a
    thread, and says so with :class:`SweepPace.Read`; :meth:`summary` uses what it has read."""

    DEFAULT_CSS = "SweepPace { display: none; }"

    @dataclass
    class Read(Message):
        """The pace for one kind of experiment was read."""

        key: tuple[Any, ...]

    def __init__(self, runs_root: Path) -> None:
        super().__init__()
        self.runs_root = runs_root
        self.paces: dict[tuple[Any, ...], Pace | None] = {}
        self.slots: int | None = None  # one per visible GPU, one on a CPU machine (as the scheduler's default)
        self._asked: set[tuple[Any, ...]] = set()

    @staticmethod
    def key_of(exp: Experiment) -> tuple[Any, ...]:
        flat = flatten(exp.to_dict())
        return tuple(flat.get(k) for k in SAME)

    def want(self, exp: Experiment | None) -> None:
        """Read the pace for ``exp``'s kind of run, once (a Read follows)."""
        if exp is None or not self.is_mounted:
            return
        key = self.key_of(exp)
        if key not in self._asked:
            self._asked.add(key)
            self._read(key, exp.to_dict())

    @work(thread=True, group="sweep-pace", exit_on_error=False, description="read the pace of recent runs")
    def _read(self, key: tuple[Any, ...], experiment: dict[str, Any]) -> None:
        from sslterm.sweep.scheduler import gpu_slots, slots_for

        if self.slots is None:
            self.slots = len(slots_for(0, gpu_slots()))
        self.paces[key] = recent_pace(self.runs_root, experiment)
        self.post_message(self.Read(key))

    def summary(self, draft: Draft) -> tuple[str, str | None]:
        """``9 runs (3 values × 3 seeds)`` and ``about 12m on this machine at 1 parallel`` (or why there is no
        time; None when there is nothing to time)."""
        exp = draft.experiment
        try:
            spec = draft.sweep.spec()
        except SweepError as e:
            return str(e), None
        count = draft.sweep.count_text(spec)
        if exp is None:
            return count, None
        key = self.key_of(exp)
        if key not in self.paces or self.slots is None:
            return count, "estimating the time from recent runs…"
        pace = self.paces[key]
        if pace is None:
            return count, "no recent run to estimate from"
        steps = [int(t.settings.get("train.steps", exp.train.steps)) for t in expand(spec)]
        slots = draft.sweep.parallel or self.slots
        total = sweep_seconds([pace.trial_seconds(s) for s in steps], slots)
        return count, f"about {fmt_duration(rounded(total), short=True)} on this machine at {slots} parallel"
