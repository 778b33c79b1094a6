"""Lists the runs and sweeps under a root for the runs browser, reading only what changed since the last scan."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sslterm.store import JsonlTail, Run, StatusError, list_runs
from sslterm.store.summary import RunSummary, final_metrics, flatten_evaluation, make_summary
from sslterm.sweep import store as sweeps
from sslterm.tui.annotations import Annotations, read_annotations


@dataclass(frozen=True)
class RunRow(RunSummary):
    """One line of the runs list: the run's summary, its star, tags and notes; "-" where the task is unknown."""

    name: str = "-"
    modality: str = "-"
    objective: str = "-"
    starred: bool = False
    tags: tuple[str, ...] = ()
    notes: str = ""

    @property
    def total(self) -> int:
        return self.total_steps

    @property
    def duration(self) -> int | None:
        """Whole seconds of training (to the end for a run that ended)."""
        return None if self.duration_s is None else int(self.duration_s)

    def haystack(self) -> str:
        """What the filter searches, lower-cased: id, name, modality, objective, state and tags."""
        return " ".join((self.id, self.name, self.modality, self.objective, self.state, *self.tags)).lower()


@dataclass(frozen=True)
class _DirInfo:
    """What is read again only when the run directory's modification time changes."""

    mtime_ns: int
    annotations: Annotations
    evaluation: dict[str, float]  # eval.json flattened


SUMMARY_FIELDS = tuple(f.name for f in fields(RunSummary))


@dataclass(frozen=True)
class SweepGroup:
    """One sweep in the runs list: its progress (from ``trials.json``) and its trials' runs."""

    id: str
    name: str
    state: str  # the sweep's: queued, running, paused, cancelled, done; "unreadable" with ``error``
    total: int = 0
    counts: tuple[tuple[str, int], ...] = ()  # (trial state, how many), in the order of the trial states
    run_ids: tuple[str, ...] = ()  # the trials' runs, in queue order
    labels: tuple[tuple[str, str], ...] = ()  # (run id, "t004 0.1 seed 1"): the trial and its setting
    keys: tuple[str, ...] = ()  # the swept keys
    error: str = ""

    @property
    def row_key(self) -> str:
        """The sweep's key among the runs table's rows (never a run id: those have no ``/``)."""
        return f"sweep/{self.id}"

    def count(self, state: str) -> int:
        return dict(self.counts).get(state, 0)

    def haystack(self) -> str:
        """What the filter searches in the sweep itself, lower-cased: its id, name and state."""
        return " ".join((self.id, self.name, self.state, "sweep")).lower()


TRIAL_STATES = (sweeps.DONE, sweeps.RUNNING, sweeps.STARTING, sweeps.QUEUED, sweeps.FAILED, sweeps.CANCELLED)


def trial_label(trial: dict[str, Any]) -> str:
    """``t004 0.1, 3e-3 seed 1``: a trial's id, its setting's values and its seed."""
    values = ", ".join(_short(v) for v in (trial.get("settings") or {}).values())
    return " ".join(str(x) for x in (trial.get("id", "?"), values, f"seed {trial.get('seed', '?')}") if x != "")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value) if not isinstance(value, str) else value


