"""The real `sslterm` binary in tmux at 80×24: keys sent with send-keys, the screen read with capture-pane."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.frozen_runs import frozen_runs

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One tmux server on its own socket, holding one 80×24 pane."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.socket, self.env = socket, env

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env,
                              timeout=10, check=True)
        return done.stdout

    def screen(self, escapes: bool = False) -> str:
        return self("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "app")

    def wait(self, *words: str, gone: str = "", timeout: float = 20.0) -> str:
        """The screen once it shows all ``words`` (and not ``gone``); fails with the screen after ``timeout`` s."""

        def shown() -> str:
            text = self.screen()
            return text if all(w in text for w in words) and not (gone and gone in text) else ""

        return wait_for(shown, timeout=timeout, interval=0.1,
                        what=lambda: f"{words} (without {gone!r}); the screen:\n{self.screen()}")

    def pane(self, fmt: str) -> str:
        return self("display-message", "-p", "-t", "app", fmt).strip()


def proc_state(pid: int) -> str:
    """The kernel's state letter for ``pid`` (R, S, D, Z: ended, waiting for its parent to reap it...), or "?"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "?"


def stuck(tmux: Tmux, pid: int) -> str:
    """Where an app that did not end is: its threads (name, kernel wait), then every thread's Python stack,
    printed by faulthandler into the pane when SIGABRT ends it."""
    task = Path(f"/proc/{pid}/task")
    threads = []
    for t in sorted(task.iterdir()) if task.exists() else ():
        try:
            threads.append(f"{(t / 'comm').read_text().strip()} ({(t / 'wchan').read_text().strip() or 'running'})")
        except OSError:
            continue  # ended meanwhile
    if not threads:
        return f"pid {pid} is gone; the screen:\n{tmux.screen()}"
    state = proc_state(pid)
    if state == "Z":
        return f"pid {pid} has ended but tmux has not reaped it (a zombie); the screen:\n{tmux.screen()}"
    tmux("resize-window", "-t", "app", "-x", "250")  # room for a stack's lines (the app draws with no wrap)
    os.kill(pid, signal.SIGABRT)
    try:
        wait_for(lambda: tmux.pane("#{pane_dead}") == "1", timeout=10, interval=0.1, what="SIGABRT to end it")
    finally:
        pane = tmux("capture-pane", "-p", "-S", "-200", "-t", "app")
    return f"pid {pid} alive (state {state}) with threads {', '.join(threads)}; its stacks:\n{pane}"


def test_the_binary_in_tmux_browses_opens_helps_and_quits(tmp_path: Path) -> None:
    ids = frozen_runs(tmp_path / "runs")
    (tmp_path / "tmux.conf").write_text("set -g remain-on-exit on\n")  # keep the pane to read how the app ended
    sockets = tempfile.mkdtemp(prefix="tmx")  # short: a socket's path has a length limit
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "TMUX", "NO_COLOR", "SSLTERM_THEME",
                                                             "TEXTUAL_COLOR_SYSTEM", "SSH_CONNECTION")}
    env["PYTHONFAULTHANDLER"] = "1"  # a stuck app says where it is when stuck() aborts it
    tmux = Tmux("sslterm-test", dict(env, TMUX_TMPDIR=sockets))
    sslterm = str(Path(sys.executable).with_name("sslterm"))
    try:
        tmux("-f", str(tmp_path / "tmux.conf"), "new-session", "-d", "-s", "app", "-x", "80", "-y", "24",
             "-c", str(tmp_path), sslterm, "--runs-dir", "runs")
        shown = [i.split("-", 2)[2] for i in ids]  # at 80 columns the ids go without their date and time
        tmux.wait("runs in runs · 2 runs", *shown, "finished", "Quit")  # the table and its footer
        colours = tmux.screen(escapes=True)
        assert "38;5;" in colours and "38;2;" not in colours  # no COLORTERM: 256 colours, not truecolor

        tmux("send-keys", "-t", "app", "/simclr")  # one burst, as fast typing or a paste arrives
        screen = tmux.wait("filter “simclr”: 2 shown")
        assert "nothing to stop" not in screen and "Stop run" not in screen  # the s was text, not a command
        tmux("send-keys", "-t", "app", "Escape")
        tmux.wait("runs in runs · 2 runs", "Quit", gone="filter")

        tmux("send-keys", "-t", "app", "Enter")
        tmux.wait(ids[1], "● finished", "step 2,000/2,000", "Back")  # the newest run's dashboard

        tmux("send-keys", "-t", "app", "?")
        tmux.wait("this help", "back to the runs list", "esc closes")
        tmux("send-keys", "-t", "app", "q")
        tmux.wait("step 2,000/2,000", gone="esc closes")

        tmux("send-keys", "-t", "app", "q")
        tmux.wait("runs in runs", "Quit", gone="step 2,000/2,000")
        tmux("send-keys", "-t", "app", "q")
        ended = "#{pane_dead} #{pane_dead_status}#{pane_dead_signal}"  # tmux may see the end before the status
        pid, server = tmux.pane("#{pane_pid}"), int(tmux.pane("#{pid}"))

        def dead() -> bool:
            if proc_state(int(pid)) == "Z":  # ended, and tmux missed its SIGCHLD (seen once in CI): remind our server
                os.kill(server, signal.SIGCHLD)
            return tmux.pane(ended) not in ("0", "1")

        wait_for(dead, timeout=20, interval=0.1, what=lambda: f"the app to end: {stuck(tmux, int(pid))}")
        assert tmux.pane(ended) == "1 0", f"pid {pid} alive: {Path(f'/proc/{pid}').exists()}"  # ended cleanly
    finally:
        subprocess.run(["tmux", "-L", tmux.socket, "kill-server"], capture_output=True, env=tmux.env, check=False)
        shutil.rmtree(sockets, ignore_errors=True)
