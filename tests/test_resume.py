"""Checkpoints and exact resume, divergence, and the worker's failure messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from sslterm import config
from sslterm.store import create_run
from sslterm.store.jsonl import truncate_after
from sslterm.train.checkpoint import load_checkpoint
from sslterm.train.loop import Diverged, train
from sslterm.worker import describe_failure
from tests.conftest import TINY, sslterm, tiny_sets, wait_for

STEADY = ("t", "time", "samples_per_s")   # wall-clock fields differ between runs by nature


def exp(*extra: str) -> config.Experiment:
    return config.from_overrides([*TINY, "train.steps=12", "eval.every=4", "eval.max_examples=32",
                                  "eval.bank_size=64", "train.checkpoint_every=100", *extra])


def steady(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in STEADY} for r in records]


@pytest.mark.parametrize("stop_at", [5, 8])
def test_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, stop_at: int) -> None:
    whole = create_run(tmp_path, "whole")
    train(exp(), whole, lambda: False, lambda s, d: None)
    parted = create_run(tmp_path, "parted")
    calls: list[int] = []
    out = train(exp(), parted, lambda: calls.append(1) or len(calls) >= stop_at, lambda s, d: None)
    assert out.stopped and out.step == stop_at                      # should_stop is asked after each step
    assert load_checkpoint(parted.checkpoint_dir / "last.pt")["step"] == out.step
    with open(parted.metrics_path, "ab") as f:            # a record the checkpoint does not cover
        f.write(b'{"step": 999, "loss": 1.0}\n{"step": 1000, "lo')
    out2 = train(exp(), parted, lambda: False, lambda s, d: None, resume=True)
    assert out2.step == 12 and not out2.stopped
    a, b = load_checkpoint(whole.checkpoint_dir / "last.pt"), load_checkpoint(parted.checkpoint_dir / "last.pt")
    for key in a["model"]:
        assert torch.allclose(a["model"][key].float(), b["model"][key].float(), atol=1e-6), key
    assert steady(parted.metrics()) == steady(whole.metrics()), "same records, none twice, none lost"
    snaps = [json.loads(line)["step"] for line in parted.snapshots_path.read_text().splitlines()]
    assert snaps == sorted(set(snaps))


def test_nan_loss_is_diverged_and_keeps_the_last_good_checkpoint(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from sslterm.objectives import infonce

    real, calls = infonce.info_nce, []

    def poisoned(z1: torch.Tensor, z2: torch.Tensor, t: float, *args: Any, **kw: Any) -> tuple[torch.Tensor, ...]:
        calls.append(1)
        loss, acc = real(z1, z2, t, *args, **kw)
        return (loss * float("nan"), acc) if len(calls) > 5 else (loss, acc)

    monkeypatch.setattr(infonce, "info_nce", poisoned)
    run = create_run(tmp_path, "nan")
    with pytest.raises(Diverged, match="loss became nan by step 6"):
        train(exp("train.checkpoint_every=4", "train.log_every=3", "eval.every=0"), run, lambda: False,
              lambda s, d: None)
    ckpt = load_checkpoint(run.checkpoint_dir / "last.pt")
    assert ckpt["step"] == 4, "the checkpoint at step 4 is the last good one"
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_truncate_after_keeps_only_covered_records(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"step":1}\n{"step":2}\n{"step":3}\n{"step":4, "x"')
    assert truncate_after(path, 2) == 1
    assert path.read_bytes() == b'{"step":1}\n{"step":2}\n'
    assert truncate_after(tmp_path / "missing.jsonl", 3) == 0


def test_out_of_memory_message_names_the_batch_size() -> None:
    msg = describe_failure(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), 512)
    assert "train.batch_size = 512" in msg and "--set train.batch_size=256" in msg
    assert describe_failure(ValueError("bad"), 8) == "ValueError: bad"


def show(runs: Path, run_id: str) -> dict:
    return json.loads(sslterm("show", run_id, "--json", runs=runs).stdout)


def test_resume_command_continues_a_stopped_run(runs: Path) -> None:
    run_id = sslterm("run", *tiny_sets("train.steps=400", "train.log_every=1"), "-d", runs=runs).stdout.strip()
    wait_for(lambda: show(runs, run_id)["step"] >= 2, what="step 2")
    assert sslterm("stop", run_id, runs=runs).returncode == 0
    stopped = wait_for(lambda: r if (r := show(runs, run_id))["status"] == "stopped" else None, what="the stop")
    end = stopped["step"] + 20  # on a little past the stop, not all 400 steps (the suite's time)
    proc = sslterm("resume", run_id, "--steps", str(end), runs=runs, timeout=180)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(sslterm("show", run_id, "--json", runs=runs).stdout)
    assert rec["status"] == "finished" and rec["step"] == end
    steps = [r["step"] for r in map(json.loads, (runs / run_id / "metrics.jsonl").read_text().splitlines())]
    assert steps == sorted(set(steps)) and steps[-1] == end, "no step logged twice"
    again = sslterm("resume", run_id, runs=runs)
    assert again.returncode == 1 and "already finished" in again.stderr


def test_auto_resume_restarts_a_killed_worker(runs: Path) -> None:
    import os
    import signal

    sets = tiny_sets("train.steps=300", "train.log_every=1", "train.checkpoint_every=5", "train.auto_resume=2")
    run_id = sslterm("run", *sets, "-d", runs=runs).stdout.strip()
    rec = wait_for(lambda: r if (r := show(runs, run_id))["step"] >= 10 and r["status"] == "running" else None,
                   timeout=90, what="step 10")
    os.kill(rec["pid"], signal.SIGKILL)
    rec = wait_for(lambda: r if (r := show(runs, run_id))["status"] in ("finished", "failed", "lost") else None,
                   timeout=180, what="the restarted run to end")
    assert rec["status"] == "finished" and rec["step"] == 300
    steps = [r["step"] for r in map(json.loads, (runs / run_id / "metrics.jsonl").read_text().splitlines())]
    assert steps == sorted(set(steps)), "the steps after the last checkpoint are logged once"
    status = json.loads((runs / run_id / "status.json").read_text())
    assert status["resumes"] == 1
