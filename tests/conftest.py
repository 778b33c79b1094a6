"""Shared test helpers: a tiny, fast experiment, a way to run the real CLI, and waiting for a condition."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"

T = TypeVar("T")

# A few seconds on a 2-core CPU: tiny data, a tiny encoder, a handful of steps.
TINY = (
    "data.num_samples=256", "data.num_eval=64", "data.image_size=16",
    "model.width=4", "model.stages=2", "model.projector_hidden=16", "model.projector_dim=8",
    "train.batch_size=16", "train.steps=6", "train.log_every=2", "train.snapshot_every=3",
    "train.checkpoint_every=4", "train.threads=1", "train.warmup_steps=1", "eval.probe_batch=8",
)


def tiny_sets(*extra: str) -> list[str]:
    """``--set`` arguments for the tiny experiment, plus ``extra``."""
    out: list[str] = []
    for kv in (*TINY, *extra):
        out += ["--set", kv]
    return out


def sslterm(*args: str, runs: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``sslterm`` command line in a fresh interpreter."""
    env = dict(os.environ, SSLTERM_RUNS=str(runs), COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "sslterm", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


@pytest.fixture(autouse=True, scope="session")
def _data_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Prepared datasets (sslterm.prepared) go to a temporary directory, never the user's ~/.cache."""
    os.environ["SSLTERM_DATA_CACHE"] = str(tmp_path_factory.mktemp("data-cache"))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """An empty runs root."""
    return tmp_path / "runs"


def prepare_run(runs: Path, *extra: str) -> Path:
    """A run directory for the tiny experiment (plus ``extra`` overrides), created but not started."""
    from sslterm import config
    from sslterm.launch import prepare

    return prepare(config.from_overrides([*TINY, *extra]), runs).path


def start_faulty_worker(run_dir: Path, fault: str, nth: int) -> subprocess.Popen[bytes]:
    """Start the real worker on ``run_dir`` as the launcher does, with ``fault`` at its ``nth`` occasion
    (see tests/faulty_worker.py)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(run_dir / "worker.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "tests.faulty_worker", str(run_dir), fault, str(nth)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env, cwd=ROOT)


def _describe(what: str | Callable[[], str]) -> str:
    return what() if callable(what) else what


def wait_for(predicate: Callable[[], T | None], timeout: float = 60.0, what: str | Callable[[], str] = "the condition",
             interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    ``timeout`` is a generous bound for a loaded machine, never a measurement: a test that needs it
    has failed. ``what`` (or a function giving it, e.g. the worker's log) names what was awaited in
    the failure message.
    """
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {_describe(what)}; last seen: {value!r}")
        time.sleep(interval)
    return value


async def wait_for_async(predicate: Callable[[], T | None], timeout: float = 60.0,
                         what: str | Callable[[], str] = "the condition", interval: float = 0.05) -> T:
    """``wait_for`` inside an event loop (Pilot tests): the app keeps running between polls."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {_describe(what)}; last seen: {value!r}")
        await asyncio.sleep(interval)
    return value


def kill_scheduler_then_resume(sweep: Any, runs: Path, ready: Callable[[], bool],
                               before_resume: Callable[[], None] | None = None) -> None:
    """Once ``ready()``, kill -9 the sweep's scheduler (``sweep``: a ``sslterm.sweep.store.Sweep``), wait for its
    lock to be released, call ``before_resume``, run ``sslterm sweep resume`` and wait until the sweep is done."""
    import signal

    from sslterm.sweep import store as ss

    def log() -> str:
        return (sweep.path / ss.SCHEDULER_LOG).read_text()

    wait_for(ready, timeout=120, what=log)
    os.kill(int((sweep.path / ss.SCHEDULER_LOCK).read_text().split()[0]), signal.SIGKILL)
    wait_for(lambda: not ss.scheduler_running(sweep), timeout=30, what="the scheduler's lock to be released")
    if before_resume is not None:
        before_resume()
    resumed = sslterm("sweep", "resume", sweep.id, runs=runs)
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: sweep.trials()["state"] == "done", timeout=180, what=log)
