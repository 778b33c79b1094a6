"""What the faces do to sweeps (``sslterm sweep``/``queue`` and the app): create and start one, pause, resume,
cancel, move a trial up. Torch-free and typer-free; a refusal is a :class:`ControlError` (one line, exit code)."""

from __future__ import annotations

import re
import secrets
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sslterm import config
from sslterm.sweep import slurm_jobs
from sslterm.sweep import store as ss
from sslterm.sweep.spec import SweepSpec, Trial, build_all, check_space, expand


class ControlError(Exception):
    """An action the sweep's state refuses: ``str(e)`` is the one line to show, ``code`` the CLI's exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def sweep_name(text: str) -> str:
    """A name for the trials' runs that the run store keeps as it is (their ids contain it) and a random tag."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:20] or "sweep"
    return f"{slug}-{secrets.token_hex(2)}"


def plan(base: dict[str, Any], spec: SweepSpec, source: str, name: str) -> tuple[list[Trial], list[config.Experiment]]:
    """Every trial of ``spec`` over the raw experiment ``base`` and its validated experiment (SweepError, one line,
    naming the first refused trial and key)."""
    seed = base.get("seed", 0)
    trials = expand(spec, seed if isinstance(seed, int) and not isinstance(seed, bool) else 0)
    if spec.search:                             # settings chosen as each starts: the space's edges checked now
        check_space(base, spec, source, name, trials[0].seed)
    return trials, build_all(base, trials, source, name)


def create(root: Path, name: str, source: str, base: dict[str, Any], spec: SweepSpec, trials: list[Trial],
           exps: list[config.Experiment], parallel: int = 0, slurm: bool = False) -> ss.Sweep:
    """The sweep directory of ``trials`` (all queued), their configurations written; nothing started."""
    record = {"name": name, "source": source, "base": base, "spec": spec.to_dict(), "parallel": parallel,
              "slurm": slurm}
    entries = [{"id": t.id, "name": f"{name}-{t.id}", "settings": t.settings, "seed": t.seed} for t in trials]
    configs = {t.id: e.to_toml(header=f"Trial {t.id} of a sweep: {t.label()}, seed {t.seed}")
               for t, e in zip(trials, exps, strict=True)}
    return ss.create_sweep(root, name, record, entries, configs)


def start_scheduler(sweep: ss.Sweep) -> None:
    """Start the sweep's detached scheduler; a thread collects its exit, so a long-lived caller keeps no zombie."""
    from sslterm.sweep.scheduler import start

    proc: subprocess.Popen[bytes] = start(sweep)
    threading.Thread(target=proc.wait, name=f"reap-scheduler-{proc.pid}", daemon=True).start()


def launch_sweep(root: Path, base: dict[str, Any], spec: SweepSpec, source: str, name: str,
                 parallel: int = 0) -> tuple[ss.Sweep, int]:
    """Check every trial, create the sweep and start its scheduler, as ``sslterm sweep FILE`` does; the sweep
    and its number of trials. SweepError (a refused trial) or OSError (the sweep directory) before anything runs."""
    full = sweep_name(name)
    trials, exps = plan(base, spec, source, full)
    sweep = create(root, full, source, base, spec, trials, exps, parallel)
    start_scheduler(sweep)
    return sweep, len(trials)


def _on_slurm(sweep: ss.Sweep, act: Callable[[], str]) -> str:
    """A SLURM sweep's action (:mod:`sslterm.sweep.slurm_jobs`: SLURM is its queue), its refusal as ControlError."""
    from sslterm.sweep.slurm_jobs import SlurmError

    try:
        return act()
    except SlurmError as e:
        raise ControlError(f"sweep {sweep.id}: {e}") from None


def pause(sweep: ss.Sweep) -> str:
    """Hold the queue: running trials go on, no new one starts."""
    if slurm_jobs.is_slurm(sweep):
        return _on_slurm(sweep, lambda: slurm_jobs.hold(sweep, release=False))
    with sweep.edit() as data:
        if data["state"] in (ss.DONE, ss.CANCELLED):
            raise ControlError(f"sweep {sweep.id} is {data['state']}; nothing to pause")
        data["state"] = ss.PAUSED
    return f"sweep {sweep.id} paused: running trials go on, no new one starts"


def resume(sweep: ss.Sweep) -> str:
    """Let the queue go on (starting the scheduler if none runs)."""
    if slurm_jobs.is_slurm(sweep):
        return _on_slurm(sweep, lambda: slurm_jobs.hold(sweep, release=True))
    with sweep.edit() as data:
        if data["state"] == ss.CANCELLED:
            raise ControlError(f"sweep {sweep.id} was cancelled; start a new sweep")
        if data["state"] == ss.DONE:
            return f"sweep {sweep.id} is done: every trial has ended; nothing to resume"
        data["state"] = ss.RUNNING
    return f"sweep {sweep.id} resumed" + _ensure_scheduler(sweep)


def cancel(sweep: ss.Sweep) -> str:
    """Queued trials never start; the scheduler stops the running ones cleanly."""
    if slurm_jobs.is_slurm(sweep):
        return _on_slurm(sweep, lambda: slurm_jobs.cancel(sweep))
    with sweep.edit() as data:
        data["state"] = ss.CANCELLED
    return f"sweep {sweep.id} cancelled: queued trials will not start, running ones are stopped" + _ensure_scheduler(
        sweep)


def _ensure_scheduler(sweep: ss.Sweep) -> str:
    if ss.scheduler_running(sweep):
        return ""
    start_scheduler(sweep)
    return " (scheduler started)"


def move_top(sweep: ss.Sweep, trial: str) -> str:
    """Put the queued ``trial`` first among the queued ones: it starts next."""
    if slurm_jobs.is_slurm(sweep):
        raise ControlError(f"sweep {sweep.id} runs on SLURM, whose queue orders its jobs: `scontrol top JOBID` "
                           "(see `sslterm queue` for the trial's job)")
    with sweep.edit() as data:
        trials: list[dict[str, Any]] = data["trials"]
        found = [t for t in trials if t["id"] == trial]
        if not found:
            raise ControlError(f"sweep {sweep.id} has no trial {trial!r}; its trials are "
                               f"{trials[0]['id']}…{trials[-1]['id']}" if trials else f"sweep {sweep.id} has no trials",
                               code=2)
        if found[0]["state"] != ss.QUEUED:
            raise ControlError(f"trial {trial} is {found[0]['state']}; only a queued trial can move up")
        trials.remove(found[0])
        first = next((i for i, t in enumerate(trials) if t["state"] == ss.QUEUED), len(trials))
        trials.insert(first, found[0])
    return f"trial {trial} of sweep {sweep.id} is next in the queue"
