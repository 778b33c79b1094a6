"""Fault injection: kill -9 at random moments, corrupted files; every view copes and resume continues."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import sslterm, tiny_sets


def show(runs: Path, run_id: str) -> dict:
    proc = sslterm("show", run_id, "--json", runs=runs)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_moment_then_resume(runs: Path, seed: int) -> None:
    rng = random.Random(seed)
    sets = tiny_sets("train.steps=1500", "train.log_every=1", "train.checkpoint_every=7", "train.snapshot_every=2")
    run_id = sslterm("run", *sets, "-d", runs=runs).stdout.strip()
    deadline = time.time() + 90
    while (rec := show(runs, run_id))["status"] != "running" or rec["pid"] is None:
        assert time.time() < deadline, rec
        time.sleep(0.05)
    time.sleep(rng.uniform(0.2, 3.0))                         # anywhere: start-up, a step, a checkpoint write
    os.kill(rec["pid"], signal.SIGKILL)
    time.sleep(0.3)
    rec = show(runs, run_id)
    assert rec["status"] == "lost", rec                       # 1500 steps take far longer than the wait
    for args in (("ls",), ("ls", "--json"), ("export", run_id), ("export", run_id, "--format", "jsonl")):
        proc = sslterm(*args, runs=runs)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
    resumed = sslterm("resume", run_id, runs=runs, timeout=180)
    if not (runs / run_id / "checkpoints" / "last.pt").exists():
        assert resumed.returncode == 1 and "no checkpoint" in resumed.stderr
        return
    assert resumed.returncode == 0, resumed.stderr
    rec = show(runs, run_id)
    assert rec["status"] == "finished" and rec["step"] == 1500
    assert json.loads((runs / run_id / "status.json").read_text())["resumes"] == 1
    steps = [json.loads(line)["step"] for line in (runs / run_id / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 1501)), "every step logged exactly once: nothing lost, nothing twice"


def test_corrupted_files_get_clear_messages(runs: Path) -> None:
    assert sslterm("run", *tiny_sets("train.steps=3"), runs=runs).returncode == 0
    run_dir = next(runs.iterdir())
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    with open(run_dir / "metrics.jsonl", "ab") as f:
        f.write(b"\x00\x01 garbage\n{\"step\": ")
    assert sslterm("export", run_dir.name, runs=runs).returncode == 0
    proc = sslterm("eval", run_dir.name, runs=runs)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()[-1]) > 0 and "Traceback" not in proc.stderr
    (run_dir / "status.json").write_text("{ not json")
    proc = sslterm("show", run_dir.name, runs=runs)
    assert proc.returncode == 2 and "unreadable status" in proc.stderr
    listing = sslterm("ls", "--json", runs=runs)
    assert listing.returncode == 0 and json.loads(listing.stdout)[0]["status"] == "unreadable"
