"""How long a sweep will take on this machine, from recent finished runs of the same experiment (torch-free).

A run is "of the same experiment" when the keys that decide its speed match (:data:`SAME`); its pace is its
training seconds per step and its start-up seconds (process start to the first step). A trial of ``steps``
steps then takes start-up + steps × seconds per step (the medians of the last :data:`RECENT` such runs), and
a sweep its trials in turn on each of its slots.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslterm.compare import flatten
from sslterm.store import list_runs
from sslterm.store.states import State

SAME = ("data.modality", "data.dataset", "objective.name", "model.encoder", "train.batch_size", "train.device")
RECENT = 5       # finished runs the pace is taken from, newest first
LOOK_BACK = 200  # run directories looked at, newest first (a runs root of thousands stays quick)


@dataclass(frozen=True)
class Pace:
    """Seconds per training step and start-up seconds of a run, from ``runs`` recent finished runs."""

    seconds_per_step: float
    startup_s: float
    runs: int

    def trial_seconds(self, steps: int) -> float:
        return self.startup_s + steps * self.seconds_per_step


def recent_pace(root: Path, experiment: dict[str, Any]) -> Pace | None:
    """The pace of the newest finished runs under ``root`` whose configuration matches ``experiment`` (a resolved
    configuration as ``Experiment.to_dict`` gives it) on :data:`SAME`; None when there is none."""
    want = flatten(experiment)
    per_step: list[float] = []
    startup: list[float] = []
    for run in reversed(list_runs(root)[-LOOK_BACK:]):
        try:
            status = run.status()
        except (OSError, ValueError):
            continue
        if status.state != State.FINISHED or not status.step or status.started_at is None or status.ended_at is None:
            continue
        have = flatten(run.config())
        if any(have.get(k) != want.get(k) for k in SAME):
            continue
        trained = status.trained_s + status.ended_at - status.started_at
        if trained <= 0:
            continue
        per_step.append(trained / status.step)
        startup.append(max(0.0, status.started_at - status.created_at) if not status.resumes else 0.0)
        if len(per_step) == RECENT:
            break
    if not per_step:
        return None
    return Pace(statistics.median(per_step), statistics.median(startup), len(per_step))


def sweep_seconds(trial_seconds: list[float], slots: int) -> float:
    """Wall-clock seconds for trials of these lengths run in queue order on ``slots`` slots (each trial takes the
    slot that frees first)."""
    ends = [0.0] * max(1, slots)
    for s in trial_seconds:
        i = min(range(len(ends)), key=ends.__getitem__)
        ends[i] += s
    return max(ends) if trial_seconds else 0.0


def rounded(seconds: float) -> float:
    """A duration rounded as an estimate reads (to the minute above 10 minutes, else to 10 s)."""
    step = 60.0 if seconds >= 600 else 10.0
    return max(step, math.ceil(seconds / step) * step)
