"""Follow a run from the terminal that started it: a rich progress bar until the run ends."""

from __future__ import annotations

import signal
import subprocess
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sslterm.store import Run, State
from sslterm.store.states import is_active

EXIT_CODES: dict[str, int] = {State.FINISHED: 0, State.STOPPED: 130}


def follow(run: Run, proc: subprocess.Popen[bytes], poll: float = 0.5) -> int:
    """Show progress until the worker ends; Ctrl-C asks it to stop cleanly. Returns an exit code."""
    console = Console(stderr=True)
    console.print(f"run [bold]{run.id}[/] in {run.path}")
    tail = run.tail_metrics()
    last: dict[str, float] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn())
    interrupted = False
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("training", total=run.status().total_steps or None, loss="-")
        while True:
            try:
                for rec in tail.read():
                    last = rec
                status = run.status()
                loss = last.get("loss")
                bar.update(task, completed=status.step, total=status.total_steps or None,
                           description=status.state, loss=f"{loss:.4f}" if isinstance(loss, float) else "-")
                if proc.poll() is not None or (not is_active(status.state) and status.ended_at):
                    proc.wait()
                    break
                time.sleep(poll)
            except KeyboardInterrupt:
                if interrupted:
                    console.print("left the run going; `sslterm stop` ends it")
                    return 130
                interrupted = True
                console.print("stopping (a final checkpoint first); Ctrl-C again to leave it running")
                proc.send_signal(signal.SIGTERM)
    state = run.state()
    status = run.status()
    if status.error:
        console.print(f"[red]{state}[/]: {status.error}  (log: {run.log_path})")
    else:
        console.print(f"{state} at step {status.step}; `sslterm show {run.id}` for details")
    return EXIT_CODES.get(state, 1)
