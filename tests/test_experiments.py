"""Every shipped experiment trains a few steps (on tiny data) and logs a finite loss."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from sslterm import catalog, config
from sslterm.store import create_run
from sslterm.train.loop import train
from tests.conftest import EXPERIMENTS

DEVICE = os.environ.get("SSLTERM_TEST_DEVICE", "cpu")


def shrink(path: Path) -> list[str]:
    """Overrides that keep the experiment's choices but make its data and run tiny.

    On the CPU unless ``SSLTERM_TEST_DEVICE`` names another device (benchmarks/gpu_check.sh sets ``cuda``).
    """
    raw = config.read_toml(path)
    data = raw.get("data", {})
    dataset = catalog.get("dataset", data.get("dataset") or catalog.names("dataset", data.get("modality"))[0])
    sets = ["train.steps=2", "train.log_every=1", "train.snapshot_every=1", "train.checkpoint_every=2",
            "train.batch_size=8", "train.warmup_steps=1", "train.threads=1", f"train.device={DEVICE}",
            "eval.every=2", "eval.probe_batch=4", "eval.max_examples=16", "eval.bank_size=32"]
    for key, value in (("num_samples", 48), ("num_eval", 16)):
        param = dataset.param(key)
        if param is not None:
            sets.append(f"data.{key}={max(value, int(param.low or 0))}")
    return sets


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_experiment_trains(path: Path, tmp_path: Path) -> None:
    exp = config.load(path, shrink(path))
    run = create_run(tmp_path, exp.name)
    outcome = train(exp, run, lambda: False, lambda step, device: None)
    assert outcome.step == 2 and not outcome.stopped
    records = run.metrics()
    assert [r["step"] for r in records] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in records)
    assert "rankme" in records[-1]
