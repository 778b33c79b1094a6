"""The sweep scheduler: a torch-free, detached process that starts a sweep's trials as slots free up.

``python -m sslterm.sweep.scheduler SWEEP_DIR``. It holds ``scheduler.lock`` for its whole life (a second
scheduler of the same sweep exits at once), ignores SIGHUP (and runs in its own session, so closing the
terminal never reaches it), and every half second, under the sweep's ``edit.lock``: records the end of
each running trial's run, starts queued trials in queue order on free slots through
:func:`sslterm.launch.launch` (the function behind ``sslterm run``), and exits when nothing is left to do
(or the sweep is paused and nothing runs). A trial that fails to start or whose run fails is marked
failed; the others go on.

Restarted after a kill (``sslterm sweep resume``), it adopts the runs of running trials (their workers hold
their run's lock and go on), resumes a trial whose run was lost from its checkpoint, and finds the run of a
trial it had begun to start by the trial's run name (the trial is saved as ``starting`` before its run is
made), so no trial starts twice.

A search that learns (``--search optuna``, :mod:`sslterm.sweep.search`) asks Optuna for each trial's setting
as a slot frees up, validates it (a setting the catalog refuses is told to Optuna as failed, and the next one
is asked for), reports each running trial's online metric at its logged steps and stops a trial the median
pruner picks through :func:`sslterm.lifecycle.stop` (the trial ends ``pruned``), and tells Optuna each
trial's final metric (a run without it failed).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sslterm.atomic import atomic_write_text, open_append
from sslterm.store import Run, list_runs
from sslterm.store.jsonl import JsonlTail
from sslterm.store.states import State, is_active, is_final
from sslterm.subproc import child_env, python_module
from sslterm.sweep import search as search_mod
from sslterm.sweep.spec import SweepError, SweepSpec, Trial, build_trial
from sslterm.sweep.store import (
    CANCELLED,
    DONE,
    FAILED,
    PAUSED,
    PRUNED,
    QUEUED,
    RUNNING,
    SCHEDULER_LOG,
    STARTING,
    TRIAL_FINAL,
    Sweep,
    take_scheduler_lock,
)

POLL_SECONDS = 0.5
MAX_RESUMES = 1  # a trial whose run is lost is resumed this many times, then marked failed


def gpu_slots(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[str]:
    """The GPUs this machine shows (``CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L``), as device names; [] on a
    CPU machine. Torch-free."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i in range(sum(1 for line in out.splitlines() if line.startswith("GPU ")))]


def slots_for(parallel: int, gpus: list[str]) -> list[str | None]:
    """One slot per GPU by default (``parallel`` 0), else ``parallel`` slots sharing the GPUs round-robin;
    one slot with no GPU on a CPU machine."""
    n = parallel or max(len(gpus), 1)
    return [gpus[i % len(gpus)] if gpus else None for i in range(n)]


def run_of(root: Path, name: str) -> Run | None:
    """The run a trial named ``name`` started (its id holds the name), if it got as far as a status."""
    found = [r for r in list_runs(root) if f"-{name}-" in r.id]
    return found[-1] if found else None


def run_metric(run: Run) -> dict[str, Any]:
    """The run's last loss and probe (and its step), as a trial's ``metric`` shows them."""
    from sslterm.store.summary import summarize

    try:
        s = summarize(run)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in (("loss", s.loss), ("probe", s.probe), ("step", s.step)) if v is not None}


