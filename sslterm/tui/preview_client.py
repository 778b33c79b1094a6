"""The app's side of the preview server: a child process spoken to in JSON lines, read by a thread.

The app never imports torch, so augmentation previews are computed by ``python -m sslterm.preview``
(see :mod:`sslterm.preview`), started once and kept. Answers arrive on a reader thread and are
handed to a callback; when the child cannot start or exits, another callback gets one line saying
why (with the last line it wrote to stderr).
"""

from __future__ import annotations

import collections
import contextlib
import json
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

from sslterm.subproc import child_env, python_module

COMMAND = tuple(python_module("sslterm.preview"))
CLOSE_SECONDS = 1.0


class PreviewClient:
    """One preview server process: :meth:`start` it, :meth:`send` requests, :meth:`close` it."""

    def __init__(self, on_answer: Callable[[dict[str, Any]], object], on_exit: Callable[[str], object],
                 command: Sequence[str] | None = None) -> None:
        self.on_answer = on_answer
        self.on_exit = on_exit
        self.command = tuple(command) if command is not None else COMMAND
        self.process: subprocess.Popen[str] | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.closing = False
        self.lock = threading.Lock()
        self.stderr_reader: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """Whether the server process is running."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> bool:
        """Start the server and its reader threads; False (after ``on_exit``) when it cannot start."""
        try:
            self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1,
                                            env=child_env())
        except OSError as e:
            self.on_exit(f"preview unavailable: could not start {self.command[0]} ({e.strerror or e})")
            return False
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stderr_reader = threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True,
                                              name="preview-stderr")
        self.stderr_reader.start()
        threading.Thread(target=self._read_answers, args=(self.process.stdout,), daemon=True,
                         name="preview-answers").start()
        return True

    def send(self, request: dict[str, Any]) -> bool:
        """Write one request line; False when the server is gone (its exit is reported by the reader)."""
        process = self.process
        if process is None or process.stdin is None or not self.alive:
            return False
        try:
            with self.lock:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
        except (BrokenPipeError, ValueError):  # ValueError: stdin already closed by close()
            return False
        return True

    def close(self) -> None:
        """Ask the server to finish (end of input), and stop it if it does not within a moment."""
        self.closing = True
        process = self.process
        if process is None:
            return
        if process.stdin is not None:
            with self.lock, contextlib.suppress(BrokenPipeError):  # already gone: nothing left to tell it
                process.stdin.close()
        try:
            process.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _read_answers(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                answer = json.loads(line)
            except json.JSONDecodeError:
                self.stderr_tail.append(f"unreadable answer: {line[:80].strip()}")
                continue
            if isinstance(answer, dict):
                self.on_answer(answer)
        if not self.closing:
            self.on_exit(self._exit_reason())

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            if line.strip():
                self.stderr_tail.append(line.strip())

    def _exit_reason(self) -> str:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        if self.stderr_reader is not None:
            self.stderr_reader.join(timeout=CLOSE_SECONDS)
        last = self.stderr_tail[-1] if self.stderr_tail else "no message"
        status = f"code {code}" if code is not None else "closed its output"
        return f"preview unavailable: the preview process exited ({status}): {last}"
