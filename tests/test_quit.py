"""Quitting ends the app's process at once, even while a thread worker's read of the runs root hangs."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from sslterm.tui.threads import DaemonThreads
from tests.conftest import wait_for

HUNG_SCAN = """
import sys, threading
from pathlib import Path
from sslterm.tui import scanner
from sslterm.tui.app import make_app

started = threading.Event()

def hung_scan(self):
    started.set()
    threading.Event().wait()  # a read that never returns, as on a hung network filesystem
    return []

scanner.RunsScanner.scan = hung_scan

async def press_q_during_the_scan(pilot):
    while not started.is_set():
        await pilot.pause(0.01)
    await pilot.press("q")
    print("q pressed during the scan", flush=True)

app = make_app(Path(sys.argv[1]))
app.run(headless=True, size=(80, 24), auto_pilot=press_q_during_the_scan)
print(f"app returned {app.return_code}", flush=True)
"""


def test_q_ends_the_process_while_a_thread_worker_is_blocked(tmp_path: Path) -> None:
    # before: asyncio.run joined the worker's thread on the way out, and the process lived as long as the read
    proc = subprocess.run([sys.executable, "-c", HUNG_SCAN, str(tmp_path / "runs")], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[1])
    said = (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert proc.returncode == 0 and proc.stdout.splitlines() == ["q pressed during the scan", "app returned 0"], said
    assert "Traceback" not in proc.stderr, said


def test_daemon_threads_hand_on_results_and_errors_and_never_wait_at_shutdown() -> None:
    threads = DaemonThreads()
    assert threads.submit(pow, 2, 10).result(timeout=30) == 1024
    error = threads.submit(int, "x").exception(timeout=30)
    assert isinstance(error, ValueError)
    release = threading.Event()
    blocked = threads.submit(release.wait)
    threads.shutdown(wait=True)  # returns although a call is still under way
    assert not blocked.done()
    release.set()
    wait_for(blocked.done, timeout=30, what="the blocked call to end once released")