def read_sweep(sweep: sweeps.Sweep) -> SweepGroup:
    """A sweep's group row, from its spec and trial list; an unreadable one says why in ``error``."""
    try:
        data, spec = sweep.trials(), sweep.spec()
        trials: list[dict[str, Any]] = list(data["trials"])
        state = str(data["state"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        return SweepGroup(sweep.id, sweep.id, "unreadable", error=f"cannot read {sweep.path / sweeps.TRIALS}: {e}")
    counts = {s: 0 for s in TRIAL_STATES}
    for t in trials:
        counts[t.get("state", "?")] = counts.get(t.get("state", "?"), 0) + 1
    keys = dict.fromkeys(k for t in trials for k in (t.get("settings") or {}))
    with_runs = [t for t in trials if t.get("run_id")]
    return SweepGroup(sweep.id, str(spec.get("name") or sweep.id), state, len(trials),
                      tuple((s, n) for s, n in counts.items() if n), tuple(str(t["run_id"]) for t in with_runs),
                      tuple((str(t["run_id"]), trial_label(t)) for t in with_runs), tuple(keys))


def scan_sweeps(root: Path) -> list[SweepGroup]:
    """Every sweep under ``root`` as a group of the runs list, newest first."""
    return [read_sweep(s) for s in reversed(sweeps.list_sweeps(root))]


def swept_keys(root: Path, run_ids: list[str]) -> list[str]:
    """The keys the sweeps under ``root`` swept for these runs (none when no run is a trial of a sweep)."""
    wanted = set(run_ids)
    keys: dict[str, None] = {}
    for group in scan_sweeps(root):
        if wanted.intersection(group.run_ids):
            keys.update(dict.fromkeys(group.keys))
    return list(keys)


class RunsScanner:
    """Lists the runs under a root with their state, last loss and probe accuracy, reading only new bytes."""

    TAIL_START = 64 << 10  # a run seen for the first time is read from this far before its end

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tails: dict[str, JsonlTail] = {}
        self._final: dict[str, dict[str, float]] = {}
        self._config: dict[str, dict[str, Any]] = {}
        self._dirs: dict[str, _DirInfo] = {}

    def scan(self) -> list[RunRow]:
        """The runs now under the root, newest first."""
        rows, now = [], time.time()
        for run in reversed(list_runs(self.root)):
            try:
                status, state = run.status(), run.state()
            except StatusError as e:                    # listed, as `sslterm ls` does, with the one line why
                rows.append(RunRow(id=run.id, path=run.path, state="unreadable", error=str(e)))
                continue
            final = dict(self._tail(run))
            info = self._dir_info(run)
            summary = make_summary(run, status, state, self._config_of(run), final=final, min_loss=None,
                                   evaluation=info.evaluation, now=now)
            fields = {k: getattr(summary, k) for k in SUMMARY_FIELDS}
            fields.update({k: fields[k] or "-" for k in ("name", "modality", "objective")})
            rows.append(RunRow(**fields, starred=info.annotations.starred, tags=info.annotations.tags,
                               notes=info.annotations.notes))
        return rows

    def forget(self, run_id: str) -> None:
        """Read the run's star, tags, notes and evaluation again at the next scan (after the app wrote them)."""
        self._dirs.pop(run_id, None)

    def _config_of(self, run: Run) -> dict[str, Any]:
        if run.id not in self._config:
            cfg = run.config()
            self._config[run.id] = {k: cfg[k] for k in ("name", "data", "objective", "train") if k in cfg}
        return self._config[run.id]

    def _dir_info(self, run: Run) -> _DirInfo:
        try:
            mtime = os.stat(run.path).st_mtime_ns
        except OSError:
            mtime = -1
        info = self._dirs.get(run.id)
        if info is None or info.mtime_ns != mtime:
            evaluation = flatten_evaluation(run.evaluation())
            info = self._dirs[run.id] = _DirInfo(mtime, read_annotations(run.path), evaluation)
        return info

    def _tail(self, run: Run) -> dict[str, float]:
        """The newest finite value of every metric, from the records read so far (the last 64 KiB at first)."""
        tail = self._tails.get(run.id)
        if tail is None:
            tail = self._tails[run.id] = run.tail_metrics()
            tail.offset = _line_start_near_end(run.metrics_path, self.TAIL_START)
        before = tail.offset
        records = tail.read_all()
        if tail.offset < before:  # the log was cut back (a resume) and read again from its start
            self._final.pop(run.id, None)
        final = self._final.setdefault(run.id, {})
        final.update(final_metrics(records))
        return final


def _line_start_near_end(path: Path, nbytes: int) -> int:
    """The offset of the first line that starts in the last ``nbytes`` of a file (0 if it is short)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= nbytes:
                return 0
            f.seek(size - nbytes)
            chunk = f.read(nbytes)
    except OSError:
        return 0
    cut = chunk.find(b"\n")
    return size - nbytes + cut + 1 if cut >= 0 else size
