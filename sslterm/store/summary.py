"""One run in one record: its task, state, progress, training time, final metrics and evaluation (no torch).

The CLI's ``ls``/``show``, ``sslterm compare`` and the app's runs list all describe a run with
:class:`RunSummary`; the rules for what counts as a metric and how long a run has trained live here once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sslterm.store.runs import Run
from sslterm.store.states import is_active
from sslterm.store.status import Status, effective_state

NOT_METRICS = ("step", "t", "time")  # keys of a metrics record that are not metrics (``t`` is the time axis)


def finite(v: Any) -> float | None:
    """``v`` as a float if it is a finite number (not a bool), else None."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def last_seen(run_dir: Path) -> float | None:
    """When the run's worker was last known alive: its heartbeat, else its status record's last change."""
    for name in ("heartbeat", "status.json"):
        try:
            return (run_dir / name).stat().st_mtime
        except OSError:
            continue
    return None


def attempt_seconds(run_dir: Path, status: Status) -> float:
    """How long the last attempt recorded in ``status`` ran: to its recorded end, else to the last sign of life."""
    if status.started_at is None:
        return 0.0
    end = status.ended_at or last_seen(run_dir) or status.started_at
    return max(0.0, end - status.started_at)


def training_seconds(run_dir: Path, status: Status, state: str, now: float | None = None) -> float | None:
    """Seconds the run has trained, over every attempt: the time it sat stopped between them is not counted."""
    if status.started_at is None:
        return status.trained_s or None
    if is_active(state):
        return status.trained_s + max(0.0, (now if now is not None else time.time()) - status.started_at)
    return status.trained_s + attempt_seconds(run_dir, status)


def final_metrics(records: Iterable[dict[str, Any]]) -> dict[str, float]:
    """The last finite value of every metric in the records."""
    final: dict[str, float] = {}
    for rec in records:
        for k, v in rec.items():
            value = finite(v)
            if value is not None and k not in NOT_METRICS:
                final[k] = value
    return final


def flatten_evaluation(record: dict[str, Any] | None) -> dict[str, float]:
    """eval.json as ``eval.<name>`` → accuracy for every result carrying one (``eval.finetune.1%``, ...)."""
    out: dict[str, float] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for k, v in node.items():
            if not isinstance(v, dict):
                continue
            acc = v.get("accuracy")
            if isinstance(acc, (int, float)) and not isinstance(acc, bool):
                out[f"{prefix}.{k}"] = float(acc)
            else:
                walk(v, f"{prefix}.{k}")

    walk(record or {}, "eval")
    return out


def epoch_words(step: int, epochs: int, steps_per_epoch: float) -> str | None:
    """The epoch at ``step``: ``3/10`` (the epoch under way, of ``train.epochs``), or the passes made over the
    training split, ``0.42``, when steps decide; None while the steps of an epoch are not known."""
    if epochs:
        return f"{min(epochs, math.ceil(step / steps_per_epoch)) if steps_per_epoch else 0}/{epochs}"
    return f"{step / steps_per_epoch:.2f}" if steps_per_epoch else None


def progress_words(step: int, total: int, epochs: int, steps_per_epoch: float) -> str:
    """``epoch 3/10 · step 1,234/4,120`` (the epoch part once known; the total once known)."""
    epoch = epoch_words(step, epochs, steps_per_epoch)
    steps = f"step {step:,}/{total:,}" if total else f"step {step:,}"
    return f"epoch {epoch} · {steps}" if epoch else steps


def config_task(cfg: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(name, modality, objective) from a run's saved configuration, None where missing."""

    def get(table: str, key: str) -> str | None:
        body = cfg.get(table)
        value = body.get(key) if isinstance(body, dict) else None
        return str(value) if value is not None else None

    name = cfg.get("name")
    return (str(name) if name else None), get("data", "modality"), get("objective", "name")


@dataclass(frozen=True)
class RunSummary:
    """What one run comes to: its task, state, progress, training time, final metrics and evaluation."""

    id: str
    path: Path
    state: str
    step: int = 0
    total_steps: int = 0
    epochs: int = 0  # train.epochs (0: train.steps decides)
    steps_per_epoch: float = 0.0  # steps of one pass over the training split (0: not known yet)
    name: str | None = None
    modality: str | None = None
    objective: str | None = None
    duration_s: float | None = None  # training time over every attempt (not the time it sat stopped)
    error: str | None = None
    warning: str | None = None  # the worker's status warning: not a failure, but likely unintended
    problem: str | None = None  # why part of the metrics log could not be read (a directory, a line over 8 MB)
    pid: int | None = None
    host: str | None = None
    device: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    world: int = 1
    batch_size: int = 0  # per process
    final: dict[str, float] = field(default_factory=dict)  # the last finite value of every metric
    loss: float | None = None
    min_loss: float | None = None
    evaluation: dict[str, float] = field(default_factory=dict)  # eval.json flattened (eval.linear_probe, ...)
    probe: float | None = None  # eval.json's linear probe, else the newest probe_acc, else knn_acc
    probe_evaluated: bool = False  # whether ``probe`` comes from eval.json

    @property
    def status(self) -> str:
        """The state (the name the JSON outputs give it)."""
        return self.state

    def to_dict(self) -> dict[str, Any]:
        """Plain data; the state under the key ``status``, as every JSON output names it."""
        data = asdict(self)
        data["status"] = str(data.pop("state"))
        data["path"] = str(self.path)
        return data


def probe_of(final: dict[str, float], evaluation: dict[str, float]) -> tuple[float | None, bool]:
    """The probe accuracy to show and whether it comes from ``sslterm eval``."""
    if "eval.linear_probe" in evaluation:
        return evaluation["eval.linear_probe"], True
    return final.get("probe_acc", final.get("knn_acc")), False


def make_summary(run: Run, status: Status, state: str, cfg: dict[str, Any], *, final: dict[str, float],
                 min_loss: float | None, evaluation: dict[str, float], now: float | None = None,
                 problem: str | None = None) -> RunSummary:
    """A summary from what was read of the run (the app reads metrics incrementally, the CLI all at once)."""
    name, modality, objective = config_task(cfg)
    train = cfg.get("train")
    batch = train.get("batch_size") if isinstance(train, dict) else None
    probe, evaluated = probe_of(final, evaluation)
    return RunSummary(
        id=run.id, path=run.path, state=state, step=status.step, total_steps=status.total_steps,
        epochs=status.epochs, steps_per_epoch=status.steps_per_epoch,
        name=name, modality=modality, objective=objective,
        duration_s=training_seconds(run.path, status, state, now), error=status.error, warning=status.warning,
        problem=problem, pid=status.pid,
        host=status.host, device=status.device, created_at=status.created_at, started_at=status.started_at,
        ended_at=status.ended_at, world=status.world, batch_size=batch if isinstance(batch, int) else 0,
        final=final, loss=final.get("loss"), min_loss=min_loss, evaluation=evaluation, probe=probe,
        probe_evaluated=evaluated,
    )


def summarize(run: Run, records: list[dict[str, Any]] | None = None, now: float | None = None) -> RunSummary:
    """Read one run whole (``records``: its metrics, if already read). StatusError if its status is unreadable."""
    status = run.status()
    problem = None
    if records is None:
        tail = run.tail_metrics()
        records, problem = tail.read_all(), tail.problem
    losses = [v for v in (finite(r.get("loss")) for r in records) if v is not None]
    return make_summary(run, status, effective_state(run.path, status), run.config(), final=final_metrics(records),
                        min_loss=min(losses) if losses else None, evaluation=flatten_evaluation(run.evaluation()),
                        now=now, problem=problem)
