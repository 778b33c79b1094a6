"""The dashboard's top two lines: which run and its state, then its progress, rate, ETA and elapsed time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from sslterm.humanize import fmt_duration
from sslterm.store import Status
from sslterm.store.states import colour
from sslterm.store.summary import epoch_words
from sslterm.tui.poller import MetricSeries, is_active, rate_of

UNSAID_ENDINGS = {  # how a run ended where its status records no error to say it
    "stopped": "on request (R resumes)",
    "lost": "its worker is gone without recording an end (R resumes)",
    "prepared": "not started yet (R starts it)",
}


def state_style(state: str) -> str:
    """A run state's style in every view (its colour from the one table of states)."""
    return f"bold {colour(state)}"


def state_text(state: str) -> Text:
    """A run state, coloured the way every view shows it."""
    return Text(state, style=state_style(state))


def config_summary(config: dict[str, Any]) -> str:
    """``objective · modality/dataset · encoder`` from a run's resolved config (what is there)."""

    def get(table: str, key: str) -> str | None:
        body = config.get(table)
        value = body.get(key) if isinstance(body, dict) else None
        return str(value) if value is not None else None

    data = "/".join(x for x in (get("data", "modality"), get("data", "dataset")) if x)
    parts = [get("objective", "name"), data, get("model", "encoder")]
    return " · ".join(p for p in parts if p)


class RunHeader(Widget):
    """One line: run id, coloured state, the error of a failed run, a warning, device and what is trained."""

    state: reactive[str] = reactive("unknown")
    error: reactive[str | None] = reactive(None)  # the status's error, shown once the run has ended
    device: reactive[str | None] = reactive(None)
    problem: reactive[str | None] = reactive(None)  # the status file could not be read
    warning: reactive[str | None] = reactive(None)  # the status's warning: not a failure, but likely unintended
    summary: reactive[str] = reactive("")

    def __init__(self, run_id: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.run_id = run_id

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.run_id, style="bold")
        text.append("  ● ", style=state_style(self.state))
        text.append_text(state_text(self.state))
        if self.problem:
            text.append(f"  {self.problem}", style="red")
        reason = self.error or UNSAID_ENDINGS.get(self.state)
        if reason and not is_active(self.state):
            text.append(f"  {reason}", style="red" if self.error else "dim")
        if self.warning:
            text.append(f"  ⚠ {self.warning}", style="yellow")
        if self.device:
            text.append(f"  {self.device}", style="cyan")
        if self.summary:
            text.append(f"  {self.summary}", style="dim")
        return text


@dataclass(frozen=True)
class ProgressInfo:
    """What the progress line shows, rounded to what it displays so that equal means unchanged."""

    step: int
    total: int
    rate: float | None  # steps per second
    epoch: str | None  # ``3/10`` or ``0.42`` (:func:`sslterm.store.summary.epoch_words`), None while unknown
    eta: int | None  # seconds
    elapsed: int | None  # seconds


def progress_info(status: Status | None, state: str, series: MetricSeries, now: float) -> ProgressInfo:
    """The progress of a run from its status and the (step, t) of its recent metrics."""
    last_step = series.last.get("step") if series.last else None
    step = max(status.step if status else 0, last_step if isinstance(last_step, int) else 0)
    total = status.total_steps if status else 0
    rate = rate_of(series.timing)
    active = is_active(state)
    eta = int((total - step) / rate) if active and rate and total > step else None
    elapsed: float | None = None
    if status is not None and status.started_at is not None:
        last_time = series.last.get("time") if series.last else None
        end = now if active else status.ended_at or (last_time if isinstance(last_time, float) else now)
        elapsed = status.trained_s + end - status.started_at      # training time: not the time it sat stopped
    elif series.timing:
        elapsed = series.timing[-1][1]
    rounded = float(f"{rate:.3g}") if rate else None
    epoch = epoch_words(step, status.epochs, status.steps_per_epoch) if status else None
    return ProgressInfo(step, total, rounded, epoch, eta, int(elapsed) if elapsed is not None else None)


class RunProgress(Widget):
    """One line: ``epoch 3/10 · step 1,200/5,000`` with a bar, then rate, ETA and elapsed time."""

    info: reactive[ProgressInfo | None] = reactive(None)

    def render(self) -> Text:
        info = self.info
        if info is None:
            return Text("reading the run…", style="dim")
        left = Text(no_wrap=True)
        if info.epoch is not None:
            left.append("epoch ", style="dim").append(info.epoch, style="bold").append(" · ", style="dim")
        left.append("step ", style="dim")
        left.append(f"{info.step:,}", style="bold")
        left.append(f"/{info.total:,}" if info.total else "", style="")
        right = Text(no_wrap=True)
        if info.rate is not None:
            right.append(f"  {info.rate:g} it/s", style="")
        if info.eta is not None:
            right.append("  ETA ", style="dim").append(fmt_duration(info.eta))
        right.append("  elapsed ", style="dim").append(fmt_duration(info.elapsed))
        frac = min(1.0, info.step / info.total) if info.total else 0.0
        pct = f" {frac * 100:3.0f}%" if info.total else ""
        room = self.size.width - left.cell_len - right.cell_len - len(pct) - 1
        if info.total and room >= 8:
            left.append(" ")
            done = int(frac * room)
            left.append("━" * done, style="green" if frac < 1 else "blue")
            left.append("─" * (room - done), style="grey50")  # a thinner line: told apart without colour
            left.append(pct)
        elif info.total:
            left.append(pct)
        return left + right
