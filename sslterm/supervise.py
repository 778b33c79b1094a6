"""Keeps a run's worker alive: ``python -m sslterm.supervise RUN_DIR ATTEMPTS`` (train.auto_resume).

Runs the worker as its child. When the worker dies without recording a final state (killed by
a signal, the machine's OOM killer, a crash of the interpreter), the run is resumed from its last
checkpoint, at most ATTEMPTS times. A worker that finished, stopped, diverged or failed with a
recorded error is left alone: repeating a deterministic error would not help. SIGTERM and SIGINT
are passed on to the worker, so ``sslterm stop`` still ends the run cleanly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from sslterm.store import Run, read_status, write_status
from sslterm.store.status import ACTIVE

FINAL = ("finished", "stopped", "diverged", "failed")


def supervise(run_dir: Path, attempts: int) -> int:
    """Run the worker, resuming it after each unrecorded death; returns the last worker's exit code."""
    run = Run(run_dir)
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    resume_next = False
    while True:
        cmd = [sys.executable, "-m", "sslterm.worker", str(run_dir), *(["--resume"] if resume_next else [])]
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        code = child.wait()
        state = read_status(run_dir).state
        if state in FINAL or stopping:
            return code
        if attempts <= 0 or not (run.checkpoint_dir / "last.pt").is_file():
            print(f"worker died (exit {code}) with no attempts or checkpoint left: the run is lost", flush=True)
            return code
        attempts -= 1
        print(f"\n--- worker died (exit {code}) in state {state}: resuming; {attempts} attempts left ---", flush=True)
        status = read_status(run_dir)
        write_status(run_dir, status.evolve(state="starting", pid=None, resumes=status.resumes + 1,
                                            created_at=time.time()))
        resume_next = True
        if state not in ACTIVE:
            return code


def main() -> None:
    """Entry point of the supervisor process."""
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        print("usage: python -m sslterm.supervise RUN_DIR ATTEMPTS", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(supervise(Path(sys.argv[1]), int(sys.argv[2])))


if __name__ == "__main__":
    main()
