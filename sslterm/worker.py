"""The training worker process: ``python -m sslterm.worker RUN_DIR``.

Started by the launcher in a new session, so closing the terminal does not reach it. It is the
one writer of its run directory. It records its pid before importing torch, ignores SIGHUP,
turns SIGTERM and SIGINT into a clean stop (final checkpoint, status ``stopped``), beats a
heartbeat from a background thread, and records any error in the status.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

from sslterm import config
from sslterm.store import Run, read_status, write_status
from sslterm.store.status import HEARTBEAT_SECONDS, touch_heartbeat


def _heartbeat(run_dir: Path, done: threading.Event) -> None:
    while not done.is_set():
        with contextlib.suppress(OSError):  # a full disk must not kill training; staleness shows
            touch_heartbeat(run_dir)
        done.wait(HEARTBEAT_SECONDS)


def run_worker(run_dir: Path) -> int:
    """Train the run in ``run_dir`` to the end; returns the process exit code."""
    run = Run(run_dir)
    status = read_status(run_dir).evolve(state="running", pid=os.getpid(), host=socket.gethostname(),
                                         started_at=time.time())
    write_status(run_dir, status)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        print(f"received {signal.Signals(signum).name}: stopping after this step", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    done = threading.Event()
    threading.Thread(target=_heartbeat, args=(run_dir, done), daemon=True).start()

    def progress(step: int, device: str) -> None:
        nonlocal status
        status = status.evolve(step=step, device=device)
        write_status(run_dir, status, durable=False)

    try:
        exp = config.load(run_dir / "config.toml")
        status = status.evolve(total_steps=exp.train.steps)
        from sslterm.train.loop import train  # torch is imported here, after the pid is recorded

        outcome = train(exp, run, stop.is_set, progress)
        state = "stopped" if outcome.stopped else "finished"
        status = status.evolve(state=state, step=outcome.step, ended_at=time.time())
        code = 0
    except Exception as e:  # every failure is recorded in the status, with the traceback in the log
        traceback.print_exc()
        status = status.evolve(state="failed", ended_at=time.time(), error=f"{type(e).__name__}: {e}")
        code = 1
    finally:
        done.set()
    write_status(run_dir, status)
    print(f"run {status.state} at step {status.step}", flush=True)
    return code


def main() -> None:
    """Entry point of the worker process."""
    if len(sys.argv) != 2:
        print("usage: python -m sslterm.worker RUN_DIR", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run_worker(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
