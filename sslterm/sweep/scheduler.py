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
trial it had begun to start by the trial's run name, so no trial starts twice.
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

from sslterm.atomic import open_append
from sslterm.store import Run, list_runs
from sslterm.store.states import State, is_active, is_final
from sslterm.sweep.store import (
    CANCELLED,
    DONE,
    FAILED,
    PAUSED,
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


def _metric(run: Run) -> dict[str, Any]:
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
        spec = sweep.spec()
        self.slots = slots_for(int(spec.get("parallel", 0)), gpu_slots())
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

    def tick(self) -> bool:
        """Update and start trials once; True when the scheduler has nothing left to do."""
        with self.sweep.edit() as data:
            trials: list[dict[str, Any]] = data["trials"]
            for t in trials:
                if t["state"] == STARTING:
                    self._recover_starting(t)
                elif t["state"] == RUNNING:
                    self._follow(t, cancelling=data["state"] == CANCELLED)
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
                    if t["state"] == QUEUED and self._start(t, free[0]):
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

    def _start(self, t: dict[str, Any], slot: int) -> bool:
        """Start ``t`` on ``slot``; False (the trial marked failed) when it could not start."""
        from sslterm import config
        from sslterm.launch import launch

        t.update(state=STARTING, slot=slot)
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
                     error=None if ok else status.error or str(state), metric=_metric(run))
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

    def reap(self) -> None:
        """Collect the exit of workers this process started (no zombies that look alive)."""
        for tid, proc in list(self.children.items()):
            if proc.poll() is not None:
                del self.children[tid]


def start(sweep: Sweep) -> subprocess.Popen[bytes]:
    """Start the scheduler of ``sweep`` detached (its own session, output to ``scheduler.log``); returns at once."""
    with open_append(sweep.path / SCHEDULER_LOG) as log:
        return subprocess.Popen([sys.executable, "-m", "sslterm.sweep.scheduler", str(sweep.path)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def main(argv: list[str]) -> int:
    sweep = Sweep(Path(argv[0]))
    if take_scheduler_lock(sweep) is None:
        print(f"another scheduler runs sweep {sweep.id}; this one exits", flush=True)
        return 0
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sched = Scheduler(sweep)
    sched.log(f"scheduler pid {os.getpid()} on sweep {sweep.id}: {len(sched.slots)} slot(s)")
    while not sched.tick():
        sched.reap()
        time.sleep(POLL_SECONDS)
    sched.log(f"sweep {sweep.id}: {sweep.trials()['state']}; scheduler exits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