class Scheduler:
    """One pass at a time over a sweep's trial list (``tick``); the process loop is :func:`main`."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.root = sweep.runs_root
        self.record = sweep.spec()
        self.slots = slots_for(int(self.record.get("parallel", 0)), gpu_slots())
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.search: search_mod.Search | None = None
        self.tails: dict[str, tuple[JsonlTail, list[tuple[int, float]]]] = {}   # a running trial's online metric
        spec = SweepSpec.from_dict(self.record["spec"]) if self.record.get("spec", {}).get("search") else None
        if spec is not None:
            from sslterm import config

            steps = config.build(dict(self.record["base"]), source="spec.json").train.steps
            self.search = search_mod.Search(sweep, spec, steps)
            self.orphans_checked = False

    def log(self, line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

    def tick(self) -> bool:
        """Update and start trials once; True when the scheduler has nothing left to do."""
        with self.sweep.edit() as data:
            trials: list[dict[str, Any]] = data["trials"]
            if self.search is not None and not self.orphans_checked:
                for number in self.search.fail_orphans({t["optuna"] for t in trials if t.get("optuna") is not None}):
                    self.log(f"optuna trial {number} was asked for but never started (the scheduler was killed); "
                             "told failed")
                self.orphans_checked = True
            for t in trials:
                if t["state"] == STARTING:
                    self._recover_starting(t)
                elif t["state"] == RUNNING:
                    self._follow(t, cancelling=data["state"] == CANCELLED)
                    if t["state"] == RUNNING and self.search is not None and data["state"] != CANCELLED:
                        self._maybe_prune(t)
            if data["state"] == CANCELLED:
                for t in trials:
                    if t["state"] == QUEUED:
                        t["state"] = CANCELLED
            elif data["state"] != PAUSED:
                data["state"] = RUNNING
                used = {t["slot"] for t in trials if t["state"] == RUNNING}
                free = [i for i in range(len(self.slots)) if i not in used]
                for t in trials:
                    if not free:
                        break
                    if t["state"] == QUEUED and self._start(t, free[0], data):
                        free.pop(0)                             # a trial that could not start leaves its slot free
            running = any(t["state"] == RUNNING for t in trials)
            if all(t["state"] in TRIAL_FINAL for t in trials) and data["state"] != CANCELLED:
                data["state"] = DONE
            return not running and (data["state"] in (DONE, PAUSED, CANCELLED)
                                    or all(t["state"] in TRIAL_FINAL for t in trials))

    def _recover_starting(self, t: dict[str, Any]) -> None:
        run = run_of(self.root, t["name"])
        if run is None:
            t.update(state=QUEUED, slot=None)
        else:
            t.update(state=RUNNING, run_id=run.id)
            self.log(f"{t['id']}: found its run {run.id}")

    def _start(self, t: dict[str, Any], slot: int, data: dict[str, Any]) -> bool:
        """Start ``t`` on ``slot``; False (the trial marked failed) when it could not start."""
        from sslterm import config
        from sslterm.launch import launch

        if self.search is not None and not self._propose(t, data):
            return False
        t.update(state=STARTING, slot=slot)
        self.sweep.save_now(data)                       # killed from here on, a restart finds the run by its name
        path = self.sweep.trial_config(t["id"])
        gpu = self.slots[slot]
        saved = os.environ.get("CUDA_VISIBLE_DEVICES")
        try:
            exp = config.load(path)
            if gpu is not None:
                os.environ["CUDA_VISIBLE_DEVICES"] = gpu            # the worker sees its own GPU only
            run, proc = launch(exp, self.root, source=str(path))
        except (config.ConfigError, OSError, RuntimeError) as e:
            t.update(state=FAILED, slot=None, error=f"could not start: {e}")
            self.log(f"{t['id']}: could not start: {e}")
            return False
        finally:
            if gpu is not None:
                if saved is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = saved
        self.children[t["id"]] = proc
        t.update(state=RUNNING, run_id=run.id)
        self.tails.pop(t["id"], None)
        self.log(f"{t['id']}: started run {run.id} (slot {slot}{f', GPU {gpu}' if gpu is not None else ''})")
        return True

    def _follow(self, t: dict[str, Any], cancelling: bool) -> None:
        from sslterm.lifecycle import LifecycleError, resume, stop

        run = Run(self.root / t["run_id"])
        try:
            state = run.state()
            status = run.status()
        except (OSError, ValueError) as e:
            t.update(state=FAILED, slot=None, error=f"its run cannot be read: {e}")
            return
        if is_final(state):
            ok = state == State.FINISHED
            t.update(state=DONE if ok else CANCELLED if state == State.STOPPED else FAILED, slot=None,
                     error=None if ok else status.error or str(state), metric=run_metric(run))
            if self.search is not None and t.get("optuna") is not None:
                self._tell(t, run, state)
            self.log(f"{t['id']}: run {run.id} {state}")
            return
        if cancelling and is_active(state) and not t.get("stopping"):
            try:
                stop(run)
                t["stopping"] = True
            except LifecycleError as e:
                self.log(f"{t['id']}: could not stop {run.id}: {e}")
            return
        if state == State.LOST:
            if t.get("resumes", 0) >= MAX_RESUMES or cancelling:
                t.update(state=FAILED, slot=None, error="its run was lost (the worker ended without a status)")
                return
            try:
                self.children[t["id"]] = resume(run)
                t["resumes"] = t.get("resumes", 0) + 1
                self.log(f"{t['id']}: run {run.id} was lost; resumed it")
            except (LifecycleError, OSError) as e:
                t.update(state=FAILED, slot=None, error=f"its run was lost and could not resume: {e}")

    def _propose(self, t: dict[str, Any], data: dict[str, Any]) -> bool:
        """Give the queued trial ``t`` its setting from Optuna (once: a trial asked for before a restart keeps
        its setting) and its checked configuration; False (told failed, ``t`` failed) when the catalog refuses it."""
        from sslterm.sweep.search import FAIL

        assert self.search is not None
        if t.get("optuna") is None:
            t["optuna"], t["settings"] = self.search.ask()
            self.sweep.save_now(data)                   # the Optuna trial is named by a sweep trial before anything
        trial = Trial(t["id"], t["settings"], t["seed"])
        try:
            exp = build_trial(self.record["base"], trial, str(self.record.get("source", "spec.json")), t["name"])
        except SweepError as e:
            self.search.tell(t["optuna"], FAIL)
            t.update(state=FAILED, error=f"refused: {e}")
            self.log(f"{t['id']}: optuna trial {t['optuna']} refused: {e}")
            return False
        atomic_write_text(self.sweep.trial_config(t["id"]),
                          exp.to_toml(header=f"Trial {t['id']} of a sweep (optuna trial {t['optuna']}): "
                                             f"{trial.label()}, seed {trial.seed}"))
        return True

    def _maybe_prune(self, t: dict[str, Any]) -> None:
        """Report the running trial's new online metric to Optuna; stop its run if the pruner says so."""
        from sslterm.lifecycle import LifecycleError, stop

        if t.get("optuna") is None or t.get("pruned_at") is not None:
            return
        run = Run(self.root / t["run_id"])
        if not self._report(t, run):
            return
        _, points = self.tails[t["id"]]
        assert self.search is not None
        try:
            stop(run)
        except LifecycleError as e:
            self.log(f"{t['id']}: pruned at step {points[-1][0]} but could not stop {run.id}: {e}")
            return
        t["pruned_at"] = points[-1][0]
        self.log(f"{t['id']}: {self.search.spec.metric} {points[-1][1]:.4g} at step {points[-1][0]} trails the "
                 f"median of the earlier trials; stopping run {run.id} (pruned)")

    def _report(self, t: dict[str, Any], run: Run) -> bool:
        """Report the online metric that the trial's run logged since the last call; whether to prune it."""
        assert self.search is not None
        tail, points = self.tails.setdefault(t["id"], (run.tail_metrics(), []))
        new = search_mod.online(tail.read_all(), self.search.spec.metric)
        points.extend(new)
        return bool(new) and self.search.report(t["optuna"], points)

    def _tell(self, t: dict[str, Any], run: Run, state: str) -> None:
        """Tell Optuna how the ended trial ``t`` went: its final metric, pruned, or failed (a finished run
        without the metric failed). Its online metric is reported first: the median of the earlier trials at
        each step is what prunes the later ones."""
        from sslterm.sweep.search import COMPLETE, FAIL, PRUNE

        assert self.search is not None
        self._report(t, run)
        self.tails.pop(t["id"], None)
        metric = self.search.spec.metric
        if state == State.STOPPED and t.get("pruned_at") is not None:
            t.update(state=PRUNED, error=None)
            self.search.tell(t["optuna"], PRUNE)
            return
        value = search_mod.final_value(run, metric) if state == State.FINISHED else None
        if state == State.FINISHED and value is None:
            t.update(state=FAILED, error=f"the run logged no {metric} (it has: "
                                         f"{', '.join(search_mod.metrics_of(run)) or 'no metrics'})")
        if value is None:
            self.search.tell(t["optuna"], FAIL)
            return
        t["value"] = value
        self.search.tell(t["optuna"], COMPLETE, value)

    def reap(self) -> None:
        """Collect the exit of workers this process started (no zombies that look alive)."""
        for tid, proc in list(self.children.items()):
            if proc.poll() is not None:
                del self.children[tid]


