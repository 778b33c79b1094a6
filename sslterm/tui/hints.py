"""Notes the launcher shows under fields whose values are allowed but likely not what was meant (no UI)."""

from __future__ import annotations

from sslterm.config import Experiment


def schedule_notes(exp: Experiment | None) -> dict[str, list[str]]:
    """Field key → notes: a run shorter than its evaluation or snapshot interval measures only at its end.

    The training loop evaluates every ``eval.every`` steps and at the last one, and snapshots the
    similarity matrix at step 0, every ``train.snapshot_every`` steps and at the last one.
    """
    notes: dict[str, list[str]] = {}
    if exp is None:
        return notes
    steps, every, snapshot_every = exp.train.steps, exp.eval.every, exp.train.snapshot_every
    if 0 < steps <= every:
        note = f"note: eval.every {every} ≥ {steps} steps: representation measured at the end only"
        for key in ("train.steps", "eval.every"):
            notes.setdefault(key, []).append(note)
    if 0 < steps <= snapshot_every:
        note = f"note: snapshot_every {snapshot_every} ≥ {steps} steps: similarity at steps 0 and {steps} only"
        for key in ("train.steps", "train.snapshot_every"):
            notes.setdefault(key, []).append(note)
    return notes