def start(sweep: Sweep) -> subprocess.Popen[bytes]:
    """Start the scheduler of ``sweep`` detached (its own session, output to ``scheduler.log``); returns at once."""
    with open_append(sweep.path / SCHEDULER_LOG) as log:
        return subprocess.Popen(python_module("sslterm.sweep.scheduler", str(sweep.path)),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=child_env(PYTHONUNBUFFERED="1"))


def main(argv: list[str]) -> int:
    sweep = Sweep(Path(argv[0]))
    if sweep.spec().get("slurm"):
        print(f"sweep {sweep.id} runs on SLURM: its queue is SLURM's; no scheduler is needed", flush=True)
        return 0
    if take_scheduler_lock(sweep) is None:
        print(f"another scheduler runs sweep {sweep.id}; this one exits", flush=True)
        return 0
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        sched = Scheduler(sweep)
    except ImportError as e:                            # a search's optuna gone since the sweep was made
        print(f"sweep {sweep.id} cannot go on here: {search_mod.missing() or e}", flush=True)
        return 1
    sched.log(f"scheduler pid {os.getpid()} on sweep {sweep.id}: {len(sched.slots)} slot(s)")
    while not sched.tick():
        sched.reap()
        time.sleep(POLL_SECONDS)
    sched.log(f"sweep {sweep.id}: {sweep.trials()['state']}; scheduler exits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
